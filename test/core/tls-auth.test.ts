// The whole binary over real sockets: mutual TLS with a CA generated here, trusted_hosts by
// certificate CN, open root endpoints, and a module enabled for HTTP only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir, removeDir } from '../lib/procs.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';

let dir: string;
let pki: Pki;
let proxy: ProxyProcess;
let open: ProxyProcess; // same PKI, no trusted_hosts
let trusted: { cert: string; key: string };
let stranger: { cert: string; key: string };
let foreign: { cert: string; key: string };

async function settings(sub: string, extra: Record<string, unknown>): Promise<string> {
  const d = join(dir, sub);
  await writeSettingsDir(
    d,
    {
      ...httpsSettings(pki),
      http_port: 0,
      log_file: join(d, 'proxy.log'),
      ...extra,
    },
    { logs: ':enabled: http\n' },
  );
  return d;
}

before(async () => {
  dir = await tempDir('sp-tls');
  pki = await makePki(dir);
  trusted = await pki.client('foreman.example.com');
  stranger = await pki.client('intruder.example.com');
  foreign = await pki.client('foreman.example.com', { ca: await pki.otherCa() });
  proxy = await startProxyProcess(['--settings', await settings('a', { trusted_hosts: ['foreman.example.com'] })]);
  open = await startProxyProcess(['--settings', await settings('b', {})]);
});

after(async () => {
  await proxy?.stop();
  await open?.stop();
  await removeDir(dir);
});

const httpsUrl = (p: ProxyProcess, path: string): string => `https://127.0.0.1:${portOf(p, 'https')}${path}`;
const httpUrl = (p: ProxyProcess, path: string): string => `http://127.0.0.1:${portOf(p, 'http')}${path}`;

test('GET /features needs no client certificate', async () => {
  const r = await fetchUrl(httpsUrl(proxy, '/features'), { tls: { ca: pki.caCert } });
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), ['logs']);
  const v = await fetchUrl(httpsUrl(proxy, '/version'), { tls: { ca: pki.caCert } });
  assert.equal(v.status, 200);
  assert.deepEqual(Object.keys(JSON.parse(v.body).modules), ['logs']);
});

test('no client certificate → 403 on a protected endpoint, with the reference messages', async () => {
  const r = await fetchUrl(httpsUrl(proxy, '/v2/features'), { tls: { ca: pki.caCert } });
  assert.equal(r.status, 403);
  assert.equal(r.body, 'could not read client cert from environment');
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const o = await fetchUrl(httpsUrl(open, '/v2/features'), { tls: { ca: pki.caCert } });
  assert.equal(o.status, 403);
  assert.equal(o.body, 'No client SSL certificate supplied');
});

test('a certificate from another CA is refused at the handshake', async () => {
  await assert.rejects(fetchUrl(httpsUrl(proxy, '/features'), { tls: { ca: pki.caCert, ...foreign } }));
  // …and the listener keeps serving others.
  const r = await fetchUrl(httpsUrl(proxy, '/features'), { tls: { ca: pki.caCert, ...trusted } });
  assert.equal(r.status, 200);
});

test('CN not in trusted_hosts → 403; CN in the list → 200', async () => {
  const denied = await fetchUrl(httpsUrl(proxy, '/v2/features'), { tls: { ca: pki.caCert, ...stranger } });
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'Untrusted client intruder.example.com attempted to access /features. Check :trusted_hosts: in settings.yml');
  const ok = await fetchUrl(httpsUrl(proxy, '/v2/features'), { tls: { ca: pki.caCert, ...trusted } });
  assert.equal(ok.status, 200);
  const body = JSON.parse(ok.body);
  assert.equal(body.logs.state, 'running');
  assert.equal(body.logs.http_enabled, true);
  assert.equal(body.logs.https_enabled, false);
});

test('authorization runs before routing: 403 for an unknown path under a protected prefix', async () => {
  // logs is mounted on HTTP only here, so use the proxy whose HTTPS listener guards /v2/features.
  const r = await fetchUrl(httpsUrl(proxy, '/v2/features/nothing'), { tls: { ca: pki.caCert, ...stranger } });
  assert.equal(r.status, 403);
  assert.equal(r.body, 'Untrusted client intruder.example.com attempted to access /features/nothing. Check :trusted_hosts: in settings.yml');
  // The reference protects all of /v2, not only the routes it has.
  const other = await fetchUrl(httpsUrl(proxy, '/v2/other'), { tls: { ca: pki.caCert, ...stranger } });
  assert.equal(other.status, 403);
  assert.equal(other.body, 'Untrusted client intruder.example.com attempted to access /other. Check :trusted_hosts: in settings.yml');
});

test('a module enabled for http only is absent from the HTTPS listener', async () => {
  const viaHttps = await fetchUrl(httpsUrl(open, '/logs'), { tls: { ca: pki.caCert, ...trusted } });
  assert.equal(viaHttps.status, 404);
  assert.equal(viaHttps.body, 'Requested url was not found');
  const viaHttp = await fetchUrl(httpUrl(open, '/logs/?from_timestamp=0'));
  assert.equal(viaHttp.status, 200);
  const logs = JSON.parse(viaHttp.body);
  assert.equal(logs.info.size, 2000);
  assert.ok(logs.logs.some((e: { message: string }) => e.message.startsWith('Smart proxy has launched')));
});

test('unknown routes and wrong methods → 404 with the reference body', async () => {
  const r = await fetchUrl(httpUrl(open, '/features'), { method: 'DELETE' });
  assert.equal(r.status, 404);
  assert.equal(r.body, 'Requested url was not found');
});

test('SIGTERM exits 0', async () => {
  const p = await startProxyProcess(['--settings', join(dir, 'b')]);
  assert.equal(await p.stop(), 0);
});
