// Remote execution, pull-mqtt mode: N simulated hosts (default 4000, test/lib/ygg-standin.ts: one
// MQTT connection each, subscribed to yggdrasil/<id>/data/in on a real mosquitto broker; HTTPS to
// the proxy with their own client certificate, CN = host id) and one job over all of them.
//
// 1. Notification phase, in the same run, N messages to the N subscribed hosts over the broker's
//    TLS listener with the proxy's client certificate, each variant in its own process:
//      per-connection — the reference's way: connect, publish QoS 1, disconnect, one at a time
//      session        — this proxy's way: src/modules/script/pull/mqtt.ts, one long-lived session
//    (these messages carry an event the host stand-in ignores).
// 2. The whole job: the proxy as a real process (dynflow + script in pull-mqtt mode), launched like
//    Foreman does (batches of 100 over HTTPS), callbacks to a stand-in Foreman. Reported: time from
//    the first launch until every host fetched its job and reported its exit, and until every
//    callback arrived; the proxy's CPU time and peak RSS; the broker's CPU time.
//
// The hosts do not run the script (the stand-in reports `hello`, exit 0): the proxy is measured.
//
// Run: npm run bench -- rex-pull   or   node bench/rex-pull.ts [--hosts N] [--only notify,job]
//      [--hosts-tls] [--json FILE] [--node-flags=--max-semi-space-size=8]  (node flags for the
//      processes measured: the proxy, the notification variants) [--keepalive-timeout S] (the
//      proxy's keepalive_timeout setting: how long the hosts' idle HTTPS connections stay open)

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { execFileP, removeDir, requireCommand, tempDir, waitFor } from '../test/lib/procs.ts';
import { httpsSettings, makePki } from '../test/lib/certs.ts';
import { startMosquitto, type Mosquitto } from '../test/lib/mosquitto.ts';
import { hostCertFactory, startYggStandIn, type YggStandIn } from '../test/lib/ygg-standin.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../test/lib/proxy-process.ts';
import { writeSettingsDir } from '../src/core/testing.ts';
import { createMqttPublisher } from '../src/modules/script/pull/mqtt.ts';
import { silentLogger } from '../src/core/logging.ts';
import type { YggMessage } from '../src/modules/script/pull/types.ts';
import { FOREMAN_BATCH, launchHosts, processCpuSeconds, processRssMb, startCallbackTally, type CallbackTally } from './lib/rex-foreman.ts';
import { addMeasuredNodeFlags, ownPeakRssMb, sampleTreeRss } from './lib/rex-measure.ts';
import { stopProxy } from './lib/rex-proxy-push.ts';

const PROXY_CN = 'proxy.example.com';
const SCRIPT = '#!/bin/sh\necho hello $HOSTNAME\nexit 0\n';
const PUBLISHERS = ['per-connection', 'session'] as const;
type PublisherKind = (typeof PUBLISHERS)[number];

interface PublisherSpec {
  kind: PublisherKind;
  port: number;
  cert: string;
  key: string;
  ca: string;
  hostIds: string[];
}

interface PublisherResult {
  kind: PublisherKind;
  wallMs: number;
  cpuS: number;
  peakRssMb: number;
  published: number;
  brokerCpuS?: number;
}

// ---------------------------------------------------------------------------------------------
// publisher driver (a child process)

function benchMessage(): YggMessage {
  const uuid = randomUUID();
  return {
    type: 'data',
    message_id: randomUUID(),
    version: 1,
    sent: new Date().toISOString(),
    directive: 'foreman',
    content: `https://127.0.0.1:1/ssh/jobs/${uuid}`,
    // an event the host stand-in receives and ignores (it acts on start and cancel only)
    metadata: { event: 'bench-notification', job_uuid: uuid, return_url: `https://127.0.0.1:1/ssh/jobs/${uuid}/update`, version: 'v1', effective_user: 'root' },
  };
}

async function publisherDriver(specFile: string): Promise<void> {
  const spec = JSON.parse(await readFile(specFile, 'utf8')) as PublisherSpec;
  const [cert, key, ca] = await Promise.all([readFile(spec.cert), readFile(spec.key), readFile(spec.ca)]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let published = 0;
  if (spec.kind === 'per-connection') {
    // one after the other, as the reference's dispatcher thread does
    for (const id of spec.hostIds) {
      const client = await connectAsync({
        host: '127.0.0.1',
        port: spec.port,
        protocol: 'mqtts',
        protocolVersion: 4,
        clientId: `${PROXY_CN}-${randomUUID()}`,
        clean: true,
        reconnectPeriod: 0,
        cert,
        key,
        ca,
        rejectUnauthorized: true,
        servername: 'localhost',
      });
      await client.publishAsync(`yggdrasil/${id}/data/in`, JSON.stringify(benchMessage()), { qos: 1, retain: false });
      await client.endAsync();
      published++;
    }
  } else {
    const publisher = await createMqttPublisher({ broker: '127.0.0.1', port: spec.port, tls: { cert: spec.cert, key: spec.key, ca: spec.ca }, log: silentLogger, publishTimeoutMs: 120_000 });
    try {
      await publisher.waitConnected(10_000);
      await Promise.all(
        spec.hostIds.map(async (id) => {
          await publisher.publish(id, benchMessage());
          published++;
        }),
      );
    } finally {
      await publisher.close();
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const result: PublisherResult = { kind: spec.kind, wallMs, cpuS: (cpu.user + cpu.system) / 1e6, peakRssMb: ownPeakRssMb(), published };
  process.stdout.write(`\n${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// orchestrator

const children = new Set<ReturnType<typeof spawn>>();
let activeProxy: ProxyProcess | undefined;

async function runPublisher(spec: PublisherSpec, dir: string, broker: Mosquitto): Promise<PublisherResult> {
  const specFile = join(dir, `publisher-${spec.kind}.json`);
  await writeFile(specFile, JSON.stringify(spec));
  const brokerCpu0 = processCpuSeconds(broker.pid);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--publisher', specFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const [code] = (await once(child, 'exit')) as [number | null];
  children.delete(child);
  const last = stdout.trim().split('\n').pop() ?? '';
  if (code !== 0 || !last.startsWith('{')) throw new Error(`${spec.kind} publisher exited with ${code}: ${stdout.slice(-2000)}`);
  return { ...(JSON.parse(last) as PublisherResult), brokerCpuS: processCpuSeconds(broker.pid) - brokerCpu0 };
}

/**
 * Raise a process's open-files soft limit to its hard limit when it is below `needed` (raising the
 * hard limit needs CAP_SYS_RESOURCE, which containers often lack); warns when even that is short.
 */
async function raiseNofile(pid: number, needed: number, what: string): Promise<void> {
  const prlimit = requireCommand('prlimit');
  const { stdout } = await execFileP(prlimit, ['--pid', String(pid), '--nofile', '--output', 'SOFT,HARD', '--noheadings', '--raw']);
  const [soft, hard] = stdout.trim().split(/\s+/).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  if (soft >= needed) return;
  const target = Math.min(hard, needed);
  if (target > soft) await execFileP(prlimit, ['--pid', String(pid), `--nofile=${target}:${hard === Infinity ? 'unlimited' : hard}`]);
  if (target < needed) console.log(`warning: ${what} may open ${needed} files but its hard limit is ${hard}`);
}

interface JobResult {
  how: string;
  /** Every launch request answered. */
  launchedMs: number;
  /** Every host fetched its job (GET answered 200). */
  allFetchedMs: number;
  allExitedMs: number;
  allCallbacksMs: number;
  fetched: number;
  exited: number;
  ok: number;
  failed: number;
  firstError?: string;
  sampleOutput: string;
  proxyCpuS: number;
  peakTreeRssMb: number;
  idleRssMb: number;
  brokerCpuS: number;
  hostHttpErrors: number;
  /** CPU of this process (the host stand-in and the Foreman stand-in) during the job. */
  standInCpuS: number;
}

async function runJob(opts: {
  dir: string;
  hosts: number;
  hostIds: string[];
  pki: Awaited<ReturnType<typeof makePki>>;
  proxyMqttCert: { cert: string; key: string };
  broker: Mosquitto;
  standIn: YggStandIn;
  /** The proxy's keepalive_timeout setting (seconds) when given: how long idle host connections stay open. */
  keepaliveTimeoutS?: number;
}): Promise<JobResult> {
  const { dir, pki, broker, standIn } = opts;
  const foremanCert = await opts.pki.client('foreman.example.com');
  let tally: CallbackTally | undefined;
  let proxy: ProxyProcess | undefined;
  try {
    tally = await startCallbackTally(opts.hosts);
    const proxyDir = join(dir, 'proxy');
    await writeSettingsDir(
      proxyDir,
      {
        ...httpsSettings(pki),
        trusted_hosts: ['foreman.example.com'],
        foreman_url: tally.foreman.origin,
        // the proxy's client certificate (CN proxy.example.com): MQTT TLS identity
        foreman_ssl_cert: opts.proxyMqttCert.cert,
        foreman_ssl_key: opts.proxyMqttCert.key,
        foreman_ssl_ca: pki.caCert,
        log_file: join(proxyDir, 'proxy.log'),
        log_level: 'WARN',
        ...(opts.keepaliveTimeoutS !== undefined ? { keepalive_timeout: opts.keepaliveTimeoutS } : {}),
      },
      {
        dynflow: { ':enabled': true, ':database': join(proxyDir, 'tasks.sqlite') },
        remote_execution_ssh: {
          ':enabled': true,
          ':mode': 'pull-mqtt',
          ':cockpit_integration': false,
          ':mqtt_broker': '127.0.0.1',
          ':mqtt_port': broker.port,
        },
      },
    );
    proxy = await startProxyProcess(['--settings', proxyDir], 60_000);
    activeProxy = proxy;
    // every host holds an HTTPS connection to the proxy at the peak
    await raiseNofile(proxy.pid, opts.hosts + 1024, 'the proxy');
    await new Promise((r) => setTimeout(r, 1000));
    const idleRssMb = processRssMb(proxy.pid);
    const base = `https://127.0.0.1:${portOf(proxy, 'https')}`;
    const running = proxy;
    const exited = new Promise<never>((_, reject) => running.child.once('exit', (code) => reject(new Error(`proxy exited with ${code}: ${running.stderr().slice(-2000)}`))));
    exited.catch(() => undefined);
    const finished0 = standIn.finished.length;
    const fetches0 = standIn.fetches.length;
    const posts0 = standIn.posts.length;
    const sampler = sampleTreeRss(proxy.pid);
    const cpu0 = processCpuSeconds(proxy.pid);
    const brokerCpu0 = processCpuSeconds(broker.pid);
    const standInCpu0 = process.cpuUsage();
    const t0 = performance.now();
    let launchedMs = NaN;
    let allFetchedMs = NaN;
    let allExitedMs = NaN;
    let mem: ReturnType<typeof sampler.stop>;
    let over = false; // ends the polls below when the job fails
    // fetches answered 200, counted incrementally (the stand-in appends one record per request)
    let scanned = fetches0;
    const fetchedJobs = new Set<string>();
    const allFetched = waitFor(
      'every host to fetch its job',
      () => {
        for (; scanned < standIn.fetches.length; scanned++) {
          const f = standIn.fetches[scanned];
          if (f.status === undefined && f.error === undefined) break; // still in flight
          if (f.method === 'GET' && f.status === 200) fetchedJobs.add(f.url);
        }
        return over || fetchedJobs.size >= opts.hosts;
      },
      30 * 60_000,
      20,
    ).then(() => {
      if (fetchedJobs.size >= opts.hosts) allFetchedMs = performance.now() - t0;
    });
    allFetched.catch(() => undefined);
    try {
      await Promise.race([
        launchHosts(base, { ca: pki.caCert, ...foremanCert }, opts.hosts, (i) => ({
          hostname: opts.hostIds[i],
          script: SCRIPT,
          effective_user: 'root',
          execution_timeout_interval: null,
          time_to_pickup: 86400,
          alternative_names: { fqdn: opts.hostIds[i] },
        })),
        exited,
      ]);
      launchedMs = performance.now() - t0;
      const allExited = waitFor('every host to report its exit', () => over || standIn.finished.length - finished0 >= opts.hosts, 30 * 60_000, 20).then(() => {
        if (!over) allExitedMs = performance.now() - t0;
      });
      await Promise.race([Promise.all([allExited, tally.allDone]), exited]);
    } finally {
      over = true;
      mem = sampler.stop();
    }
    const allCallbacksMs = performance.now() - t0;
    const standInCpu = process.cpuUsage(standInCpu0);
    const newFetches = standIn.fetches.slice(fetches0);
    const hostHttpErrors = newFetches.concat(standIn.posts.slice(posts0)).filter((x) => x.error !== undefined || (x.status ?? 0) >= 400).length;
    return {
      how: `the proxy process (dynflow + script, pull-mqtt, one MQTT session over TLS): ${Math.ceil(opts.hosts / FOREMAN_BATCH)} launches of ≤${FOREMAN_BATCH} hosts, callbacks to a stand-in Foreman`,
      launchedMs,
      allFetchedMs,
      allExitedMs,
      allCallbacksMs,
      fetched: fetchedJobs.size,
      exited: standIn.finished.length - finished0,
      ok: tally.ok,
      failed: tally.failed,
      firstError: tally.firstError,
      sampleOutput: tally.sampleOutput,
      proxyCpuS: processCpuSeconds(proxy.pid) - cpu0,
      peakTreeRssMb: mem.peakMb,
      idleRssMb,
      brokerCpuS: processCpuSeconds(broker.pid) - brokerCpu0,
      hostHttpErrors,
      standInCpuS: (standInCpu.user + standInCpu.system) / 1e6,
    };
  } finally {
    await stopProxy(proxy);
    activeProxy = undefined;
    await tally?.foreman.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '4000' },
      only: { type: 'string', default: 'notify,job' },
      'hosts-tls': { type: 'boolean', default: false },
      json: { type: 'string' },
      'node-flags': { type: 'string', default: '' },
      'keepalive-timeout': { type: 'string' },
    },
  });
  const keepaliveTimeoutS = values['keepalive-timeout'] === undefined ? undefined : Number(values['keepalive-timeout']);
  if (keepaliveTimeoutS !== undefined && !(Number.isInteger(keepaliveTimeoutS) && keepaliveTimeoutS >= 1)) throw new Error(`--keepalive-timeout must be a positive integer (seconds), got ${values['keepalive-timeout']}`);
  addMeasuredNodeFlags(values['node-flags']);
  const hosts = Number(values.hosts);
  if (!Number.isInteger(hosts) || hosts < 1) throw new Error(`--hosts must be a positive integer, got ${values.hosts}`);
  const phases = values.only.split(',');
  for (const p of phases) if (p !== 'notify' && p !== 'job') throw new Error(`--only: unknown phase '${p}' (notify, job)`);

  // this process holds every host's MQTT and HTTPS connection
  await raiseNofile(process.pid, 2 * hosts + 1024, 'the host stand-in (this process)');
  const dir = await tempDir('rex-pull');
  let broker: Mosquitto | undefined;
  let standIn: YggStandIn | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of children) c.kill('SIGKILL');
      activeProxy?.child.kill('SIGKILL');
      await standIn?.close().catch(() => undefined);
      await broker?.stop();
      await removeDir(dir);
    })());
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const pki = await makePki(dir);
    const proxyMqttCert = await pki.client(PROXY_CN);
    broker = await startMosquitto({
      dir,
      caCert: pki.caCert,
      serverCert: pki.serverCert,
      serverKey: pki.serverKey,
      proxyCn: PROXY_CN,
      benchListener: !values['hosts-tls'],
      extraListenerLines: ['max_connections -1', 'max_inflight_messages 0', 'max_queued_messages 100000'],
    });
    await raiseNofile(broker.pid, 2 * hosts + 1024, 'mosquitto');
    const hostIds = Array.from({ length: hosts }, (_, i) => `host-${String(i).padStart(5, '0')}.bench.example.com`);
    const t0 = performance.now();
    const certs = await (await hostCertFactory(pki.caCert, pki.caKey)).clients(hostIds);
    const certMs = performance.now() - t0;
    const t1 = performance.now();
    standIn = await startYggStandIn({
      hosts: hostIds.map((id) => ({ id, ...certs.get(id) })),
      mqtt: values['hosts-tls'] ? { port: broker.port, tls: true, ca: readFileSync(pki.caCert, 'utf8') } : { port: broker.benchPort as number, tls: false },
      httpCa: readFileSync(pki.caCert, 'utf8'),
      execute: false,
      fixedResult: { stdout: 'hello stand-in\n', exitCode: 0 },
    });
    await standIn.waitAllSubscribed(10 * 60_000);
    console.log(
      `${hosts} stand-in hosts subscribed to mosquitto (${values['hosts-tls'] ? 'TLS listener, own certificates' : 'plain bench listener'}) in ${((performance.now() - t1) / 1000).toFixed(1)} s; host certificates in ${(certMs / 1000).toFixed(1)} s; broker RSS ${processRssMb(broker.pid).toFixed(1)} MB`,
    );

    const publishers: PublisherResult[] = [];
    if (phases.includes('notify')) {
      for (const kind of PUBLISHERS) {
        console.log(`notification phase: ${kind} …`);
        try {
          publishers.push(await runPublisher({ kind, port: broker.port, cert: proxyMqttCert.cert, key: proxyMqttCert.key, ca: pki.caCert, hostIds }, dir, broker));
        } catch (err) {
          console.log(`${kind}: FAILED: ${(err as Error).message}`);
        }
      }
      console.log(`\n| notification of ${hosts} hosts | wall s | msgs/s | publisher CPU ms/msg | publisher peak RSS MB | broker CPU ms/msg |`);
      console.log('|---|---|---|---|---|---|');
      for (const p of publishers) {
        console.log(
          `| ${p.kind} | ${(p.wallMs / 1000).toFixed(2)} | ${(p.published / (p.wallMs / 1000)).toFixed(0)} | ${((p.cpuS * 1000) / p.published).toFixed(3)} | ${p.peakRssMb.toFixed(1)} | ${(((p.brokerCpuS ?? 0) * 1000) / p.published).toFixed(3)} |`,
        );
      }
    }

    let job: JobResult | undefined;
    if (phases.includes('job')) {
      console.log('\nwhole job through the proxy …');
      try {
        job = await runJob({ dir, hosts, hostIds, pki, proxyMqttCert, broker, standIn, keepaliveTimeoutS });
        console.log(`\n| pull-mqtt job, ${hosts} hosts | value |`);
        console.log('|---|---|');
        console.log(`| hosts fetched / exited / callbacks ok / failed | ${job.fetched} / ${job.exited} / ${job.ok} / ${job.failed} |`);
        console.log(`| launch → every launch request answered | ${(job.launchedMs / 1000).toFixed(1)} s |`);
        console.log(`| launch → every host fetched its job | ${(job.allFetchedMs / 1000).toFixed(1)} s |`);
        console.log(`| launch → every host reported its exit | ${(job.allExitedMs / 1000).toFixed(1)} s |`);
        console.log(`| launch → every callback at Foreman | ${(job.allCallbacksMs / 1000).toFixed(1)} s |`);
        console.log(`| proxy CPU | ${job.proxyCpuS.toFixed(1)} s (${((job.proxyCpuS * 1000) / hosts).toFixed(2)} ms/host) |`);
        console.log(`| proxy RSS idle → peak | ${job.idleRssMb.toFixed(1)} → ${job.peakTreeRssMb.toFixed(1)} MB |`);
        console.log(`| broker CPU | ${job.brokerCpuS.toFixed(1)} s |`);
        console.log(`| host + Foreman stand-ins' CPU (this process) | ${job.standInCpuS.toFixed(1)} s |`);
        console.log(`| host HTTP errors | ${job.hostHttpErrors} |`);
        console.log(`  ${job.how}; sample output ${JSON.stringify(job.sampleOutput)}${job.firstError ? `; first error: ${job.firstError}` : ''}`);
      } catch (err) {
        console.log(`job: FAILED: ${(err as Error).message}`);
      }
    }
    if (values.json) {
      await writeFile(values.json, JSON.stringify({ bench: 'rex-pull', date: new Date().toISOString(), hosts, hostsTls: values['hosts-tls'], publishers, job }, null, 2));
      console.log(`results written to ${values.json}`);
    }
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const publisherIndex = process.argv.indexOf('--publisher');
if (publisherIndex >= 0) await publisherDriver(process.argv[publisherIndex + 1]);
else await main();
