// Values Kea cannot hold or would store differently from what was posted, through the proxy's API
// against a real kea-dhcp4 (harness.ts). Kea 2.2 writes every byte above 0x7f of a string back as
// a separate \u00XX character, again at each later config-set, until the value outgrows its limit
// and every later write fails; and it refuses a boot-file-name over 127 bytes or a server-hostname
// over 63. Each is refused with 400 naming the field before Kea is asked, together with the values
// refused for both providers (module validation), and nothing reaches Kea's configuration.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { keaProxyFiles, startKeaLab, type KeaLab } from './harness.ts';

let lab: KeaLab;
let proxy: TestProxy;
const NET = '192.168.122.0';

before(async () => {
  lab = await startKeaLab();
  proxy = await startTestProxy({ files: keaProxyFiles(lab, { ':timeout': 5, ':config_write': false, ':config_cache_seconds': 0 }) });
});

after(async () => {
  await proxy?.close();
  await lab?.close();
});

async function configReservations(): Promise<Array<Record<string, unknown>>> {
  const r = await lab.agent('config-get');
  assert.equal(r.result, 0, r.text);
  const cfg = r.arguments as { Dhcp4: { subnet4: Array<{ reservations?: Array<Record<string, unknown>> }> } };
  return cfg.Dhcp4.subnet4[0].reservations ?? [];
}

test('values Kea cannot hold unchanged get 400 naming the field; Kea keeps taking writes', async () => {
  const stored = JSON.stringify(await configReservations());
  const base = { network: NET, name: 'h.example.test', hostname: 'h.example.test', mac: '52:54:00:6b:00:01', ip: '192.168.122.30' };
  const hostile: Array<[string, string]> = [
    ['filename', 'pxe\u00e9.efi'],
    ['filename', 'f'.repeat(128)],
    ['filename', 'a"b'],
    ['hostname', 'h\u00e9.example.test'],
    ['hostname', 'x"; option routers 127.0.0.9; "y'],
    ['name', 'a{b.example.test'],
    ['nextServer', `${'t'.repeat(60)}.example`],
    ['nextServer', 'a,b.example.test'],
    ['ztp_vendor', 'hu\u00e9wei'],
  ];
  for (const [field, value] of hostile) {
    const r = await proxy.request('POST', `/dhcp/${NET}`, { body: { ...base, [field]: value } });
    assert.equal(r.status, 400, `${field}=${JSON.stringify(value)} answered ${r.status} ${r.body}`);
    assert.ok(r.body.startsWith(`Invalid ${field}: `), `${field}=${JSON.stringify(value)}: ${r.body}`);
  }
  assert.equal(JSON.stringify(await configReservations()), stored, 'nothing reached Kea');

  // Values at Kea's limits are stored and read back as posted, so re-posting them is a no-op.
  const fine = { ...base, filename: 'f'.repeat(127), nextServer: `${'t'.repeat(55)}.example`, ztp_vendor: 'huawei' };
  const created = await proxy.request('POST', `/dhcp/${NET}`, { body: fine });
  assert.equal(created.status, 200, created.body);
  const back = JSON.parse((await proxy.request('GET', `/dhcp/${NET}/mac/${base.mac}`)).body) as Record<string, unknown>;
  assert.deepEqual([back.filename, back.nextServer, back.ztp_vendor], [fine.filename, fine.nextServer, 'huawei']);
  assert.equal((await proxy.request('POST', `/dhcp/${NET}`, { body: fine })).status, 200);
  const other = await proxy.request('POST', `/dhcp/${NET}`, { body: { ...base, name: 'h2.example.test', hostname: 'h2.example.test', mac: '52:54:00:6b:00:02', ip: '192.168.122.31' } });
  assert.equal(other.status, 200, other.body);
});
