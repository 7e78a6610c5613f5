// Remote execution, push mode: one job over N hosts (default 4000) against real loopback sshd
// daemons (16 daemons × 16 addresses in 127.10.0.0/16), each host running a tiny script, at
// concurrency C (default 100). Compares, in the same run and against the same daemons:
//   proxy    — the whole proxy process (dynflow engine + script module in ssh mode), launched over
//              HTTPS like Foreman does, callbacks to a stand-in Foreman (bench/lib/rex-proxy-push.ts)
//   runner   — the proxy's SSH runner alone: src/lib/ssh/runner.ts (ssh2, in process, one
//              connection per host), called directly by a driver process
//   openssh  — the reference's way: one OpenSSH process tree per host (ControlMaster + ~13
//              `ssh`/`ssh-keygen` processes, bench/lib/rex-openssh.ts)
// Each variant runs in its own process; reported: wall time, CPU time per host of the
// driver (plus its reaped children for openssh), peak RSS of the driver and all its descendants
// (sampled from /proc every 200 ms), and, for context, the sshd side's CPU per host.
//
// Run: npm run bench -- rex-push   or   node bench/rex-push.ts [--hosts N] [--concurrency C]
//      [--only proxy,runner,openssh] [--daemons D] [--addresses A] [--key ed25519|rsa] [--json FILE]
//      [--node-flags=--max-semi-space-size=8]  (node flags for the measured processes: the proxy and
//      the drivers; with --expose-gc a driver also reports its live heap after forced GCs)

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { removeDir, tempDir } from '../test/lib/procs.ts';
import { startSshTargets, type SshEndpoint, type SshTargets } from './lib/rex-sshd.ts';
import { addMeasuredNodeFlags, ownPeakRssMb, pool, reapedChildrenCpuSeconds, sampleOwnMemory, sampleTreeRss, type MemoryPeaks } from './lib/rex-measure.ts';
import { runOpenSshHost } from './lib/rex-openssh.ts';
import { runProxyPush } from './lib/rex-proxy-push.ts';
import { genericText } from './lib/rex-foreman.ts';
import type { ProxyProcess } from '../test/lib/proxy-process.ts';
import type { SshRunner, SshRunnerOptions } from '../src/lib/ssh/types.ts';
import { MemoryKnownHostsStore } from '../src/lib/ssh/known-hosts.ts';

const SCRIPT = '#!/bin/sh\necho hello $HOSTNAME\nexit 0\n';
const RUNNER_MODULE = fileURLToPath(new URL('../src/lib/ssh/runner.ts', import.meta.url));
const VARIANTS = ['proxy', 'runner', 'openssh'] as const;
const ENGINE_MODULES = ['../src/modules/dynflow/engine.ts', '../src/modules/script/operation.ts', '../src/lib/ssh/runner.ts'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
type Variant = (typeof VARIANTS)[number];

/** What the orchestrator hands a driver process (a JSON file). */
interface DriverSpec {
  variant: Variant;
  hosts: number;
  concurrency: number;
  endpoints: SshEndpoint[];
  user: string;
  keyFile: string;
  remoteDir: string;
  socketDir: string;
  knownHostsFile: string;
}

/** What a driver prints as its last stdout line. */
interface DriverResult {
  variant: Variant;
  how: string;
  wallMs: number;
  ok: number;
  failed: number;
  firstError?: string;
  /** Failed hosts by kind of failure. */
  failureKinds: Record<string, number>;
  sampleOutput: string;
  cpuSelfS: number;
  cpuChildrenS: number;
  processesStarted: number;
  ownPeakRssMb: number;
  /** Peaks of process.memoryUsage() sampled in the driver (MB): where the RSS went. */
  memPeaks?: MemoryPeaks;
}

interface Row extends DriverResult {
  /** proxy variant: RSS after start-up, before the job. */
  idleRssMb?: number;
  peakTreeRssMb: number;
  processesAtPeak: number;
  maxProcesses: number;
  sshdCpuS: number;
}

// ---------------------------------------------------------------------------------------------
// driver side

/** Counts a driver collects while its hosts run. */
type Counts = Pick<DriverResult, 'how' | 'ok' | 'failed' | 'firstError' | 'failureKinds' | 'sampleOutput' | 'processesStarted'>;

function newCounts(how: string): Counts {
  return { how, ok: 0, failed: 0, failureKinds: {}, sampleOutput: '', processesStarted: 0 };
}

/** Hosts finished so far in this driver (progress lines). */
let finishedHosts = 0;

function record(counts: Counts, exitStatus: number | 'EXCEPTION', output: string, error: string): void {
  finishedHosts++;
  if (exitStatus === 0 && output.includes('hello')) {
    counts.ok++;
    if (!counts.sampleOutput) counts.sampleOutput = output.trim();
  } else {
    counts.failed++;
    const text = (error || output).trim();
    counts.firstError ??= `exit ${exitStatus}: ${text.slice(0, 600)}`;
    // failures by kind: the last line, with addresses, ports, ids and paths made generic
    const kind = `exit ${exitStatus}: ${genericText(text.split('\n').pop() ?? '')}`;
    counts.failureKinds[kind] = (counts.failureKinds[kind] ?? 0) + 1;
  }
}

/** Set up the runner (module loading excluded from the measurement); the returned function runs the job. */
async function prepareRunner(spec: DriverSpec): Promise<() => Promise<Counts>> {
  if (!existsSync(RUNNER_MODULE)) throw new Error(`${RUNNER_MODULE} does not exist yet`);
  const mod = (await import(RUNNER_MODULE)) as { createSshRunner(opts: SshRunnerOptions): SshRunner };
  const privateKey = await readFile(spec.keyFile, 'utf8');
  const runner = mod.createSshRunner({
    maxConcurrentHosts: spec.concurrency,
    maxQueued: spec.hosts + 1,
    connectTimeoutMs: 30_000,
    keepaliveIntervalMs: 15_000,
    keepaliveCountMax: 3,
    killGraceMs: 5_000,
    knownHosts: new MemoryKnownHostsStore(),
    hostKeyPolicy: 'accept-new',
  });
  return async () => {
    const counts = newCounts(`createSshRunner directly (all ${spec.hosts} hosts submitted at once; its bulkhead runs ${spec.concurrency} at a time)`);
    try {
      await Promise.all(
        Array.from({ length: spec.hosts }, async (_, i) => {
          const ep = spec.endpoints[i % spec.endpoints.length];
          let output = '';
          let debug = '';
          const r = await runner.run(
            { host: ep.host, port: ep.port, user: spec.user },
            { privateKey },
            {
              script: SCRIPT,
              effectiveUserMethod: 'sudo',
              remoteWorkingDir: spec.remoteDir,
              cleanup: true,
              signal: new AbortController().signal,
              onOutput: (type, text) => {
                if (type === 'debug') debug += text;
                else output += text;
              },
            },
          );
          record(counts, r.exitStatus, output, debug);
        }),
      );
    } finally {
      await runner.close();
    }
    return counts;
  };
}

function prepareOpenSsh(spec: DriverSpec): () => Promise<Counts> {
  return async () => {
    const counts = newCounts(`one OpenSSH process tree per host, ${spec.concurrency} hosts at once`);
    await pool(spec.hosts, spec.concurrency, async (i) => {
      const ep = spec.endpoints[i % spec.endpoints.length];
      const r = await runOpenSshHost(ep.host, ep.port, {
        user: spec.user,
        keyFile: spec.keyFile,
        knownHostsFile: spec.knownHostsFile,
        socketDir: spec.socketDir,
        remoteWorkingDir: spec.remoteDir,
        script: SCRIPT,
        connectTimeoutMs: 30_000,
      });
      counts.processesStarted += r.processes;
      record(counts, r.exitStatus, r.stdout, r.error ?? '');
    });
    return counts;
  };
}

/** The driver's memory now, for progress lines: RSS growth over time tells a leak from a plateau. */
function memoryLine(): string {
  const m = process.memoryUsage();
  const mb = (n: number): string => (n / 1048576).toFixed(0);
  return `; rss ${mb(m.rss)} MB (heap ${mb(m.heapUsed)}/${mb(m.heapTotal)}, external ${mb(m.external)}, arrayBuffers ${mb(m.arrayBuffers)})`;
}

async function driver(specFile: string): Promise<void> {
  const spec = JSON.parse(await readFile(specFile, 'utf8')) as DriverSpec;
  const job = spec.variant === 'runner' ? await prepareRunner(spec) : prepareOpenSsh(spec);
  // CPU and time from here on: module loading and setup are excluded for both
  const cpu0 = process.cpuUsage();
  const children0 = reapedChildrenCpuSeconds();
  const t0 = performance.now();
  const memory = sampleOwnMemory(100);
  const progress = setInterval(() => process.stderr.write(`  ${spec.variant}: ${finishedHosts}/${spec.hosts} hosts done after ${((performance.now() - t0) / 1000).toFixed(0)} s${memoryLine()}\n`), 10_000);
  const counts = await job().finally(() => clearInterval(progress));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const result: DriverResult = {
    variant: spec.variant,
    ...counts,
    wallMs,
    cpuSelfS: (cpu.user + cpu.system) / 1e6,
    cpuChildrenS: reapedChildrenCpuSeconds() - children0,
    ownPeakRssMb: ownPeakRssMb(),
    memPeaks: memory.stop(),
  };
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// orchestrator side

let activeDriver: ReturnType<typeof spawn> | undefined;
let activeProxy: ProxyProcess | undefined;

async function runVariant(spec: DriverSpec, dir: string, targets: SshTargets): Promise<Row> {
  const specFile = join(dir, `spec-${spec.variant}.json`);
  await writeFile(specFile, JSON.stringify(spec));
  const sshd0 = targets.cpuSeconds();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--driver', specFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  activeDriver = child;
  const sampler = sampleTreeRss(child.pid as number);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const [code] = (await once(child, 'exit')) as [number | null];
  activeDriver = undefined;
  const mem = sampler.stop();
  const last = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`${spec.variant} driver exited with ${code}: ${stdout.slice(-2000)}`);
  const r = JSON.parse(last) as DriverResult;
  return { ...r, peakTreeRssMb: mem.peakMb, processesAtPeak: mem.processesAtPeak, maxProcesses: mem.maxProcesses, sshdCpuS: targets.cpuSeconds() - sshd0 };
}

function printTable(rows: Row[], hosts: number): void {
  const fmt = (n: number, d = 1): string => n.toFixed(d);
  console.log('\n| variant | ok/failed | wall s | hosts/s | driver CPU ms/host (self + children) | peak RSS MB (tree, processes) | sshd CPU ms/host |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const cpuMs = ((r.cpuSelfS + r.cpuChildrenS) * 1000) / hosts;
    console.log(
      `| ${r.variant} | ${r.ok}/${r.failed} | ${fmt(r.wallMs / 1000)} | ${fmt(hosts / (r.wallMs / 1000))} | ${fmt(cpuMs, 2)} (${fmt((r.cpuSelfS * 1000) / hosts, 2)} + ${fmt((r.cpuChildrenS * 1000) / hosts, 2)}) | ${fmt(r.peakTreeRssMb)} (${r.processesAtPeak}, max ${r.maxProcesses}) | ${fmt((r.sshdCpuS * 1000) / hosts, 2)} |`,
    );
  }
  for (const r of rows) {
    const own = r.idleRssMb !== undefined ? `idle RSS before the job ${fmt(r.idleRssMb)} MB` : `driver's own peak RSS ${fmt(r.ownPeakRssMb)} MB`;
    console.log(`  ${r.variant}: ${r.how}; ${own}; ${r.processesStarted ? `${r.processesStarted} processes started; ` : ''}sample output ${JSON.stringify(r.sampleOutput)}${r.firstError ? `; first error: ${r.firstError}` : ''}`);
    if (r.memPeaks) {
      const m = r.memPeaks;
      console.log(`    memoryUsage peaks (MB, each its own): rss ${m.rss}, heapTotal ${m.heapTotal}, heapUsed ${m.heapUsed}, external ${m.external}, arrayBuffers ${m.arrayBuffers}${m.liveHeapAfterGc !== undefined ? `, live heap after forced GC ${m.liveHeapAfterGc}` : ''} (${m.samples} samples)`);
    }
    const kinds = Object.entries(r.failureKinds ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 5);
    for (const [kind, n] of kinds) console.log(`    ${n} × ${kind}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '4000' },
      concurrency: { type: 'string', default: '100' },
      daemons: { type: 'string', default: '16' },
      addresses: { type: 'string', default: '16' },
      only: { type: 'string' },
      key: { type: 'string', default: 'ed25519' },
      json: { type: 'string' },
      'node-flags': { type: 'string', default: '' },
    },
  });
  addMeasuredNodeFlags(values['node-flags']);
  const hosts = Number(values.hosts);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(hosts) || hosts < 1) throw new Error(`--hosts must be a positive integer, got ${values.hosts}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);
  if (values.key !== 'ed25519' && values.key !== 'rsa') throw new Error(`--key must be ed25519 or rsa, got ${values.key}`);
  const variants = values.only ? values.only.split(',') : [...VARIANTS];
  for (const v of variants) if (!VARIANTS.includes(v as Variant)) throw new Error(`--only: unknown variant '${v}' (runner, openssh)`);

  const dir = await tempDir('rex-push');
  let targets: SshTargets | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      activeDriver?.kill('SIGKILL');
      activeProxy?.child.kill('SIGKILL');
      await targets?.stop();
      await removeDir(dir);
    })());
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    targets = await startSshTargets({ dir, daemons: Number(values.daemons), addressesPerDaemon: Number(values.addresses), keyType: values.key });
    const socketDir = join(dir, 'sockets');
    await mkdir(socketDir);
    console.log(`${hosts} hosts over ${targets.endpoints.length} sshd endpoints (${targets.daemons.length} daemons), concurrency ${concurrency}, ${values.key} key, script ${JSON.stringify(SCRIPT)}`);
    const rows: Row[] = [];
    for (const variant of variants as Variant[]) {
      if (variant === 'runner' && !existsSync(RUNNER_MODULE)) {
        console.log(`runner: skipped, ${RUNNER_MODULE} does not exist yet`);
        continue;
      }
      if (variant === 'proxy') {
        const missing = ENGINE_MODULES.filter((m) => !existsSync(m));
        if (missing.length > 0) {
          console.log(`proxy: skipped, missing ${missing.join(', ')}`);
          continue;
        }
        console.log('running proxy …');
        try {
          const sshd0 = targets.cpuSeconds();
          const r = await runProxyPush({
            dir,
            hosts,
            concurrency,
            endpoints: targets.endpoints,
            user: targets.user,
            keyFile: targets.keyFile,
            remoteDir: targets.remoteDir,
            script: SCRIPT,
            onProxy: (p) => (activeProxy = p),
          });
          rows.push({ variant, ...r, cpuChildrenS: 0, processesStarted: 0, ownPeakRssMb: NaN, sshdCpuS: targets.cpuSeconds() - sshd0 });
        } catch (err) {
          console.log(`proxy: FAILED: ${(err as Error).message}`);
        }
        continue;
      }
      const spec: DriverSpec = { variant, hosts, concurrency, endpoints: [...targets.endpoints], user: targets.user, keyFile: targets.keyFile, remoteDir: targets.remoteDir, socketDir, knownHostsFile: join(dir, `known_hosts_${variant}`) };
      console.log(`running ${variant} …`);
      try {
        rows.push(await runVariant(spec, dir, targets));
      } catch (err) {
        // one variant failing (a piece still being written) must not hide the others' numbers
        console.log(`${variant}: FAILED: ${(err as Error).message}`);
      }
    }
    printTable(rows, hosts);
    if (values.json) {
      await writeFile(values.json, JSON.stringify({ bench: 'rex-push', date: new Date().toISOString(), hosts, concurrency, endpoints: targets.endpoints.length, key: values.key, rows }, null, 2));
      console.log(`results written to ${values.json}`);
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const driverIndex = process.argv.indexOf('--driver');
if (driverIndex >= 0) await driver(process.argv[driverIndex + 1]);
else await main();
