// Instances and audiences (design.md §5): several processes from one settings directory, each
// running a subset of modules on its own listeners; a client-audience listener serving only the
// client-facing modules; a control-plane module on a client listener refused at start.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { tempDir, removeDir } from '../lib/procs.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { startProxyProcess, runProxyCli, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';

let dir: string;
let pki: Pki;
let foreman: Server;
let foremanPort: number;
let client: { cert: string; key: string };
const running: ProxyProcess[] = [];

function listener(name: string, scheme: 'http' | 'https', audience: 'foreman' | 'client', extra: Record<string, unknown> = {}) {
  return { name, scheme, audience, port: 0, bind: ['127.0.0.1'], ...extra };
}

before(async () => {
  dir = await tempDir('sp-inst');
  pki = await makePki(dir);
  client = await pki.client('foreman.example.com');
  // A stand-in Foreman (Foreman itself cannot run here) for the registration relay.
  foreman = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`registration script for ${req.url}`);
  });
  foreman.listen(0, '127.0.0.1');
  await once(foreman, 'listening');
  foremanPort = (foreman.address() as { port: number }).port;

  const root = join(dir, 'boot');
  await mkdir(root);
  await writeFile(join(root, 'grubx64.efi'), 'EFI-BINARY');
  await writeSettingsDir(
    dir,
    {
      ssl_certificate: pki.serverCert,
      ssl_private_key: pki.serverKey,
      ssl_ca_file: pki.caCert,
      foreman_url: `http://127.0.0.1:${foremanPort}`,
      log_file: join(dir, 'proxy.log'),
      listeners: [
        listener('dns-ctl', 'http', 'foreman'),
        listener('tftp-ctl', 'http', 'foreman'),
        listener('edge-ctl', 'https', 'foreman'),
        listener('edge-clients', 'http', 'client'),
        listener('bad-clients', 'http', 'client', { modules: ['templates', 'dns'] }),
      ],
    },
    {
      dns: ':enabled: true\n:use_provider: dns_nsupdate\n',
      dns_nsupdate: ':dns_server: 127.0.0.1:9\n',
      tftp: `:enabled: true\n:tftproot: ${root}\n`,
      templates: ':enabled: true\n:template_url: http://proxy.example.com:8000\n',
      registration: ':enabled: true\n:registration_url: https://proxy.example.com:8443/\n',
      httpboot: `:enabled: true\n:root_dir: ${root}\n`,
    },
  );
});

after(async () => {
  for (const p of running) await p.stop();
  foreman?.close();
  await removeDir(dir);
});

async function start(args: string[]): Promise<ProxyProcess> {
  const p = await startProxyProcess(['--settings', dir, ...args]);
  running.push(p);
  return p;
}

const http = (p: ProxyProcess, l: string, path: string) => fetchUrl(`http://127.0.0.1:${portOf(p, l)}${path}`);
const https = (p: ProxyProcess, l: string, path: string) => fetchUrl(`https://127.0.0.1:${portOf(p, l)}${path}`, { tls: { ca: pki.caCert, ...client } });

test('two instances from one settings directory report only their own features', async () => {
  const a = await start(['--only', 'dns', '--listeners', 'dns-ctl']);
  const b = await start(['--only', 'tftp', '--listeners', 'tftp-ctl']);
  assert.deepEqual(JSON.parse((await http(a, 'dns-ctl', '/features')).body), ['dns', 'logs']);
  assert.deepEqual(JSON.parse((await http(b, 'tftp-ctl', '/features')).body), ['logs', 'tftp']);
  const v2a = JSON.parse((await http(a, 'dns-ctl', '/v2/features')).body);
  assert.deepEqual(Object.keys(v2a).sort(), ['dns', 'logs']);
  const v2b = JSON.parse((await http(b, 'tftp-ctl', '/v2/features')).body);
  assert.deepEqual(Object.keys(v2b).sort(), ['logs', 'tftp']);
  // Each serves its own module and 404s the other's.
  assert.equal((await http(a, 'dns-ctl', '/tftp/serverName')).status, 404);
  assert.equal((await http(b, 'tftp-ctl', '/tftp/serverName')).status, 200);
  const versionA = JSON.parse((await http(a, 'dns-ctl', '/version')).body);
  assert.deepEqual(Object.keys(versionA.modules).sort(), ['dns', 'logs']);
});

test('client listener serves templates, registration and httpboot and 404s the control plane', async () => {
  const c = await start(['--bundle', 'client', '--listeners', 'edge-ctl,edge-clients']);
  assert.deepEqual(JSON.parse((await https(c, 'edge-ctl', '/features')).body), ['httpboot', 'logs', 'registration', 'templates']);

  const ts = await http(c, 'edge-clients', '/unattended/templateServer');
  assert.equal(ts.status, 200);
  assert.deepEqual(JSON.parse(ts.body), { templateServer: 'http://proxy.example.com:8000' });
  const reg = await http(c, 'edge-clients', '/register?activation_keys=ak');
  assert.equal(reg.status, 200);
  assert.match(reg.body, /^registration script for \/register\?/);
  const boot = await http(c, 'edge-clients', '/httpboot/grubx64.efi');
  assert.equal(boot.status, 200);
  assert.equal(boot.body, 'EFI-BINARY');

  for (const path of ['/v2/features', '/logs/', '/dns/', '/tftp/serverName', '/dhcp', '/puppet/ca', '/bmc/providers']) {
    const r = await http(c, 'edge-clients', path);
    assert.equal(r.status, 404, `${path} on the client listener`);
  }
  // The control-plane listener of the same instance keeps them (where the module runs here).
  const v2 = JSON.parse((await https(c, 'edge-ctl', '/v2/features')).body);
  assert.equal(v2.registration.settings.registration_url, 'https://proxy.example.com:8443');
  assert.equal((await https(c, 'edge-ctl', '/logs/')).status, 200);
});

test('a control-plane module on a client listener is refused at start', async () => {
  const r = await runProxyCli(['--settings', dir, '--listeners', 'bad-clients']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /listeners\.bad-clients\.modules: module 'dns' is a control-plane \(foreman audience\) module and cannot be served on client listener 'bad-clients'/);
  const check = await runProxyCli(['check', '--settings', dir]);
  assert.equal(check.code, 1);
  assert.match(check.stderr, /cannot be served on client listener 'bad-clients'/);
});

test('unknown bundle or module names are refused with a clear message', async () => {
  const r = await runProxyCli(['--settings', dir, '--bundle', 'everything']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown bundle 'everything'/);
  const o = await runProxyCli(['--settings', dir, '--only', 'dns,nonsense']);
  assert.equal(o.code, 1);
  assert.match(o.stderr, /unknown module 'nonsense' in --only/);
});
