// Start-up time and idle memory of the whole proxy with most modules enabled (logs, dns, dhcp with
// a small ISC configuration, tftp, httpboot, templates, registration, facts, bmc), as a child
// process: time from spawn to the readiness line, and RSS after a second of idling.
//
// With BASELINE_TREE=<dir of another checkout> (e.g. a `git worktree` of an older commit, with
// node_modules), the same settings are started from that tree too, alternating A B A B, so the
// two are compared in the same run on the same machine. A directory holding a bundled build
// (`npm run build -- DIR`: smart-proxy.mjs) is started from that build; BENCH_TREE replaces this
// tree, so two builds can be compared. BENCH_ONLY=a,b passes `--only a,b`.
// Run: npm run bench -- startup-memory

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, removeDir } from '../test/lib/procs.ts';
import { writeSettingsDir } from '../src/core/testing.ts';

const RUNS = Number(process.env.BENCH_ROUNDS ?? 7);
const IDLE_MS = 1000;
const here = fileURLToPath(new URL('..', import.meta.url));
const trees: [string, string][] = [['this tree', process.env.BENCH_TREE ?? here]];
if (process.env.BASELINE_TREE) trees.push(['baseline', process.env.BASELINE_TREE]);

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function once(tree: string, settingsDir: string): Promise<{ readyMs: number; rss: number }> {
  const t0 = process.hrtime.bigint();
  const only = process.env.BENCH_ONLY ? ['--only', process.env.BENCH_ONLY] : [];
  const bundled = join(tree, 'smart-proxy.mjs');
  const entry = existsSync(bundled) ? bundled : join(tree, 'src/main.ts');
  const child = spawn(process.execPath, [entry, '--settings', settingsDir, ...only], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // the compile cache is per tree and warm after the first run, as on a real host
    env: { ...process.env, SMART_PROXY_PRINT_READY: '1' },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const readyMs = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('{"ready"')) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    child.once('exit', (code) => reject(new Error(`proxy exited with ${code}: ${err}`)));
  });
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const rss = rssMb(child.pid as number);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { readyMs, rss };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = await tempDir('sp-bench-start');
  try {
    await mkdir(join(dir, 'tftpboot'));
    await writeFile(join(dir, 'dhcpd.conf'), 'subnet 192.0.2.0 netmask 255.255.255.0 { range 192.0.2.100 192.0.2.200; }\n');
    await writeFile(join(dir, 'dhcpd.leases'), '');
    await writeFile(join(dir, 'autosign.conf'), '');
    await writeSettingsDir(dir, { http_port: 0, bind_host: ['127.0.0.1'], log_file: join(dir, 'proxy.log'), foreman_url: 'http://127.0.0.1:1' }, {
      logs: { ':enabled': true },
      dns: { ':enabled': true },
      dhcp: { ':enabled': true, ':ping_free_ip': false },
      dhcp_isc: { ':config': join(dir, 'dhcpd.conf'), ':leases': join(dir, 'dhcpd.leases') },
      tftp: { ':enabled': true, ':tftproot': join(dir, 'tftpboot') },
      httpboot: { ':enabled': true, ':root_dir': join(dir, 'tftpboot') },
      templates: { ':enabled': true, ':template_url': 'http://127.0.0.1:8000' },
      registration: { ':enabled': true },
      facts: { ':enabled': true },
      bmc: { ':enabled': true },
    });
    const results = new Map<string, { ready: number[]; rss: number[] }>(trees.map(([name]) => [name, { ready: [], rss: [] }]));
    for (const [, tree] of trees) await once(tree, dir); // warm the compile caches and the page cache
    for (let i = 0; i < RUNS; i++) {
      for (const [name, tree] of trees) {
        const r = await once(tree, dir);
        results.get(name)?.ready.push(r.readyMs);
        results.get(name)?.rss.push(r.rss);
      }
    }
    console.log(`start-up with 10 modules enabled, ${RUNS} runs each, alternating; medians (min–max)`);
    for (const [name, r] of results) {
      const span = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
      console.log(`  ${name.padEnd(10)} time to ready ${span(r.ready)} ms, idle RSS ${span(r.rss)} MB`);
    }
  } finally {
    await removeDir(dir);
  }
}

await main();
