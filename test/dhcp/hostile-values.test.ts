// Values dhcpd cannot write back to dhcpd.leases, against a real dhcpd (isc-env.ts): dhcpd writes
// a host's name unquoted and its quoted values unescaped, so before this check a hostname such as
// `x"; option routers 127.0.0.9; …` came back after a restart as live statements, a name with `{`
// made dhcpd drop every later host, and a value ending in `\` stopped the proxy's leases reader.
// Every such value is refused with 400 naming the field, and a dhcpd restart keeps every
// reservation made before and after the attempts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { envProxyFiles, startIscEnv, type IscEnv } from './isc-env.ts';
import { waitFor } from '../lib/procs.ts';

let env: IscEnv;
let proxy: TestProxy;
const NET = '192.168.122.0';

before(async () => {
  env = await startIscEnv();
  await env.startDhcpd();
  proxy = await startTestProxy({ files: envProxyFiles(env, 5) });
});

after(async () => {
  await proxy?.close();
  await env?.close();
});

type Reservation = { name: string; ip: string; mac: string; hostname?: string; filename?: string; nextServer?: string };

async function reservations(): Promise<Reservation[]> {
  const r = await proxy.request('GET', `/dhcp/${NET}`);
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body).reservations as Reservation[]).sort((a, b) => a.name.localeCompare(b.name));
}

async function create(form: Record<string, string>): Promise<void> {
  const r = await proxy.request('POST', `/dhcp/${NET}`, { body: { network: NET, ...form } });
  assert.equal(r.status, 200, `${JSON.stringify(form)}: ${r.body}`);
}

test('values dhcpd cannot write back get 400 naming the field; a dhcpd restart keeps every reservation', async () => {
  const before1 = { name: 'before1.example.test', hostname: 'before1.example.test', mac: '52:54:00:5a:00:01', ip: '192.168.122.10', nextServer: '192.168.122.2', filename: 'pxelinux.0' };
  await create(before1);
  await create({ name: 'before2.example.test', hostname: 'before2.example.test', mac: '52:54:00:5a:00:02', ip: '192.168.122.11' });

  const base = { mac: '52:54:00:5a:00:66', ip: '192.168.122.66', hostname: 'ok.example.test' };
  const hostile: Array<[string, string]> = [
    ['hostname', 'x"; option routers 127.0.0.9; next-server 127.0.0.9; "y'],
    ['hostname', 'abc\\'],
    ['filename', 'pxelinux"; option routers 127.0.0.9; "'],
    ['filename', 'grubx64.efi\\'],
    ['name', 'with space.example.test'],
    ['name', 'a{b.example.test'],
    ['name', 'a}b.example.test'],
    ['name', 'a;b.example.test'],
    ['name', 'a#b.example.test'],
    ['nextServer', 'tftp"x'],
    ['nextServer', 'tftp\\'],
    ['<SUNW.Ultra-5_10>root_path_name', '/export/root\\'],
  ];
  for (const [field, value] of hostile) {
    const r = await proxy.request('POST', `/dhcp/${NET}`, { body: { network: NET, ...base, [field]: value } });
    assert.equal(r.status, 400, `${field}=${JSON.stringify(value)} answered ${r.status} ${r.body}`);
    assert.ok(r.body.startsWith(`Invalid ${field}: `), `${field}=${JSON.stringify(value)}: ${r.body}`);
  }
  assert.equal((await proxy.request('GET', `/dhcp/${NET}/mac/${base.mac}`)).status, 404);

  const after1 = { name: 'after1.example.test-01', hostname: 'after1.example.test', mac: '52:54:00:5a:00:03', ip: '192.168.122.12', filename: 'grub2/grubx64.efi' };
  await create(after1);
  await create({ name: 'after2', hostname: 'after2.example.test', mac: '52:54:00:5a:00:04', ip: '192.168.122.13' });

  const seenBefore = await reservations();
  assert.deepEqual(
    seenBefore.map((r) => r.name),
    ['after1.example.test-01', 'after2', 'before1.example.test', 'before2.example.test'],
  );

  const oldInode = (await stat(env.leases)).ino;
  await env.stopDhcpd();
  await env.startDhcpd();
  // dhcpd rewrites its leases file at start-up; a client's lease appended to the new file shows
  // that the proxy re-read it to the end.
  await waitFor('dhcpd to rewrite its leases file', async () => (await stat(env.leases)).ino !== oldInode);
  const dynamicMac = '52:54:00:5a:00:99';
  const dynamic = await env.dhclient(dynamicMac);
  assert.ok(dynamic, 'an unknown client still gets a pool address');
  await waitFor('the new lease to be visible through the API', async () => {
    const r = await proxy.request('GET', `/dhcp/${NET}/mac/${dynamicMac}`);
    return r.status === 200 && JSON.parse(r.body).ip === dynamic.ip;
  });
  assert.deepEqual(await reservations(), seenBefore);

  // dhcpd still serves the hosts reserved before and after the attempts.
  assert.deepEqual(await env.dhclient(before1.mac), { ip: before1.ip, nextServer: before1.nextServer, filename: before1.filename });
  const lease = await env.dhclient(after1.mac);
  assert.deepEqual({ ip: lease?.ip, filename: lease?.filename }, { ip: after1.ip, filename: after1.filename });
});
