// bmc, realm and facts over real HTTPS with client certificates and trusted_hosts, as Foreman
// reaches them: a trusted certificate gets through, none or an untrusted CN gets 403.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { tempDir, removeDir } from '../lib/procs.ts';
import { startIpaStandIn, type IpaStandIn } from '../realm/ipa-standin.ts';

let dir: string;
let pki: Pki;
let proxy: TestProxy;
let ipa: IpaStandIn;
let base: string;
let foreman: { cert: string; key: string };
let stranger: { cert: string; key: string };

before(async () => {
  dir = await tempDir('bmc-tls');
  pki = await makePki(dir);
  foreman = await pki.client('foreman.example.com');
  stranger = await pki.client('intruder.example.com');
  ipa = await startIpaStandIn({ user: 'realm-proxy', password: 'pw', realm: 'EXAMPLE.COM' });
  await writeFile(join(dir, 'default.conf'), `realm = EXAMPLE.COM\nxmlrpc_uri = ${ipa.origin}/ipa/xml\n`);
  proxy = await startTestProxy({
    global: {
      ...httpsSettings(pki),
      trusted_hosts: ['foreman.example.com'],
    },
    files: {
      bmc: { ':enabled': 'https' },
      facts: { ':enabled': 'https' },
      realm: { ':enabled': 'https' },
      realm_freeipa: { ':principal': 'realm-proxy', ':password': 'pw', ':ipa_config': join(dir, 'default.conf'), ':ipa_ca_file': ipa.certFile },
    },
  });
  const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https')!;
  base = `https://127.0.0.1:${https.addresses[0].port}`;
});

after(async () => {
  await proxy?.close();
  await ipa?.close();
  if (dir) await removeDir(dir);
});

test('with the trusted client certificate every module answers over TLS', async () => {
  const tls = { ca: pki.caCert, ...foreman };
  const providers = await fetchUrl(`${base}/bmc/providers`, { tls });
  assert.equal(providers.status, 200, providers.body);
  const status = await fetchUrl(`${base}/bmc/localhost/chassis/power/status?bmc_provider=shell`, { tls });
  assert.deepEqual(JSON.parse(status.body), { action: 'status', result: 'on' });
  const kernel = await fetchUrl(`${base}/facts/kernel`, { tls });
  assert.deepEqual(JSON.parse(kernel.body), { kernel: 'Linux' });
  const realm = await fetchUrl(`${base}/realm/EXAMPLE.COM/`, {
    tls,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'hostname=tls.example.com',
  });
  assert.equal(realm.status, 200, realm.body);
  assert.equal(typeof (JSON.parse(realm.body) as { randompassword: unknown }).randompassword, 'string');
});

test('no client certificate or an untrusted CN is refused with 403', async () => {
  for (const path of ['/bmc/providers', '/facts/kernel', '/realm/EXAMPLE.COM/x.example.com']) {
    const none = await fetchUrl(`${base}${path}`, { tls: { ca: pki.caCert } });
    assert.equal(none.status, 403, path);
    const other = await fetchUrl(`${base}${path}`, { tls: { ca: pki.caCert, ...stranger } });
    assert.equal(other.status, 403, path);
    assert.match(other.body, /Untrusted client intruder\.example\.com/);
  }
});
