// HTTP contract of /dhcp (spec dhcp.md §1) with the dhcp_isc provider reading generated
// dhcpd.conf/dhcpd.leases files. Writes go to an OMAPI port nobody listens on, so only the
// validation and failure paths of POST are exercised here (test/dhcp/isc.test.ts has the rest).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, appendFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { freeTcpPort, removeDir, tempDir, waitFor } from '../lib/procs.ts';
import { iscProxyFiles } from './isc-env.ts';

let dir: string;
let proxy: TestProxy;
const NET = '192.168.122.0';

const CONF = `
subnet 192.168.122.0 netmask 255.255.255.0 {
  range 192.168.122.100 192.168.122.200;
  option routers 192.168.122.1;
  option domain-name "example.com";
  option domain-name-servers 192.168.122.1, 8.8.8.8;
  option ntp-servers 1.1.1.1;
  option interface-mtu 9000;
}
subnet 10.0.0.0 netmask 255.0.0.0 { }
host static.example.com {
  hardware ethernet 00:11:22:33:44:55;
  fixed-address 192.168.122.10;
  next-server 192.168.122.1;
  filename "pxelinux.0";
}
`;
const LEASES = `
lease 192.168.122.150 {
  starts 4 2024/01/04 10:00:00;
  ends 5 2199/01/05 10:00:00;
  cltt 4 2024/01/04 10:00:00;
  binding state active;
  next binding state free;
  hardware ethernet aa:bb:cc:dd:ee:ff;
  uid "\\001\\252\\273";
  client-hostname "foo";
}
host dyn.example.com {
  dynamic;
  hardware ethernet 52:54:00:00:00:02;
  fixed-address 192.168.122.11;
  supersede server.filename = "grubx64.efi";
  supersede server.next-server = c0:a8:7a:01;
  supersede host-name = "dyn.example.com";
}
`;

before(async () => {
  dir = await tempDir('spisc-api');
  await writeFile(join(dir, 'dhcpd.conf'), CONF);
  await writeFile(join(dir, 'dhcpd.leases'), LEASES);
  proxy = await startTestProxy({
    files: iscProxyFiles({ config: join(dir, 'dhcpd.conf'), leases: join(dir, 'dhcpd.leases'), omapiPort: await freeTcpPort(), omapiTimeout: 2 }),
  });
});

after(async () => {
  await proxy?.close();
  if (dir) await removeDir(dir);
});

test('v2/features: dhcp running with the ISC capabilities', async () => {
  const r = await proxy.request('GET', '/v2/features');
  const dhcp = JSON.parse(r.body).dhcp;
  assert.equal(dhcp.state, 'running');
  assert.deepEqual(dhcp.settings, { use_provider: 'dhcp_isc' });
  assert.deepEqual([...dhcp.capabilities].sort(), ['dhcp_filename_hostname', 'dhcp_filename_ipv4']);
});

test('GET /dhcp and /dhcp/ list subnets in file order with the reported options', async () => {
  for (const path of ['/dhcp', '/dhcp/']) {
    const r = await proxy.request('GET', path);
    assert.equal(r.status, 200);
    assert.equal(
      r.body,
      '[{"network":"192.168.122.0","netmask":"255.255.255.0","options":{"routers":["192.168.122.1"],"domain_name":[["example.com"]],' +
        '"domain_name_servers":["192.168.122.1","8.8.8.8"],"ntp_servers":[["1.1.1.1"]],"interface_mtu":9000,"range":["192.168.122.100","192.168.122.200"]}},' +
        '{"network":"10.0.0.0","netmask":"255.0.0.0","options":{}}]',
    );
  }
});

test('GET /dhcp/:network: reservations and leases in the reference shapes', async () => {
  const r = await proxy.request('GET', `/dhcp/${NET}`);
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'], /application\/json/);
  const body = JSON.parse(r.body);
  assert.deepEqual(body.reservations, [
    {
      name: 'static.example.com', ip: '192.168.122.10', mac: '00:11:22:33:44:55', subnet: '192.168.122.0/255.255.255.0',
      type: 'reservation', deleteable: false, hostname: 'static.example.com', hardware_type: 'ethernet', nextServer: '192.168.122.1', filename: 'pxelinux.0',
    },
    {
      name: 'dyn.example.com', ip: '192.168.122.11', mac: '52:54:00:00:00:02', subnet: '192.168.122.0/255.255.255.0',
      type: 'reservation', deleteable: true, hostname: 'dyn.example.com', hardware_type: 'ethernet', filename: 'grubx64.efi', nextServer: '192.168.122.1',
    },
  ]);
  assert.deepEqual(body.leases, [
    {
      name: 'lease-aabbccddeeff', ip: '192.168.122.150', mac: 'aa:bb:cc:dd:ee:ff', subnet: '192.168.122.0/255.255.255.0',
      starts: '2024-01-04 10:00:00 UTC', ends: '2199-01-05 10:00:00 UTC', state: 'active', type: 'lease',
      cltt: '2024-01-04 10:00:00 UTC', next_state: 'free', hardware_type: 'ethernet', uid: '"\\001\\252\\273"', client_hostname: '"foo"',
    },
  ]);
  // Another address of the subnet: empty lists (reference behaviour).
  assert.equal((await proxy.request('GET', '/dhcp/192.168.122.5')).body, '{"reservations":[],"leases":[]}');
  const bad = await proxy.request('GET', '/dhcp/192.168.122');
  assert.deepEqual([bad.status, bad.body], [400, 'Invalid IP Address 192.168.122']);
  const missing = await proxy.request('GET', '/dhcp/172.16.0.0');
  assert.deepEqual([missing.status, missing.body], [404, 'Subnet 172.16.0.0 could not found']);
  assert.equal((await proxy.request('HEAD', `/dhcp/${NET}`)).status, 200);
});

test('lookups by IP and MAC', async () => {
  const ip = await proxy.request('GET', `/dhcp/${NET}/ip/192.168.122.150`);
  assert.equal(ip.status, 200);
  assert.equal(JSON.parse(ip.body)[0].type, 'lease');
  const none = await proxy.request('GET', `/dhcp/${NET}/ip/192.168.122.151`);
  assert.deepEqual([none.status, none.body], [404, `No DHCP records for IP ${NET}/192.168.122.151 found`]);
  const mac = await proxy.request('GET', `/dhcp/${NET}/mac/00:11:22:33:44:55`);
  assert.equal(JSON.parse(mac.body).name, 'static.example.com');
  const upper = await proxy.request('GET', `/dhcp/${NET}/mac/AA:BB:CC:DD:EE:FF`);
  assert.equal(JSON.parse(upper.body).ip, '192.168.122.150');
  const badMac = await proxy.request('GET', `/dhcp/${NET}/mac/zz:bb`);
  assert.deepEqual([badMac.status, badMac.body], [400, 'Invalid MAC zz:bb']);
  const noMac = await proxy.request('GET', `/dhcp/${NET}/mac/00:00:00:00:00:01`);
  assert.deepEqual([noMac.status, noMac.body], [404, `No DHCP record for MAC ${NET}/00:00:00:00:00:01 found`]);
});

test('unused_ip: range checks, MAC reuse, and a free address', async () => {
  const mac = await proxy.request('GET', `/dhcp/${NET}/unused_ip?mac=aa:bb:cc:dd:ee:ff`);
  assert.equal(mac.body, '{"ip":"192.168.122.150"}');
  const free = JSON.parse((await proxy.request('GET', `/dhcp/${NET}/unused_ip?from=192.168.122.10&to=192.168.122.12`)).body);
  assert.equal(free.ip, '192.168.122.12');
  assert.equal((await proxy.request('GET', `/dhcp/${NET}/unused_ip?from=192.168.122.10&to=192.168.122.12`)).body, '{"ip":null}');
  const outside = await proxy.request('GET', `/dhcp/${NET}/unused_ip?from=10.0.0.1&to=10.0.0.5`);
  assert.deepEqual([outside.status, outside.body], [400, 'Range does not belong to provided subnet']);
  const badFrom = await proxy.request('GET', `/dhcp/${NET}/unused_ip?from=x&to=10.0.0.5`);
  assert.deepEqual([badFrom.status, badFrom.body], [400, 'Invalid IP Address x']);
  const badMac = await proxy.request('GET', `/dhcp/${NET}/unused_ip?mac=1`);
  assert.deepEqual([badMac.status, badMac.body], [400, 'Invalid MAC 1']);
});

test('POST validation in the reference order, and a dead dhcpd is a clear 400', async () => {
  const post = (body: Record<string, string>) => proxy.request('POST', `/dhcp/${NET}`, { body });
  assert.deepEqual(Object.values(await post({ ip: '192.168.122.20' })).slice(0, 1), [400]);
  assert.equal((await post({ ip: '192.168.122.20' })).body, 'Invalid MAC ');
  assert.equal((await post({ mac: '52:54:00:00:00:09', ip: '192.168.122.20' })).body, 'Must provide hostname');
  const noSubnet = await proxy.request('POST', '/dhcp/172.16.0.0', { body: { mac: '52:54:00:00:00:09', ip: '172.16.0.9', hostname: 'h' } });
  assert.deepEqual([noSubnet.status, noSubnet.body], [400, 'No Subnet detected for: 172.16.0.0']);
  assert.equal((await post({ mac: '52:54:00:00:00:09', ip: '999', hostname: 'h' })).body, 'Invalid IP Address 999');
  const ctl = await post({ mac: '52:54:00:00:00:09', ip: '192.168.122.20', hostname: 'h', filename: 'a\nb' });
  assert.deepEqual([ctl.status, ctl.body], [400, 'Invalid filename: control characters are not allowed']);
  const taken = await post({ mac: '52:54:00:00:00:09', ip: '192.168.122.10', hostname: 'h' });
  assert.deepEqual([taken.status, taken.body], [409, `Record ${NET}/192.168.122.10 already exists`]);
  // Bonded NICs: the other reservation's MAC is in related_macs, so it does not conflict.
  const related = await proxy.request('POST', `/dhcp/${NET}`, {
    body: 'mac=52:54:00:00:00:09&ip=192.168.122.10&hostname=h&related_macs[]=00:11:22:33:44:55',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(related.status, 400);
  assert.match(related.body, /^Failed to add DHCP reservation for h \(192\.168\.122\.10 \/ 52:54:00:00:00:09\): No response from DHCP server/);
  // Foreman's bare related_macs key (nil) is accepted.
  const bare = await proxy.request('POST', `/dhcp/${NET}`, {
    body: 'mac=00:11:22:33:44:55&ip=192.168.122.10&hostname=static.example.com&name=static.example.com&nextServer=192.168.122.1&filename=pxelinux.0&related_macs',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.deepEqual([bare.status, bare.body], [200, '']);
});

test('DELETE: static records refused, missing ones fine, method override honoured', async () => {
  const st = await proxy.request('DELETE', `/dhcp/${NET}/ip/192.168.122.10`);
  assert.deepEqual([st.status, st.body], [400, 'static.example.com (192.168.122.10 / 00:11:22:33:44:55) is static - unable to delete']);
  const lease = await proxy.request('POST', `/dhcp/${NET}/mac/aa:bb:cc:dd:ee:ff`, { body: { _method: 'DELETE' } });
  assert.deepEqual([lease.status, lease.body], [400, '192.168.122.150 / aa:bb:cc:dd:ee:ff is static - unable to delete']);
  assert.equal((await proxy.request('DELETE', `/dhcp/${NET}/mac/52:54:00:00:00:77`)).status, 200);
  assert.equal((await proxy.request('DELETE', `/dhcp/172.16.0.0/mac/52:54:00:00:00:77`)).status, 200);
  assert.equal((await proxy.request('DELETE', `/dhcp/${NET}/ip/192.168.122.99`)).status, 200);
  const viaHeader = await proxy.request('POST', `/dhcp/${NET}/ip/192.168.122.99`, { headers: { 'x-http-method-override': 'DELETE' }, body: {} });
  assert.equal(viaHeader.status, 200);
});

test('leases appended to the file are picked up', async () => {
  await appendFile(join(dir, 'dhcpd.leases'), 'lease 192.168.122.160 {\n  binding state active;\n  hardware ethernet 52:54:00:00:01:60;\n}\n');
  await waitFor('appended lease visible', async () => (await proxy.request('GET', `/dhcp/${NET}/ip/192.168.122.160`)).status === 200);
});

test('a leases file replaced by dhcpd (rename over it) is reloaded', async () => {
  const fresh = join(dir, 'dhcpd.leases.new');
  await writeFile(fresh, 'lease 192.168.122.170 {\n  binding state active;\n  hardware ethernet 52:54:00:00:01:70;\n}\n');
  await rename(fresh, join(dir, 'dhcpd.leases'));
  await waitFor('rewritten leases file loaded', async () => {
    const body = JSON.parse((await proxy.request('GET', `/dhcp/${NET}`)).body);
    return body.leases.length === 1 && body.leases[0].ip === '192.168.122.170';
  });
  // dhcpd.conf hosts survive the reload; leases-file hosts are gone with the old file.
  const names = JSON.parse((await proxy.request('GET', `/dhcp/${NET}`)).body).reservations.map((r: { name: string }) => r.name);
  assert.deepEqual(names, ['static.example.com']);
});

test('a dhcpd.conf error fails the module with file and line, the proxy runs on', async () => {
  const bad = await tempDir('spisc-bad');
  try {
    await writeFile(join(bad, 'dhcpd.conf'), 'subnet 10.0.0.0 netmask 255.0.0.0 {\n  range 10.0.0.9 10.0.0.1;\n}\n');
    await writeFile(join(bad, 'dhcpd.leases'), '');
    const p = await startTestProxy({
      files: {
        dhcp: { ':enabled': true, ':ping_free_ip': false },
        dhcp_isc: { ':config': join(bad, 'dhcpd.conf'), ':leases': join(bad, 'dhcpd.leases') },
      },
    });
    try {
      const features = JSON.parse((await p.request('GET', '/v2/features')).body);
      assert.equal(features.dhcp.state, 'failed');
      const logs = await p.request('GET', '/logs');
      assert.match(logs.body, /dhcpd\.conf:2: range 10\.0\.0\.9 10\.0\.0\.1 does not belong to subnet/);
      assert.equal((await p.request('GET', '/dhcp')).status, 404);
    } finally {
      await p.close();
    }
  } finally {
    await removeDir(bad);
  }
});
