// /ipam's authorization (the plugin checks nothing: any host reaching the port could reserve and
// release addresses) and its settings files as the plugin's installer writes them.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy } from '../../src/core/testing.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { startNetBoxStandIn, type NetBoxStandIn } from '../lib/netbox-standin.ts';
import { removeDir, tempDir } from '../lib/procs.ts';

let dir: string;
let pki: Pki;
let netbox: NetBoxStandIn;

before(async () => {
  dir = await tempDir('ipam-auth');
  pki = await makePki(dir);
  netbox = await startNetBoxStandIn();
  netbox.addPrefix('192.0.2.0/24');
});

after(async () => {
  await netbox?.close();
  if (dir) await removeDir(dir);
});

test('NetBox stand-in: over HTTPS only trusted client certificates reach /ipam; others get 403 and NetBox sees nothing', async (t) => {
  const proxy = await startTestProxy({
    global: { ...httpsSettings(pki), trusted_hosts: ['foreman.test'] },
    files: {
      externalipam: { enabled: 'https', use_provider: 'externalipam_netbox' },
      externalipam_netbox: { url: netbox.url, token: netbox.token },
    },
  });
  t.after(() => proxy.close());
  const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
  const base = `https://127.0.0.1:${https?.addresses[0]?.port}`;
  const foreman = await pki.client('foreman.test');
  const stranger = await pki.client('stranger.test');

  const seen = netbox.requests.length;
  const anonymous = await fetchUrl(`${base}/ipam/subnet/192.0.2.0/24/192.0.2.9?group=`, { method: 'POST', tls: { ca: pki.caCert } });
  assert.equal(anonymous.status, 403);
  const untrusted = await fetchUrl(`${base}/ipam/subnet/192.0.2.0/24/192.0.2.9?group=`, { method: 'POST', tls: { ca: pki.caCert, cert: stranger.cert, key: stranger.key } });
  assert.equal(untrusted.status, 403);
  assert.equal(netbox.requests.length, seen);
  assert.equal(netbox.ipAddresses.length, 0);

  const trusted = await fetchUrl(`${base}/ipam/subnet/192.0.2.0/24/192.0.2.9?group=`, { method: 'POST', tls: { ca: pki.caCert, cert: foreman.cert, key: foreman.key } });
  assert.equal(trusted.status, 201);
  assert.deepEqual(netbox.ipAddresses.map((a) => a.address), ['192.0.2.9/24']);
});

test("NetBox stand-in: the plugin's example files load as written (leading colons); a missing token fails the module naming it", async (t) => {
  const ok = await startTestProxy({
    files: {
      externalipam: '---\n:enabled: true\n:use_provider: externalipam_netbox\n',
      externalipam_netbox: `---\n:url: '${netbox.url}'\n:token: '${netbox.token}'\n`,
    },
  });
  t.after(() => ok.close());
  assert.equal((await ok.request('GET', '/ipam/subnet/192.0.2.0/24?group=')).status, 200);

  const broken = await startTestProxy({
    files: { externalipam: '---\n:enabled: true\n:use_provider: externalipam_netbox\n', externalipam_netbox: `---\n:url: '${netbox.url}'\n` },
  });
  t.after(() => broken.close());
  const features = JSON.parse((await broken.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
  assert.equal(features.externalipam.state, 'failed');
  const logs = JSON.parse((await broken.request('GET', '/logs/')).body) as { info: { failed_modules: Record<string, string> } };
  assert.match(JSON.stringify(logs.info.failed_modules), /token/);
});
