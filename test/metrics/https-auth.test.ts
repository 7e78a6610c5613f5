// Authorization of the metrics module over HTTPS, with the proxy as a real process: a scraper
// listed in scrape_addresses reads /metrics without a client certificate; the status page still
// needs a trusted certificate; and the listed address opens nothing else of the proxy.

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
let trusted: { cert: string; key: string };
let stranger: { cert: string; key: string };

before(async () => {
  dir = await tempDir('metrics-https');
  pki = await makePki(dir);
  trusted = await pki.client('foreman.example.com');
  stranger = await pki.client('intruder.example.com');
  await writeSettingsDir(
    dir,
    { ...httpsSettings(pki), trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'proxy.log') },
    { metrics: { ':enabled': true, ':scrape_addresses': ['127.0.0.1'] } },
  );
  proxy = await startProxyProcess(['--settings', dir]);
});

after(async () => {
  await proxy?.stop();
  if (dir) await removeDir(dir);
});

const url = (path: string): string => `https://127.0.0.1:${portOf(proxy, 'https')}${path}`;

test('a listed scraper reads /metrics over HTTPS without a client certificate', async () => {
  const r = await fetchUrl(url('/metrics'), { tls: { ca: pki.caCert } });
  assert.equal(r.status, 200);
  assert.match(r.body, /^# TYPE smart_proxy_http_requests_total counter$/m);
  assert.match(r.body, /^smart_proxy_process_resident_memory_bytes \d+$/m);
});

test('the status page needs a trusted client certificate, as every module', async () => {
  const none = await fetchUrl(url('/status'), { tls: { ca: pki.caCert } });
  assert.equal(none.status, 403);
  assert.equal(none.body, 'could not read client cert from environment');
  const untrusted = await fetchUrl(url('/status.json'), { tls: { ca: pki.caCert, ...stranger } });
  assert.equal(untrusted.status, 403);
  assert.match(untrusted.body, /^Untrusted client intruder\.example\.com attempted to access/);
  const ok = await fetchUrl(url('/status'), { tls: { ca: pki.caCert, ...trusted } });
  assert.equal(ok.status, 200);
  assert.match(ok.body, /<tr data-module="metrics" data-state="running">/);
});

test('a listed scraper address opens nothing else: /logs still needs the certificate', async () => {
  const r = await fetchUrl(url('/logs'), { tls: { ca: pki.caCert } });
  assert.equal(r.status, 403);
  // metrics is not a Foreman feature.
  const features = await fetchUrl(url('/features'), { tls: { ca: pki.caCert } });
  assert.deepEqual(JSON.parse(features.body), ['logs']);
});
