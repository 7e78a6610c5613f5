// /dhcp through the whole binary over real TLS: Foreman's client certificate gets the subnets,
// a client without a trusted certificate gets 403.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { tempDir, removeDir } from '../lib/procs.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';

let dir: string;
let pki: Pki;
let proxy: ProxyProcess;

before(async () => {
  dir = await tempDir('spisc-tls');
  pki = await makePki(dir);
  await writeFile(join(dir, 'dhcpd.conf'), 'subnet 192.168.122.0 netmask 255.255.255.0 {\n  option routers 192.168.122.1;\n}\n');
  await writeFile(join(dir, 'dhcpd.leases'), '');
  const settings = join(dir, 'settings');
  await writeSettingsDir(
    settings,
    {
      ...httpsSettings(pki),
      trusted_hosts: ['foreman.example.com'],
      log_file: join(settings, 'proxy.log'),
    },
    {
      dhcp: { ':enabled': 'https', ':ping_free_ip': false },
      dhcp_isc: { ':config': join(dir, 'dhcpd.conf'), ':leases': join(dir, 'dhcpd.leases') },
    },
  );
  proxy = await startProxyProcess(['--settings', settings]);
});

after(async () => {
  await proxy?.stop();
  await removeDir(dir);
});

test('Foreman lists subnets over HTTPS; others are refused', async () => {
  const url = `https://127.0.0.1:${portOf(proxy, 'https')}/dhcp`;
  const foreman = await pki.client('foreman.example.com');
  const ok = await fetchUrl(url, { tls: { ca: pki.caCert, ...foreman }, headers: { accept: 'application/json' } });
  assert.equal(ok.status, 200, ok.body);
  assert.deepEqual(JSON.parse(ok.body), [{ network: '192.168.122.0', netmask: '255.255.255.0', options: { routers: ['192.168.122.1'] } }]);
  const stranger = await pki.client('intruder.example.com');
  for (const tls of [{ ca: pki.caCert }, { ca: pki.caCert, ...stranger }]) {
    assert.equal((await fetchUrl(url, { tls })).status, 403);
  }
});
