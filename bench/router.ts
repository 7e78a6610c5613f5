// Cost of the router (`smart-proxy router`): the same requests straight to a proxy instance and
// through the router in front of it, in the same run, alternating rounds, keep-alive HTTPS with
// mutual TLS on both legs (client → router → instance), as in production. Two loads:
//   small: GET /tftp/serverName (a trusted_hosts-protected JSON call, the cheapest relayed route)
//   large: GET /httpboot/<256 KiB file> (a boot file: streaming throughput)
// A third target is the floor of any relay in Node here: a bare HTTPS server passing each request
// to the instance through an undici Pool, with no authorization, logging, metrics or header
// rules (a script in this file). Reported: requests/s, p50/p99 latency, errors, each target's
// share of the direct throughput, and the CPU time the relay and the instance spend per request. Goal from issue 13: the router costs less
// than 15 % of throughput. Everything runs on this machine: the load generator, the router and
// the instance share its cores, so the share is the worst case of a router on the same host.
// With BENCH_RATE=<req/s> every target gets the same fixed load: throughput is then equal by
// construction and the CPU-per-request columns compare the relays at equal work (saturated runs
// mix in how well each process batches under overload).
// Run: npm run bench -- router   (BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_RATE to vary)

import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { freeTcpPort, removeDir, tempDir } from '../test/lib/procs.ts';
import { makePki } from '../test/lib/certs.ts';
import { portOf, startProxyProcess, type ProxyProcess } from '../test/lib/proxy-process.ts';
import { fetchUrl } from '../test/lib/https-client.ts';
import { writeSettingsDir } from '../src/core/testing.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
/** Requests per second for every target (BENCH_RATE); unset: as fast as each target goes. */
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
const LARGE_BYTES = 256 * 1024;

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The floor: TLS in, undici Pool out, nothing else (see the header). */
const BARE_RELAY = `
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { Pool } from '${pathToFileURL(createRequire(import.meta.url).resolve('undici')).href}';
const [cert, key, ca, clientCert, clientKey, upstream] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: 48, pipelining: 1, connect: { ca: readFileSync(ca), cert: readFileSync(clientCert), key: readFileSync(clientKey) } });
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: true }, (req, res) => {
  let held;
  pool.dispatch({ path: req.url, method: req.method, headers: { accept: req.headers.accept ?? '*/*' }, body: null }, {
    onRequestStart() {},
    onResponseStart(_c, status, headers) { delete headers.connection; delete headers['keep-alive']; res.writeHead(status, headers); },
    onResponseData(_c, chunk) { const previous = held; held = chunk; if (previous) res.write(previous); },
    onResponseEnd() { res.end(held); },
    onResponseError(_c, err) { res.destroy(err); },
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Round {
  rps: number;
  mibps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU ms per request of the router and of the instance. */
  routerCpuMs: number;
  instanceCpuMs: number;
}

async function round(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }, relayPid: number | undefined, instance: ProxyProcess): Promise<Round> {
  const r0 = relayPid === undefined ? 0 : cpuSeconds(relayPid);
  const i0 = cpuSeconds(instance.pid);
  const r = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    pipelining: 1,
    ...(RATE === undefined ? {} : { overallRate: RATE }),
    headers: { accept: 'application/json' },
    tlsOptions: { ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' },
  });
  const total = r['2xx'] + r.non2xx;
  return {
    rps: r.requests.average,
    mibps: r.throughput.average / 1024 / 1024,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
    routerCpuMs: relayPid === undefined ? 0 : ((cpuSeconds(relayPid) - r0) * 1000) / Math.max(1, total),
    instanceCpuMs: ((cpuSeconds(instance.pid) - i0) * 1000) / Math.max(1, total),
  };
}

async function main(): Promise<void> {
  const dir = await tempDir('sp-bench-router');
  let instance: ProxyProcess | undefined;
  let router: ProxyProcess | undefined;
  let bare: ChildProcess | undefined;
  try {
    const pki = await makePki(dir);
    const foreman = await pki.client('foreman.example.com');
    const routerClient = await pki.client('router.example.com');
    const root = join(dir, 'boot');
    await mkdir(root);
    await writeFile(join(root, 'large.img'), Buffer.alloc(LARGE_BYTES, 7));
    await mkdir(join(dir, 'tftproot'));
    const tls = { ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert };
    const instancePort = await freeTcpPort();
    await writeSettingsDir(
      join(dir, 'instance'),
      { ...tls, bind_host: ['127.0.0.1'], https_port: instancePort, trusted_hosts: ['foreman.example.com', 'router.example.com'], log_file: join(dir, 'instance.log'),
        // the router and the load generator are one peer (127.0.0.1): no per-peer connection cap
        limits: { control_peers: ['127.0.0.1'] } },
      { tftp: `:enabled: true\n:tftproot: ${join(dir, 'tftproot')}\n`, httpboot: `:enabled: true\n:root_dir: ${root}\n` },
    );
    await writeSettingsDir(
      join(dir, 'router'),
      { ...tls, bind_host: ['127.0.0.1'], https_port: 0, trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'router.log') },
      { router: { instances: [`https://127.0.0.1:${instancePort}`], upstream_ssl_certificate: routerClient.cert, upstream_ssl_private_key: routerClient.key } },
    );
    instance = await startProxyProcess(['--settings', join(dir, 'instance'), '--only', 'tftp,httpboot']);
    router = await startProxyProcess(['router', '--settings', join(dir, 'router')]);
    const clientTls = { ca: readFileSync(pki.caCert), cert: readFileSync(foreman.cert), key: readFileSync(foreman.key) };
    const relayFile = join(dir, 'bare-relay.mjs');
    await writeFile(relayFile, BARE_RELAY);
    bare = spawn(process.execPath, [relayFile, pki.serverCert, pki.serverKey, pki.caCert, routerClient.cert, routerClient.key, `https://127.0.0.1:${instancePort}`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [barePortLine] = (await once(bare.stdout!, 'data')) as [Buffer];
    const targets = {
      direct: { base: `https://127.0.0.1:${portOf(instance, 'https')}`, pid: undefined as number | undefined, label: 'straight to the instance' },
      bare: { base: `https://127.0.0.1:${barePortLine.toString().trim()}`, pid: bare.pid, label: 'bare undici relay (floor)' },
      router: { base: `https://127.0.0.1:${portOf(router, 'https')}`, pid: router.pid, label: 'through the router' },
    };
    type Target = keyof typeof targets;
    for (const t of Object.values(targets)) {
      const check = await fetchUrl(`${t.base}/tftp/serverName`, { tls: { ca: pki.caCert, ...foreman } });
      if (check.status !== 200) throw new Error(`${t.base}/tftp/serverName answered ${check.status}: ${check.body}`);
    }

    const loads = { small: '/tftp/serverName', large: '/httpboot/large.img' };
    console.log(
      `Router vs direct, HTTPS + mTLS on both legs, keep-alive, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s, medians; ${cpus().length} cores shared by load generator, relay and instance; load average at start ${loadavg()[0].toFixed(1)}`,
    );
    const rows: Record<string, string | number>[] = [];
    const problems: string[] = [];
    for (const [name, path] of Object.entries(loads)) {
      const runs: Record<Target, Round[]> = { direct: [], bare: [], router: [] };
      // warm-up: TLS sessions, JIT, the relays' upstream pools
      for (const t of Object.values(targets)) await round(`${t.base}${path}`, clientTls, t.pid, instance);
      for (let i = 0; i < ROUNDS; i++) {
        for (const [k, t] of Object.entries(targets) as [Target, (typeof targets)[Target]][]) runs[k].push(await round(`${t.base}${path}`, clientTls, t.pid, instance));
      }
      const d = median(runs.direct.map((r) => r.rps));
      for (const [kind, t] of Object.entries(targets) as [Target, (typeof targets)[Target]][]) {
        const rs = runs[kind];
        const rps = median(rs.map((r) => r.rps));
        rows.push({
          load: `${name} ${path}`,
          via: t.label,
          'req/s': Math.round(rps),
          'of direct': `${((rps / d) * 100).toFixed(1)} %`,
          'MiB/s': median(rs.map((r) => r.mibps)).toFixed(1),
          'p50 ms': median(rs.map((r) => r.p50)),
          'p99 ms': median(rs.map((r) => r.p99)),
          errors: rs.reduce((a, r) => a + r.errors, 0),
          'relay CPU ms/req': kind === 'direct' ? '-' : median(rs.map((r) => r.routerCpuMs)).toFixed(3),
          'instance CPU ms/req': median(rs.map((r) => r.instanceCpuMs)).toFixed(3),
        });
        if (rs.some((r) => r.errors > 0)) problems.push(`${name} ${kind}: errors`);
      }
      const show = (k: Target): string => runs[k].map((r) => r.rps.toFixed(0)).join(', ');
      console.log(`${name}: rounds req/s direct ${show('direct')}; bare relay ${show('bare')}; router ${show('router')}`);
      const cost = 1 - median(runs.router.map((r) => r.rps)) / d;
      console.log(`${name}: the router costs ${(cost * 100).toFixed(1)} % of throughput (goal < 15 %); the bare relay ${((1 - median(runs.bare.map((r) => r.rps)) / d) * 100).toFixed(1)} %`);
    }
    console.table(rows);
    if (problems.length > 0) {
      console.log(`PROBLEMS: ${problems.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    bare?.kill('SIGTERM');
    await router?.stop();
    await instance?.stop();
    await removeDir(dir);
  }
}

await main();
