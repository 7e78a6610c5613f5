// The DHCP module with the dhcp_isc provider against a real ISC dhcpd (OMAPI, HMAC-MD5 key) in a
// network namespace this test creates, and a real DHCP client (dhclient) in a second namespace.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { envProxyFiles, startIscEnv, type IscEnv } from './isc-env.ts';
import { waitFor } from '../lib/procs.ts';

let env: IscEnv;
let proxy: TestProxy;
const NET = '192.168.122.0';

before(async () => {
  env = await startIscEnv({
    extraConf: [
      'host static1 {',
      '  hardware ethernet 52:54:00:00:00:01;',
      '  fixed-address 192.168.122.5;',
      '}',
    ].join('\n'),
  });
  await env.startDhcpd();
  proxy = await startTestProxy({ files: envProxyFiles(env, 3) });
});

after(async () => {
  await proxy?.close();
  await env?.close();
});

async function hostsInLeases(name: string): Promise<{ created: number; deleted: number }> {
  const text = await readFile(env.leases, 'utf8');
  let created = 0;
  let deleted = 0;
  const marker = `host ${name} {`;
  let i = text.indexOf(marker);
  while (i !== -1) {
    const end = text.indexOf('}', i);
    if (text.slice(i, end).includes('deleted;')) deleted++;
    else created++;
    i = text.indexOf(marker, i + 1);
  }
  return { created, deleted };
}

test('GET /dhcp lists the subnet with its options', async () => {
  const r = await proxy.request('GET', '/dhcp');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /application\/json/);
  assert.deepEqual(JSON.parse(r.body), [
    {
      network: NET,
      netmask: '255.255.255.0',
      options: {
        routers: ['192.168.122.1'],
        domain_name: [['example.test']],
        domain_name_servers: ['192.168.122.1'],
        range: ['192.168.122.100', '192.168.122.199'],
      },
    },
  ]);
});

test('a dhcpd.conf host is listed, not deletable', async () => {
  const r = await proxy.request('GET', `/dhcp/${NET}/mac/52:54:00:00:00:01`);
  assert.equal(r.status, 200);
  const rec = JSON.parse(r.body);
  assert.equal(rec.ip, '192.168.122.5');
  assert.equal(rec.deleteable, false);
  assert.equal(rec.hostname, 'static1');
  const d = await proxy.request('DELETE', `/dhcp/${NET}/mac/52:54:00:00:00:01`);
  assert.equal(d.status, 400);
  assert.equal(d.body, 'static1 (192.168.122.5 / 52:54:00:00:00:01) is static - unable to delete');
});

test('create → a real client gets exactly that address, next-server and filename; delete → it does not', async () => {
  const mac = '52:54:00:aa:bb:01';
  const form = {
    hostname: 'client1.example.test',
    name: 'client1.example.test',
    mac,
    ip: '192.168.122.10',
    network: NET,
    nextServer: '192.168.122.2',
    filename: 'pxelinux.0',
  };
  const c = await proxy.request('POST', `/dhcp/${NET}`, { body: form });
  assert.equal(c.status, 200, c.body);
  assert.equal(c.body, '');

  const byMac = await proxy.request('GET', `/dhcp/${NET}/mac/${mac}`);
  assert.equal(byMac.status, 200);
  const rec = JSON.parse(byMac.body);
  assert.deepEqual(
    { name: rec.name, ip: rec.ip, mac: rec.mac, subnet: rec.subnet, type: rec.type, deleteable: rec.deleteable },
    { name: 'client1.example.test', ip: '192.168.122.10', mac, subnet: `${NET}/255.255.255.0`, type: 'reservation', deleteable: true },
  );
  assert.equal(rec.nextServer, '192.168.122.2');
  assert.equal(rec.filename, 'pxelinux.0');

  const lease = await env.dhclient(mac);
  assert.deepEqual(lease, { ip: '192.168.122.10', nextServer: '192.168.122.2', filename: 'pxelinux.0' });

  // The same POST again is a no-op success (the reference answers 409 here, which breaks Foreman).
  const again = await proxy.request('POST', `/dhcp/${NET}`, { body: form });
  assert.equal(again.status, 200, again.body);
  // A different host on the same address is a conflict.
  const other = await proxy.request('POST', `/dhcp/${NET}`, { body: { ...form, mac: '52:54:00:aa:bb:99', name: 'x', hostname: 'x' } });
  assert.equal(other.status, 409);
  assert.equal(other.body, `Record ${NET}/192.168.122.10 already exists`);

  const d = await proxy.request('DELETE', `/dhcp/${NET}/mac/${mac}`);
  assert.equal(d.status, 200, d.body);
  assert.equal((await proxy.request('GET', `/dhcp/${NET}/mac/${mac}`)).status, 404);
  assert.deepEqual(await hostsInLeases('client1.example.test'), { created: 1, deleted: 1 });
  // Deleting again is fine (Foreman's rollbacks tolerate records that are already gone).
  assert.equal((await proxy.request('DELETE', `/dhcp/${NET}/mac/${mac}`)).status, 200);

  const lease2 = await env.dhclient(mac);
  assert.ok(lease2, 'the client still gets a dynamic address');
  assert.notEqual(lease2.ip, '192.168.122.10');
  assert.equal(lease2.filename, undefined);

  // That dynamic lease is appended to dhcpd.leases by dhcpd and shows up through the watcher.
  await waitFor('lease of the client visible', async () => {
    const r = await proxy.request('GET', `/dhcp/${NET}`);
    return (JSON.parse(r.body).leases as Array<{ mac: string; ip: string }>).some((l) => l.mac === mac && l.ip === lease2.ip);
  });
  const asLease = JSON.parse((await proxy.request('GET', `/dhcp/${NET}/mac/${mac}`)).body);
  assert.equal(asLease.type, 'lease');
  assert.equal(asLease.state, 'active');
  assert.equal(asLease.name, `lease-${mac.replaceAll(':', '')}`);
  // A lease is not the proxy's to delete.
  const dl = await proxy.request('DELETE', `/dhcp/${NET}/ip/${lease2.ip}`);
  assert.equal(dl.status, 400);
  assert.equal(dl.body, `${lease2.ip} / ${mac} is static - unable to delete`);
});

test('50 concurrent creates of one reservation: exactly one created, the rest 200 or 409', async () => {
  const form = { hostname: 'race.example.test', name: 'race.example.test', mac: '52:54:00:cc:00:01', ip: '192.168.122.20', network: NET };
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      proxy.request('POST', `/dhcp/${NET}`, {
        // Every fifth request differs in its boot file: those must get 409, never overwrite.
        body: i % 5 === 4 ? { ...form, filename: 'other.efi' } : form,
      }),
    ),
  );
  const statuses = results.map((r) => r.status);
  assert.ok(statuses.every((s) => s === 200 || s === 409), statuses.join(','));
  const first = statuses.indexOf(200) >= 0;
  assert.ok(first);
  const winner = await proxy.request('GET', `/dhcp/${NET}/mac/52:54:00:cc:00:01`);
  const rec = JSON.parse(winner.body);
  for (let i = 0; i < 50; i++) {
    const identical = (i % 5 === 4) === (rec.filename === 'other.efi');
    assert.equal(statuses[i], identical ? 200 : 409, `request ${i}`);
  }
  const provider = (await hostsInLeases('race.example.test'));
  assert.deepEqual(provider, { created: 1, deleted: 0 });
});

test('50 concurrent creates of different reservations: none lost, none duplicated', async () => {
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      proxy.request('POST', `/dhcp/${NET}`, {
        body: {
          hostname: `many${i}.example.test`,
          mac: `52:54:00:dd:00:${i.toString(16).padStart(2, '0')}`,
          ip: `192.168.122.${30 + i}`,
          network: NET,
        },
      }),
    ),
  );
  assert.deepEqual(results.map((r) => r.status), Array(50).fill(200));
  for (let i = 0; i < 50; i++) assert.deepEqual(await hostsInLeases(`many${i}.example.test`), { created: 1, deleted: 0 });
  const recs = JSON.parse((await proxy.request('GET', `/dhcp/${NET}`)).body);
  const names = (recs.reservations as Array<{ name: string }>).map((r) => r.name).filter((n) => n.startsWith('many'));
  assert.equal(names.length, 50);
  assert.equal(new Set(names).size, 50);
});

test('unused_ip skips used addresses and holds its suggestions', async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5; i++) {
    const r = await proxy.request('GET', `/dhcp/${NET}/unused_ip?from=192.168.122.5&to=192.168.122.12`);
    assert.equal(r.status, 200);
    const ip = JSON.parse(r.body).ip as string | null;
    if (ip !== null) {
      assert.ok(!seen.has(ip), `suggested twice: ${ip}`);
      assert.notEqual(ip, '192.168.122.5');
      seen.add(ip);
    }
  }
  const bad = await proxy.request('GET', `/dhcp/${NET}/unused_ip?from=192.168.122.9&to=192.168.122.5`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body, "192.168.122.9 can't be lower IP address than 192.168.122.5 - change the order?");
});

test('dhcpd down → a clear error within the deadline; back up → works again', async () => {
  await env.stopDhcpd();
  const r = await proxy.request('POST', `/dhcp/${NET}`, {
    body: { hostname: 'down.example.test', mac: '52:54:00:ee:00:01', ip: '192.168.122.90', network: NET },
  });
  assert.equal(r.status, 400);
  assert.match(r.body, /^Failed to add DHCP reservation for down\.example\.test \(192\.168\.122\.90 \/ 52:54:00:ee:00:01\): No response from DHCP server/);
  await env.startDhcpd();
  const ok = await proxy.request('POST', `/dhcp/${NET}`, {
    body: { hostname: 'down.example.test', mac: '52:54:00:ee:00:01', ip: '192.168.122.90', network: NET },
  });
  assert.equal(ok.status, 200, ok.body);
});
