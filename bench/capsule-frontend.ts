// The capsule front end under the two loads the reference's Apache handled badly or that a relay
// must survive, each with its baseline measured in the same run:
//
// 1. A 1 GiB content file (sparse, so the disk is not what is measured) through /pulp/isos to a
//    stand-in for Pulp's content app on a unix socket (the production layout), downloaded with
//    curl: straight from the origin (baseline), through a raw TCP-to-socket pipe in its own Node
//    process (the floor for any relay in an extra process on this machine), and through the
//    proxy (its own process). BENCH_RUNS (5) runs of each, alternating; medians of MiB/s and of the
//    CPU seconds per GiB of the origin (this process), the relay and curl (the same client for
//    every target); the load average during the runs; the proxy's peak RSS (VmHWM).
// 2. 1000 concurrent subscription-manager calls (`GET /rhsm/consumers/<uuid>`, HTTPS with a host
//    certificate, each host from its own loopback address) through the proxy's client listener to
//    a stand-in Katello that takes 2 s per call and requires the proxy's client certificate;
//    baseline: the same calls straight to the stand-in. Statuses counted: zero 502s required.
//
// Run: npm run bench -- capsule-frontend   (BENCH_CONTENT_MB, BENCH_RUNS, BENCH_HOSTS, BENCH_KATELLO_MS to vary;
// BENCH_PARTS=content or rhsm for one of the two)

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeSettingsDir } from '../src/core/testing.ts';
import { makePki } from '../test/lib/certs.ts';
import { freeTcpPort, removeDir, tempDir } from '../test/lib/procs.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../test/lib/proxy-process.ts';
import { startStandInForeman } from '../test/lib/standin-foreman.ts';
import { startContentOrigin } from '../test/capsule/content-origin.ts';

const run = promisify(execFile);
const CONTENT_MB = Number(process.env.BENCH_CONTENT_MB ?? 1024);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 1000);
const KATELLO_MS = Number(process.env.BENCH_KATELLO_MS ?? 2000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** `content`, `rhsm` or both (default). */
const PARTS = (process.env.BENCH_PARTS ?? 'content,rhsm').split(',');
const problems: string[] = [];

function procStatusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far. */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Download {
  mbps: number;
  bytes: number;
  seconds: number;
  /** CPU seconds of curl itself. */
  clientCpu: number;
}

/** One download with curl (the same client for every target), timed, with curl's own CPU time. */
async function curl(args: string[]): Promise<Download> {
  const out = (
    await run('/usr/bin/time', ['-f', 'cpu %U %S', 'curl', '-s', '-o', '/dev/null', '-w', 'curl %{speed_download} %{size_download} %{http_code} %{time_total}\\n', ...args], {
      maxBuffer: 1 << 20,
    }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))
  );
  const [, speed, size, code, total] = /curl (\S+) (\S+) (\S+) (\S+)/.exec(out.stdout) ?? [];
  const [, user, sys] = /cpu (\S+) (\S+)/.exec(out.stderr) ?? [];
  if (code !== '200') throw new Error(`curl ${args.join(' ')}: HTTP ${code}: ${out.stderr}`);
  return { mbps: Number(speed) / 1024 / 1024, bytes: Number(size), seconds: Number(total), clientCpu: Number(user) + Number(sys) };
}

/** A raw byte pipe TCP → unix socket in its own Node process: what any relay costs at least. */
async function startPipe(socketPath: string, port: number): Promise<ChildProcess> {
  const code = `const net=require('net');net.createServer(c=>{const u=net.connect(${JSON.stringify(socketPath)});c.pipe(u);u.pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy());}).listen(${port},'127.0.0.1',()=>console.log('ready'))`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve) => child.stdout?.once('data', resolve));
  return child;
}

const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;

async function contentBench(): Promise<void> {
  const dir = await tempDir('bench-capsule');
  let proxy: ProxyProcess | undefined;
  let pipe: ChildProcess | undefined;
  const origin = await (async () => {
    await mkdir(join(dir, 'origin/content/big'), { recursive: true });
    const file = join(dir, 'origin/content/big/large.iso');
    await writeFile(file, '');
    await truncate(file, CONTENT_MB * 1024 * 1024);
    return startContentOrigin(join(dir, 'origin'), join(dir, 'content.sock'));
  })();
  try {
    await writeSettingsDir(
      join(dir, 'settings'),
      {
        bind_host: ['127.0.0.1'],
        foreman_url: 'http://127.0.0.1:1',
        log_file: join(dir, 'proxy.log'),
        log_level: 'ERROR',
        listeners: [{ name: 'clients', scheme: 'http', bind: ['127.0.0.1'], port: 0, audience: 'client' }],
      },
      { capsule: { ':enabled': true, ':pulp_content_url': origin.url, ':pub_dir': join(dir, 'pub') } },
    );
    proxy = await startProxyProcess(['--settings', join(dir, 'settings')]);
    const rssIdle = procStatusMb(proxy.pid, 'VmRSS');
    const pipePort = await freeTcpPort();
    pipe = await startPipe(join(dir, 'content.sock'), pipePort);
    const port = portOf(proxy, 'clients');
    const size = CONTENT_MB * 1024 * 1024;
    const targets = {
      direct: { args: ['--unix-socket', join(dir, 'content.sock'), 'http://localhost/pulp/content/big/large.iso'], relayPid: undefined },
      pipe: { args: [`http://127.0.0.1:${pipePort}/pulp/content/big/large.iso`], relayPid: pipe.pid },
      frontend: { args: [`http://127.0.0.1:${port}/pulp/isos/big/large.iso`], relayPid: proxy.pid },
    };
    type Target = keyof typeof targets;
    interface Sample extends Download {
      originCpu: number;
      relayCpu: number;
    }
    const samples: Record<Target, Sample[]> = { direct: [], pipe: [], frontend: [] };
    const loads: number[] = [];
    // warm the page cache, then alternate so that load from elsewhere hits all three alike
    await curl(targets.direct.args);
    for (let i = 0; i < RUNS; i++) {
      for (const k of Object.keys(targets) as Target[]) {
        const { args, relayPid } = targets[k];
        const originBefore = process.cpuUsage();
        const relayBefore = relayPid === undefined ? 0 : procCpuSeconds(relayPid);
        const r = await curl(args);
        const originUsed = process.cpuUsage(originBefore);
        if (r.bytes !== size) problems.push(`${k}: ${r.bytes} of ${size} bytes`);
        samples[k].push({
          ...r,
          // the origin runs in this process (curl's wait costs next to nothing)
          originCpu: (originUsed.user + originUsed.system) / 1e6,
          relayCpu: relayPid === undefined ? 0 : procCpuSeconds(relayPid) - relayBefore,
        });
      }
      loads.push(loadavg()[0]);
    }
    const peak = procStatusMb(proxy.pid, 'VmHWM');
    const direct = median(samples.direct.map((s) => s.mbps));
    const labels: Record<Target, string> = {
      direct: 'origin direct, unix socket (baseline)',
      pipe: 'raw byte pipe in a Node process (floor of any relay)',
      frontend: 'capsule front end /pulp/isos',
    };
    // CPU seconds per GiB moved: unlike MiB/s, hardly affected by what else the machine runs
    const perGib = (xs: Sample[], f: (s: Sample) => number): string => median(xs.map((s) => (f(s) * 1024) / CONTENT_MB)).toFixed(2);
    const share = (xs: Sample[], f: (s: Sample) => number): string => pct(median(xs.map((s) => f(s) / s.seconds)));
    console.log(`\n${CONTENT_MB} MiB content file through the front end (curl for every target, ${RUNS} runs each, alternating; medians)`);
    console.table(
      (Object.keys(targets) as Target[]).map((k) => {
        const mbps = median(samples[k].map((s) => s.mbps));
        return {
          run: labels[k],
          'MiB/s': mbps.toFixed(0),
          'of direct': pct(mbps / direct),
          'origin CPU s/GiB': perGib(samples[k], (s) => s.originCpu),
          'relay CPU s/GiB': k === 'direct' ? '-' : perGib(samples[k], (s) => s.relayCpu),
          'relay % of a core': k === 'direct' ? '-' : share(samples[k], (s) => s.relayCpu),
          'curl CPU s/GiB': perGib(samples[k], (s) => s.clientCpu),
        };
      }),
    );
    console.log(`load average (1 min) during the runs: ${loads.map((l) => l.toFixed(1)).join(', ')} on ${cpus().length} cores`);
    console.log(`all runs MiB/s: ${JSON.stringify(Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map((s) => Math.round(s.mbps))])))}`);
    console.log(`proxy RSS idle ${rssIdle.toFixed(0)} MiB, peak (VmHWM) ${peak.toFixed(0)} MiB`);
    const frontend = median(samples.frontend.map((s) => s.mbps));
    if (frontend < 0.9 * direct) problems.push(`content throughput ${pct(frontend / direct)} of direct (< 90 %)`);
    if (peak > 256) problems.push(`content: proxy peak RSS ${peak.toFixed(0)} MiB > 256 MiB`);
  } finally {
    pipe?.kill();
    await proxy?.stop();
    await origin.close();
    await removeDir(dir);
  }
}

interface StormResult {
  label: string;
  statuses: Map<string, number>;
  latencies: number[];
  seconds: number;
  katelloMaxInFlight: number;
  rssPeak?: number;
}

/** HOSTS concurrent HTTPS calls, each from its own loopback address with the given certificate. */
async function storm(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<Omit<StormResult, 'label' | 'katelloMaxInFlight'>> {
  const statuses = new Map<string, number>();
  const latencies: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: HOSTS }, (_, i) => {
      const started = performance.now();
      return new Promise<void>((resolve) => {
        const done = (key: string): void => {
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          latencies.push(performance.now() - started);
          resolve();
        };
        const req = httpsRequest(
          url,
          { ...tls, agent: false, localAddress: `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`, timeout: 180_000, headers: { accept: 'application/json', 'user-agent': 'RHSM/1.0 (cmd=rhsmcertd-worker)' } },
          (res) => {
            res.resume();
            res.on('end', () => done(String(res.statusCode)));
            res.on('error', (e) => done(`error: ${e.message}`));
          },
        );
        req.on('timeout', () => req.destroy(new Error('client timeout (180 s, as subscription-manager)')));
        req.on('error', (e) => done(`error: ${e.message}`));
        req.end();
      });
    }),
  );
  return { statuses, latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - t0) / 1000 };
}

async function rhsmBench(): Promise<void> {
  const dir = await tempDir('bench-rhsm');
  const pki = await makePki(dir);
  const host = await pki.client('4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b');
  const capsuleCert = await pki.client('capsule.example.com');
  const body = JSON.stringify({ uuid: '4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b', name: 'host.example.com', entitlementStatus: 'valid' });
  // Calls Katello is working on: from the request's arrival to the moment the answer is written
  // (the stand-in's own count runs until the socket closes, a little after the proxy has the answer).
  let working = 0;
  let maxWorking = 0;
  const katello = await startStandInForeman(() => {
    working++;
    maxWorking = Math.max(maxWorking, working);
    setTimeout(() => working--, KATELLO_MS);
    return { status: 200, headers: { 'content-type': 'application/json' }, body, delayMs: KATELLO_MS };
  }, {
    cert: pki.serverCert,
    key: pki.serverKey,
    clientCa: pki.caCert,
  });
  const ca = readFileSync(pki.caCert);
  const results: StormResult[] = [];
  const reset = (): void => {
    katello.requests.length = 0;
    maxWorking = 0;
  };
  let proxy: ProxyProcess | undefined;
  try {
    reset();
    const direct = await storm(`${katello.origin}/rhsm/consumers/4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b`, {
      ca,
      cert: readFileSync(capsuleCert.cert),
      key: readFileSync(capsuleCert.key),
    });
    results.push({ label: 'stand-in Katello direct (baseline)', ...direct, katelloMaxInFlight: maxWorking });

    await writeSettingsDir(
      join(dir, 'settings'),
      {
        bind_host: ['127.0.0.1'],
        ssl_certificate: pki.serverCert,
        ssl_private_key: pki.serverKey,
        ssl_ca_file: pki.caCert,
        foreman_url: katello.origin,
        foreman_ssl_ca: pki.caCert,
        foreman_ssl_cert: capsuleCert.cert,
        foreman_ssl_key: capsuleCert.key,
        log_file: join(dir, 'proxy.log'),
        log_level: 'ERROR',
        listeners: [{ name: 'clients', scheme: 'https', bind: ['127.0.0.1'], port: 0, audience: 'client', client_cert: 'request' }],
      },
      { capsule: { ':enabled': true, ':pulp_content_url': 'unix:/nonexistent.sock', ':pub_dir': join(dir, 'pub') } },
    );
    proxy = await startProxyProcess(['--settings', join(dir, 'settings')]);
    const port = portOf(proxy, 'clients');
    reset();
    const pid = proxy.pid;
    let rssPeak = procStatusMb(pid, 'VmRSS');
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, procStatusMb(pid, 'VmRSS'))), 100);
    const through = await storm(`https://127.0.0.1:${port}/rhsm/consumers/4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b`, {
      ca,
      cert: readFileSync(host.cert),
      key: readFileSync(host.key),
    });
    clearInterval(sampler);
    results.push({ label: 'through the front end (rhsm cap 128, timeout 180 s)', ...through, katelloMaxInFlight: maxWorking, rssPeak });
    const sample = katello.requests[0];
    if (sample?.clientCn !== 'capsule.example.com') problems.push(`Katello saw client certificate ${sample?.clientCn}, not the proxy's`);
    if (String(sample?.headers['x-rhsm-ssl-client-cert'] ?? '').startsWith('-----BEGIN CERTIFICATE----- ') !== true) problems.push('X-RHSM-SSL-Client-Cert missing');
  } finally {
    await proxy?.stop();
    await katello.close();
    await removeDir(dir);
  }

  console.log(`\n${HOSTS} concurrent GET /rhsm/consumers/<uuid> over HTTPS with a host certificate, stand-in Katello answering in ${KATELLO_MS} ms`);
  console.table(
    results.map((r) => ({
      run: r.label,
      statuses: [...r.statuses.entries()].map(([k, v]) => `${k}: ${v}`).join(', '),
      'p50 s': (r.latencies[Math.floor(r.latencies.length / 2)] / 1000).toFixed(2),
      'p99 s': (r.latencies[Math.floor(r.latencies.length * 0.99)] / 1000).toFixed(2),
      'max s': (r.latencies[r.latencies.length - 1] / 1000).toFixed(2),
      'wall s': r.seconds.toFixed(2),
      'Katello max in flight': r.katelloMaxInFlight,
      'proxy RSS peak MiB': r.rssPeak === undefined ? '-' : r.rssPeak.toFixed(0),
    })),
  );
  const through = results[1];
  const bad = [...through.statuses.entries()].filter(([k]) => k !== '200');
  if ((through.statuses.get('502') ?? 0) > 0) problems.push(`rhsm: ${through.statuses.get('502')} answers were 502`);
  if (bad.length > 0) problems.push(`rhsm: not all 200 (${bad.map(([k, v]) => `${k}: ${v}`).join(', ')})`);
  if (through.katelloMaxInFlight > 128) problems.push(`rhsm: Katello saw ${through.katelloMaxInFlight} at once (cap 128)`);
}

if (PARTS.includes('content')) await contentBench();
if (PARTS.includes('rhsm')) await rhsmBench();
if (problems.length > 0) {
  console.log(`\nFAILED: ${problems.join('; ')}`);
  process.exitCode = 1;
} else {
  console.log('\nOK: content at >= 90 % of direct with bounded RSS; every /rhsm call answered 200, none 502');
}
