// Load a generated dhcpd.leases of 100 000 leases into the dhcp_isc provider's in-memory view
// (targets: under 1 s, under 200 MB RSS). The load runs in a fresh child process so its RSS is
// not inflated by generating the fixture. Baseline in the same run, also in a fresh child:
// reading the same file and counting its lines (the I/O and decoding floor).
// Run: npm run bench -- dhcp-leases-load   (LEASES=n to change the size)

import { readFile, stat } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, removeDir } from '../test/lib/procs.ts';
import { writeFixtures } from './dhcp-fixtures.ts';
import { IscProvider } from '../src/modules/dhcp/providers/dhcp_isc/provider.ts';

const COUNT = Number(process.env.LEASES ?? 100_000);
const silent = { debug() {}, info() {}, warn() {}, error() {}, withRequest() { return silent; }, child() { return silent; } };

async function child(mode: string, conf: string, leases: string): Promise<void> {
  let peak = process.memoryUsage().rss;
  const rss0 = peak;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  const t = performance.now();
  const cpu0 = process.cpuUsage();
  let n = 0;
  if (mode === 'baseline') {
    const text = await readFile(leases, 'utf8');
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  } else {
    const p = new IscProvider({
      config: conf, leases, server: '127.0.0.1', omapiPort: 7911, omapiTimeoutMs: 1000, holdSeconds: 1800,
      pingFreeIp: false, resolveA: async () => undefined, log: silent, pollMs: 0,
    });
    await p.start();
    const [subnet] = await p.subnets();
    n = (await p.subnetRecords(subnet)).leases.length;
    await p.close();
  }
  const ms = performance.now() - t;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, n, rss0: rss0 / 1e6, peak: peak / 1e6 }));
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5]);
} else {
  const dir = await tempDir('spisc-bench');
  try {
    const conf = join(dir, 'dhcpd.conf');
    const leases = join(dir, 'dhcpd.leases');
    await writeFixtures(conf, leases, COUNT, '10.0.0.0', '255.0.0.0');
    const size = (await stat(leases)).size;
    const self = fileURLToPath(import.meta.url);
    const run = (mode: string, flags: string[] = []) => {
      const r = spawnSync(process.execPath, [...flags, self, '--child', mode, conf, leases], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').pop()!) as { ms: number; cpuMs: number; n: number; rss0: number; peak: number };
    };
    const base = run('baseline');
    const load = run('load');
    // Most of the RSS above the retained data is V8's young generation, which V8 grows while
    // much of what it allocates survives (every kept lease passes through it); the same load
    // with a capped semi-space shows the data's real footprint. Flags are the core's to set.
    const capped = run('load', ['--max-semi-space-size=4']);
    console.log(`leases file: ${COUNT} leases, ${(size / 1e6).toFixed(1)} MB; load average ${loadavg()[0].toFixed(1)}`);
    console.log(`baseline (read whole file + count lines): ${base.ms.toFixed(0)} ms wall, ${base.cpuMs.toFixed(0)} ms CPU, peak RSS ${base.peak.toFixed(0)} MB`);
    console.log(`dhcp_isc full load: ${load.ms.toFixed(0)} ms wall, ${load.cpuMs.toFixed(0)} ms CPU (all threads, GC included) for ${load.n} leases (target < 1000 ms), RSS ${load.rss0.toFixed(0)} MB at start, peak ${load.peak.toFixed(0)} MB (target < 200 MB)`);
    console.log(`same load with --max-semi-space-size=4: ${capped.ms.toFixed(0)} ms wall, ${capped.cpuMs.toFixed(0)} ms CPU, peak RSS ${capped.peak.toFixed(0)} MB`);
  } finally {
    await removeDir(dir);
  }
}
