// `smart-proxy router` in front of three real proxy instances (provisioning, client and logs-only
// bundles from one settings directory, each on its own HTTPS listener), all real processes with
// real mutual TLS: Foreman's root calls answered as one proxy, real calls of every feature relayed,
// two instances of one feature both used and failing over, a stopped instance's features 503 with
// Retry-After while the others work, an instance restarted on another feature set picked up
// without touching the router's settings, and bad router settings refused with file and key.
// Foreman itself cannot run here: templates and registration relay to a stand-in Foreman.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, writeFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import { freeTcpPort, removeDir, tempDir } from '../lib/procs.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { portOf, runProxyCli, startProxyProcess, type ProxyProcess } from '../lib/proxy-process.ts';
import { fetchUrl, type SimpleResponse } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { bzip2, makeArf } from '../openscap/arf-fixture.ts';

let dir: string;
let pki: Pki;
let foremanClient: { cert: string; key: string };
let standInForeman: Server;
/** What the stand-in Foreman was sent: method, path and body of each request. */
const foremanSaw: { method: string; url: string; body: string }[] = [];
type Name = 'a' | 'b' | 'c' | 'd';
const ports: Record<Name, number> = { a: 0, b: 0, c: 0, d: 0 };
const instances: Partial<Record<Name, ProxyProcess>> = {};
let router: ProxyProcess;
let routerDir: string;
const BIG_BYTES = 64 * 1024 * 1024;

async function startInstance(name: Name, args: string[]): Promise<ProxyProcess> {
  const p = await startProxyProcess(['--settings', join(dir, 'instances'), '--listeners', name, ...args]);
  instances[name] = p;
  return p;
}

async function stopInstance(name: Name): Promise<void> {
  await instances[name]?.stop();
  instances[name] = undefined;
}

function viaRouter(path: string, opts: { method?: string; tls?: { cert: string; key: string } | null; headers?: Record<string, string>; body?: string } = {}): Promise<SimpleResponse> {
  const who = opts.tls === null ? {} : (opts.tls ?? foremanClient);
  return fetchUrl(`https://127.0.0.1:${portOf(router, 'https')}${path}`, { method: opts.method, tls: { ca: pki.caCert, ...who }, headers: opts.headers, body: opts.body });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface InstanceStatus {
  instance: string;
  health: string;
  features: string[];
  requests: number;
}

async function status(): Promise<InstanceStatus[]> {
  return (JSON.parse((await viaRouter('/router/status')).body) as { instances: InstanceStatus[] }).instances;
}

const origin = (name: Name): string => `https://127.0.0.1:${ports[name]}`;

before(async () => {
  dir = await tempDir('sp-router');
  pki = await makePki(dir);
  foremanClient = await pki.client('foreman.example.com');
  const routerClient = await pki.client('router.example.com');
  standInForeman = createServer((req, res) => {
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      foremanSaw.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString() });
      if (req.url?.startsWith('/api/v2/compliance/arf_reports/')) {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: 'ok', id: String(foremanSaw.length) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`stand-in Foreman answer for ${req.method} ${req.url}${bytes > 0 ? ` (${bytes} bytes)` : ''}`);
    });
  });
  standInForeman.listen(0, '127.0.0.1');
  await once(standInForeman, 'listening');
  const foremanPort = (standInForeman.address() as { port: number }).port;

  const root = join(dir, 'boot');
  await mkdir(root);
  await writeFile(join(root, 'grubx64.efi'), 'EFI-BINARY');
  await writeFile(join(root, 'big.img'), '');
  await truncate(join(root, 'big.img'), BIG_BYTES);
  await mkdir(join(dir, 'tftproot'));
  for (const k of ['a', 'b', 'c', 'd'] as const) ports[k] = await freeTcpPort();
  const tls = { ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert };
  // One settings directory for the three instances (as an operator would keep it), one listener each.
  await writeSettingsDir(
    join(dir, 'instances'),
    {
      ...tls,
      // The router's certificate is trusted like Foreman's: it calls on Foreman's behalf.
      trusted_hosts: ['foreman.example.com', 'router.example.com'],
      foreman_url: `http://127.0.0.1:${foremanPort}`,
      log_file: join(dir, 'instances.log'),
      listeners: (['a', 'b', 'c', 'd'] as const).map((name) => ({ name, scheme: 'https', audience: 'foreman', bind: ['127.0.0.1'], port: ports[name] })),
    },
    {
      tftp: `:enabled: true\n:tftproot: ${join(dir, 'tftproot')}\n:tftp_servername: tftp.example.com\n`,
      templates: ':enabled: true\n:template_url: http://proxy.example.com:8000\n',
      registration: ':enabled: true\n:registration_url: https://proxy.example.com:8443/\n',
      httpboot: `:enabled: true\n:root_dir: ${root}\n`,
    },
  );
  routerDir = join(dir, 'router');
  await writeSettingsDir(
    routerDir,
    { ...tls, bind_host: ['127.0.0.1'], https_port: 0, trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'router.log') },
    {
      router: {
        instances: [origin('a'), origin('b'), origin('c')],
        health_check_interval: 0.5,
        retry_after: 7,
        upstream_ssl_certificate: routerClient.cert,
        upstream_ssl_private_key: routerClient.key,
      },
    },
  );
  await Promise.all([
    startInstance('a', ['--bundle', 'provisioning']), // tftp, httpboot, templates (dhcp and dns not enabled)
    startInstance('b', ['--bundle', 'client']), // templates, registration, httpboot
    startInstance('c', ['--only', 'logs']),
  ]);
  router = await startProxyProcess(['router', '--settings', routerDir]);
});

after(async () => {
  await router?.stop();
  for (const k of ['a', 'b', 'c', 'd'] as const) await stopInstance(k);
  standInForeman?.close();
  await removeDir(dir);
});

test('Foreman sees one proxy: merged /features, /v2/features and /version, and a real call per feature', async () => {
  assert.deepEqual(JSON.parse((await viaRouter('/features')).body), ['httpboot', 'logs', 'registration', 'templates', 'tftp']);
  const v2 = JSON.parse((await viaRouter('/v2/features')).body) as Record<string, { state: string; settings: Record<string, unknown> }>;
  for (const f of ['httpboot', 'logs', 'registration', 'templates', 'tftp']) assert.equal(v2[f]?.state, 'running', f);
  // dhcp and dns are in the provisioning bundle but not enabled: reported as the instance reports them.
  assert.equal(v2.dhcp?.state, 'disabled');
  // Hosts must fetch boot files through the router: its port, not the instance's.
  assert.equal(v2.httpboot.settings.https_port, portOf(router, 'https'));
  assert.equal(v2.registration.settings.registration_url, 'https://proxy.example.com:8443');
  const version = JSON.parse((await viaRouter('/version')).body) as { version: string; modules: Record<string, string> };
  assert.deepEqual(Object.keys(version.modules).sort(), ['httpboot', 'logs', 'registration', 'templates', 'tftp']);
  assert.equal(typeof version.version, 'string');

  const tftp = await viaRouter('/tftp/serverName');
  assert.equal(tftp.status, 200);
  assert.deepEqual(JSON.parse(tftp.body), { serverName: 'tftp.example.com' });
  const boot = await viaRouter('/httpboot/grubx64.efi');
  assert.equal(boot.status, 200);
  assert.equal(boot.body, 'EFI-BINARY');
  const ts = await viaRouter('/unattended/templateServer');
  assert.deepEqual(JSON.parse(ts.body), { templateServer: 'http://proxy.example.com:8000' });
  const reg = await viaRouter('/register?activation_keys=ak');
  assert.equal(reg.status, 200);
  assert.match(reg.body, /^stand-in Foreman answer for GET \/register\?/);
  // Writes with form bodies, relayed to the instance and landing on its disk.
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const mac = '52:54:00:aa:bb:50';
  const write = await viaRouter(`/tftp/PXELinux/${mac}`, { method: 'POST', headers: form, body: 'pxeconfig=via-the-router' });
  assert.equal(write.status, 200, write.body);
  assert.equal(readFileSync(join(dir, 'tftproot/pxelinux.cfg/01-52-54-00-aa-bb-50'), 'utf8'), 'via-the-router');
  assert.equal((await viaRouter(`/tftp/PXELinux/${mac}`, { method: 'DELETE' })).status, 200);
  assert.equal(existsSync(join(dir, 'tftproot/pxelinux.cfg/01-52-54-00-aa-bb-50')), false);
  // A host's POST with a 1 MiB body streams through the router and the templates relay.
  const built = await viaRouter('/unattended/built?token=t1', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(1024 * 1024) });
  assert.equal(built.status, 200, built.body);
  assert.match(built.body, /^stand-in Foreman answer for POST \/unattended\/built\?.* \(1048576 bytes\)$/);
  const logs = await viaRouter('/logs/?from_timestamp=0');
  assert.equal(logs.status, 200);
  assert.ok('failed_modules' in (JSON.parse(logs.body) as { info: object }).info);
  // A path no module owns, and a feature no instance runs: 404 as a proxy answers.
  assert.equal((await viaRouter('/nothing/here')).status, 404);
  assert.equal((await viaRouter('/bmc/providers')).status, 404);
});

test('the front listener applies trusted_hosts and the client-certificate rule of a proxy', async () => {
  const noCert = await viaRouter('/v2/features', { tls: null });
  assert.equal(noCert.status, 403);
  assert.equal(noCert.body, 'could not read client cert from environment');
  const stranger = await pki.client('stranger.example.com');
  const untrusted = await viaRouter('/tftp/serverName', { tls: stranger });
  assert.equal(untrusted.status, 403);
  assert.equal(untrusted.body, 'Untrusted client stranger.example.com attempted to access /serverName. Check :trusted_hosts: in settings.yml');
  // Host-facing paths are open, as on a proxy; the root documents too.
  assert.equal((await viaRouter('/httpboot/grubx64.efi', { tls: null })).status, 200);
  assert.equal((await viaRouter('/features', { tls: null })).status, 200);
  // A dot segment could carry an open prefix's authorization to a protected one: refused.
  const dotted = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: portOf(router, 'https'), path: '/unattended/%2e%2e/tftp/serverName', ca: readFileSync(pki.caCert), agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(dotted, 400);
  // A certificate from a CA the router does not trust is refused at the handshake.
  const other = await pki.otherCa();
  const foreign = await pki.client('foreman.example.com', { ca: other });
  await assert.rejects(viaRouter('/features', { tls: foreign }));
});

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

test('a large download to a stalled client streams through the router intact, without piling up in its memory', async () => {
  const before = rssMiB(router.pid);
  let stalled = NaN;
  const bytes = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(
      `https://127.0.0.1:${portOf(router, 'https')}/httpboot/big.img`,
      { ca: readFileSync(pki.caCert), agent: false },
      (res) => {
        let n = 0;
        let nonZero = 0;
        // The client stops reading: with backpressure the router stops reading from the
        // instance too, instead of buffering the rest of the file.
        res.pause();
        setTimeout(() => {
          stalled = rssMiB(router.pid);
          res.resume();
        }, 1500);
        res.on('data', (c: Buffer) => {
          n += c.length;
          if (c.some((b) => b !== 0)) nonZero++;
        });
        res.on('end', () => (res.statusCode === 200 && nonZero === 0 ? resolve(n) : reject(new Error(`status ${res.statusCode}, ${nonZero} bad chunks`))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
  assert.equal(bytes, BIG_BYTES);
  const grown = stalled - before;
  assert.ok(grown < BIG_BYTES / 1024 / 1024 / 2, `router RSS grew ${grown.toFixed(1)} MiB while the client stalled on a ${BIG_BYTES / 1024 / 1024} MiB download`);
});

test('two instances of one feature are both used; with one stopped every request still succeeds, its own features 503', async () => {
  const before = await status();
  for (let i = 0; i < 20; i++) assert.equal((await viaRouter('/httpboot/grubx64.efi')).status, 200);
  const after = await status();
  const used = (name: 'a' | 'b'): number =>
    (after.find((s) => s.instance === origin(name))?.requests ?? 0) - (before.find((s) => s.instance === origin(name))?.requests ?? 0);
  assert.ok(used('a') > 0 && used('b') > 0, `httpboot requests a=${used('a')} b=${used('b')}`);

  await stopInstance('b');
  // Straight after the stop: whether or not the router noticed yet, no request fails.
  const results = await Promise.all(Array.from({ length: 20 }, () => viaRouter('/httpboot/grubx64.efi')));
  assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
  for (let i = 0; i < 5; i++) assert.equal((await viaRouter('/unattended/templateServer')).status, 200);

  // registration ran on b only.
  await waitFor('b marked down', async () => (await status()).find((s) => s.instance === origin('b'))?.health === 'down');
  const reg = await viaRouter('/register?activation_keys=ak');
  assert.equal(reg.status, 503);
  assert.equal(reg.headers['retry-after'], '7');
  assert.match(reg.body, /registration/);
  // Everything else keeps working, and Foreman is told what failed.
  assert.equal((await viaRouter('/tftp/serverName')).status, 200);
  assert.deepEqual(JSON.parse((await viaRouter('/features')).body), ['httpboot', 'logs', 'templates', 'tftp']);
  const v2 = JSON.parse((await viaRouter('/v2/features')).body) as Record<string, { state: string; https_enabled: boolean }>;
  assert.equal(v2.registration.state, 'failed');
  assert.equal(v2.registration.https_enabled, false);
  assert.equal(v2.httpboot.state, 'running');
});

test('an instance restarted on another feature set is picked up without touching the router', async () => {
  // b comes back on the same port running tftp besides registration (which needs templates)
  // instead of the client bundle.
  await startInstance('b', ['--only', 'registration,templates,tftp']);
  await waitFor('b relearned', async () => {
    const b = (await status()).find((s) => s.instance === origin('b'));
    return b?.health === 'up' && b.features.join() === 'logs,registration,templates,tftp';
  });
  assert.deepEqual(JSON.parse((await viaRouter('/features')).body), ['httpboot', 'logs', 'registration', 'templates', 'tftp']);
  assert.equal((await viaRouter('/register?activation_keys=ak')).status, 200);
  // tftp now runs on a and b: both take requests.
  const before = await status();
  for (let i = 0; i < 10; i++) assert.equal((await viaRouter('/tftp/serverName')).status, 200);
  const after = await status();
  for (const name of ['a', 'b'] as const) {
    const n = (after.find((s) => s.instance === origin(name))?.requests ?? 0) - (before.find((s) => s.instance === origin(name))?.requests ?? 0);
    assert.ok(n > 0, `tftp requests to ${name}: ${n}`);
  }
  // a restarted without httpboot: httpboot is gone from the fleet (404, not 503: nobody runs it).
  await stopInstance('a');
  await startInstance('a', ['--only', 'tftp']);
  await waitFor('a relearned', async () => (await status()).find((s) => s.instance === origin('a'))?.features.join() === 'logs,tftp');
  assert.equal((await viaRouter('/httpboot/grubx64.efi')).status, 404);
  assert.deepEqual(JSON.parse((await viaRouter('/features')).body), ['logs', 'registration', 'templates', 'tftp']);
  const metrics = await viaRouter('/router/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /smart_proxy_router_unavailable_total\{feature="registration"\} 1/);
  assert.match(metrics.body, new RegExp(`smart_proxy_router_instance_up\\{instance="${origin('c')}"\\} 1`));
});

test('an instance gone before the router noticed: its requests fail over to the other instance', async () => {
  // A second router that checks only once an hour, so only the failed connection can tell it.
  const slowDir = join(dir, 'router-slow');
  const routerClient = await pki.client('router.example.com');
  await writeSettingsDir(
    slowDir,
    { ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert, bind_host: ['127.0.0.1'], https_port: 0, log_file: join(dir, 'router-slow.log') },
    { router: { instances: [origin('a'), origin('d')], health_check_interval: 3600, upstream_ssl_certificate: routerClient.cert, upstream_ssl_private_key: routerClient.key } },
  );
  await startInstance('d', ['--only', 'tftp']);
  const slow = await startProxyProcess(['router', '--settings', slowDir]);
  try {
    const get = (path: string) => fetchUrl(`https://127.0.0.1:${portOf(slow, 'https')}${path}`, { tls: { ca: pki.caCert, ...foremanClient } });
    for (let i = 0; i < 4; i++) assert.equal((await get('/tftp/serverName')).status, 200);
    // The router closes its idle keep-alive connections after 4 s; with none open, d's stop
    // reaches the router only through the next request's refused connection.
    await new Promise((r) => setTimeout(r, 5500));
    await stopInstance('d');
    for (let i = 0; i < 6; i++) assert.equal((await get('/tftp/serverName')).status, 200);
    const metrics = (await get('/router/metrics')).body;
    assert.match(metrics, /smart_proxy_router_failovers_total\{feature="tftp"\} 1\n/);
    assert.match(metrics, new RegExp(`smart_proxy_router_instance_up\\{instance="${origin('d')}"\\} 0`));
  } finally {
    await slow.stop();
  }
});

test('an instance too slow to answer: 504 naming it, and it stays in service (stand-in instance)', async () => {
  // A stand-in for an instance whose backend hangs: it announces bmc like a proxy does, and
  // answers /bmc calls only after 3 s.
  const routerClient = await pki.client('router.example.com');
  const slowInstance = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (req, res) => {
    const json = (body: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url === '/v2/features') return json({ bmc: { http_enabled: true, https_enabled: true, settings: {}, state: 'running', capabilities: [] } });
    if (req.url === '/version') return json({ version: '3.13.0', modules: { bmc: '3.13.0' } });
    const timer = setTimeout(() => json({ late: true }), 3000);
    res.on('close', () => clearTimeout(timer));
  });
  slowInstance.listen(0, '127.0.0.1');
  await once(slowInstance, 'listening');
  const slowOrigin = `https://127.0.0.1:${(slowInstance.address() as { port: number }).port}`;
  const slowDir = join(dir, 'router-504');
  await writeSettingsDir(
    slowDir,
    { ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert, bind_host: ['127.0.0.1'], https_port: 0, log_file: join(dir, 'router-504.log') },
    { router: { instances: [slowOrigin], response_timeout: 0.5, upstream_ssl_certificate: routerClient.cert, upstream_ssl_private_key: routerClient.key } },
  );
  const slow = await startProxyProcess(['router', '--settings', slowDir]);
  try {
    const get = (path: string) => fetchUrl(`https://127.0.0.1:${portOf(slow, 'https')}${path}`, { tls: { ca: pki.caCert, ...foremanClient } });
    const r = await get('/bmc/host/power');
    assert.equal(r.status, 504);
    assert.equal(r.body, `Instance ${slowOrigin} did not answer GET /bmc/host/power within 0.5 s`);
    // Slow is not down: bmc is still announced and routed there.
    assert.deepEqual(JSON.parse((await get('/features')).body), ['bmc']);
  } finally {
    await slow.stop();
    slowInstance.closeAllConnections();
    slowInstance.close();
  }
});

test('bad router settings stop the start with the file and key named', async () => {
  const cases: [Record<string, unknown> | undefined, RegExp][] = [
    [undefined, /settings\.d\/router\.yml: file not found/],
    [{ health_check_interval: 1 }, /settings\.d\/router\.yml: instances: is required/],
    [{ instances: ['ftp://127.0.0.1:1'] }, /settings\.d\/router\.yml: instances\[0\]: must be an http:\/\/ or https:\/\/ URL/],
    [{ instances: ['https://127.0.0.1:1/some/path'] }, /router\.yml: instances\[0\]: must be a base URL without a path/],
    [{ instances: ['https://127.0.0.1:1'], health_check_interval: 0 }, /router\.yml: health_check_interval: router: health_check_interval must be a number of seconds above 0|router\.yml: health_check_interval: must be a number of seconds above 0/],
    [{ instances: ['https://127.0.0.1:1'], balance: 'random' }, /router\.yml: balance: Parameter 'balance' must be one of least-busy, round-robin/],
    [{ instances: ['https://127.0.0.1:1'], instance: 'typo' }, /router\.yml: instance: unknown setting/],
    [{ instances: ['https://127.0.0.1:1'], upstream_ssl_ca: '/nonexistent/ca.pem' }, /router\.yml: upstream_ssl_ca: File at '\/nonexistent\/ca\.pem'/],
  ];
  for (const [i, [file, expected]] of cases.entries()) {
    const bad = join(dir, `bad-${i}`);
    await writeSettingsDir(bad, { https_port: 0, bind_host: ['127.0.0.1'], ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert, log_file: join(bad, 'router.log') }, file ? { router: file } : {});
    const r = await runProxyCli(['router', '--settings', bad]);
    assert.equal(r.code, 1, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, expected, `case ${i}`);
  }
  const help = await runProxyCli(['router', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /settings\.d\/router\.yml/);
});

test('behind the router, host-certificate paths see the host, not the router (OpenSCAP, stand-in Foreman)', async () => {
  // An instance running openscap that trusts the router as a front end: listed by address in
  // trusted_proxies and known by its certificate in trusted_hosts.
  const scapPort = await freeTcpPort();
  const scapDir = join(dir, 'scap');
  await writeSettingsDir(
    scapDir,
    {
      ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert,
      bind_host: ['127.0.0.1'], https_port: scapPort,
      trusted_hosts: ['foreman.example.com', 'router.example.com'],
      trusted_proxies: ['127.0.0.1'],
      foreman_url: `http://127.0.0.1:${(standInForeman.address() as { port: number }).port}`,
      log_file: join(dir, 'scap.log'),
    },
    { openscap: { enabled: 'https', spooldir: join(dir, 'scap-spool'), reportsdir: join(dir, 'scap-reports'), failed_dir: join(dir, 'scap-failed'), corrupted_dir: join(dir, 'scap-corrupted'), upload_wait: 5 } },
  );
  const scapRouterDir = join(dir, 'router-scap');
  const routerClient = await pki.client('router.example.com');
  await writeSettingsDir(
    scapRouterDir,
    { ssl_certificate: pki.serverCert, ssl_private_key: pki.serverKey, ssl_ca_file: pki.caCert, bind_host: ['127.0.0.1'], https_port: 0, trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'router-scap.log') },
    { router: { instances: [`https://127.0.0.1:${scapPort}`], health_check_interval: 0.5, upstream_ssl_certificate: routerClient.cert, upstream_ssl_private_key: routerClient.key } },
  );
  const scap = await startProxyProcess(['--settings', scapDir, '--only', 'openscap']);
  const front = await startProxyProcess(['router', '--settings', scapRouterDir]);
  try {
    const host1 = await pki.client('host1.example.com');
    const host2 = await pki.client('host2.example.com');
    const call = (base: string, who: { cert: string; key: string }, method: string, path: string, extra: { body?: Buffer; headers?: Record<string, string> } = {}) =>
      fetchUrl(`${base}${path}`, { method, tls: { ca: pki.caCert, ...who }, body: extra.body, headers: { 'content-type': 'application/x-bzip2', ...extra.headers } });
    const viaFront = `https://127.0.0.1:${portOf(front, 'https')}`;
    const direct = `https://127.0.0.1:${scapPort}`;
    await waitFor('the router to learn openscap', async () => (await call(viaFront, foremanClient, 'GET', '/features')).body.includes('openscap'));
    const upload = async (base: string, headers: Record<string, string> = {}): Promise<(typeof foremanSaw)[number]> => {
      const before = foremanSaw.length;
      const res = await call(base, host1, 'POST', '/compliance/arf/5', { body: await bzip2(makeArf({ rules: 3 })), headers });
      assert.equal(res.status, 200, res.body);
      const sent = foremanSaw.slice(before).find((r) => r.url.startsWith('/api/v2/compliance/arf_reports/'));
      assert.ok(sent, 'the report reached Foreman');
      return sent;
    };
    // The report is filed under the host's certificate, not the router's; a forged header from
    // the host changes nothing, through the router or straight to the instance.
    const sent = await upload(viaFront);
    assert.match(sent.url, /^\/api\/v2\/compliance\/arf_reports\/host1\.example\.com\/5\/\d+$/);
    assert.match((await upload(viaFront, { 'x-client-certificate-cn': 'host2.example.com' })).url, /arf_reports\/host1\.example\.com\//);
    assert.match((await upload(direct, { 'x-client-certificate-cn': 'host2.example.com' })).url, /arf_reports\/host1\.example\.com\//);

    // Only the host itself and Foreman may read the report; another host may not, although the
    // router (whose certificate the instance trusts) carried the request.
    // The stand-in answered the upload with its position in foremanSaw as the report id.
    const id = foremanSaw.indexOf(sent) + 1;
    const digest = (JSON.parse(sent.body) as { digest: string }).digest;
    const report = `/compliance/arf/${id}/host1.example.com/${sent.url.split('/').pop() as string}/${digest}/xml`;
    assert.equal((await call(viaFront, host1, 'GET', report)).status, 200);
    assert.equal((await call(viaFront, foremanClient, 'GET', report)).status, 200);
    const other = await call(viaFront, host2, 'GET', report);
    assert.equal(other.status, 403, other.body);
    assert.match(other.body, /Untrusted client host2\.example\.com/);
  } finally {
    await front.stop();
    await scap.stop();
  }
});
