// The dhcp_kea provider against a real kea-dhcp4 + kea-ctrl-agent (Debian's Kea 2.2, which has
// no host_cmds, so reservations go through config-test/config-set), with a real busybox udhcpc
// in a second network namespace checking what the server actually hands out.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { KeaClient } from '../../src/lib/kea/client.ts';
import { KeaDhcpProvider } from '../../src/modules/dhcp/providers/dhcp_kea/kea-provider.ts';
import type { DhcpSubnet, NewReservation, Reservation } from '../../src/modules/dhcp/provider.ts';
import type { Logger } from '../../src/core/logging-types.ts';
import { ProxyError } from '../../src/core/errors.ts';
import { assertPoolLeaseOnly, startKeaLab, type KeaLab } from './harness.ts';

const silent: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  withRequest() {
    return silent;
  },
  child() {
    return silent;
  },
};

let lab: KeaLab;
let provider: KeaDhcpProvider;
let subnet: DhcpSubnet;

function makeProvider(timeoutMs = 3000, configWrite = false): KeaDhcpProvider {
  const client = new KeaClient({ url: lab.url, user: lab.user, password: lab.password, timeoutMs });
  return new KeaDhcpProvider({ client, service: 'dhcp4', configWrite, holdMs: 60_000, log: silent });
}

async function configReservations(): Promise<Array<Record<string, unknown>>> {
  const r = await lab.agent('config-get');
  assert.equal(r.result, 0, r.text);
  const cfg = r.arguments as { Dhcp4: { subnet4: Array<{ reservations?: Array<Record<string, unknown>> }> } };
  return cfg.Dhcp4.subnet4[0].reservations ?? [];
}

before(async () => {
  lab = await startKeaLab();
  provider = makeProvider();
  const found = await provider.findSubnet('192.168.122.77');
  assert.ok(found);
  subnet = found;
});

after(async () => {
  await provider?.close();
  await lab?.close();
});

test('subnets come from config-get, with options inherited from the global scope and the pool as range', async () => {
  const subnets = await provider.subnets();
  assert.deepEqual(subnets, [
    {
      network: '192.168.122.0',
      netmask: '255.255.255.0',
      options: {
        routers: ['192.168.122.1'],
        domain_name: 'example.test',
        domain_name_servers: ['192.168.122.1'],
        range: ['192.168.122.100', '192.168.122.199'],
      },
    },
  ]);
  assert.equal(await provider.findSubnet('10.0.0.1'), undefined);
});

test('a reservation written in the Kea configuration is reported', async () => {
  const r = await provider.findByMac(subnet, '52:54:00:aa:bb:20');
  assert.deepEqual(r, {
    type: 'reservation',
    name: 'static20.example.test',
    ip: '192.168.122.20',
    mac: '52:54:00:aa:bb:20',
    deleteable: true,
    options: { hostname: 'static20.example.test' },
  });
  const byIp = await provider.findByIp(subnet, '192.168.122.20');
  assert.equal(byIp.length, 1);
});

test('created reservation: the real DHCP client gets exactly that address, next-server and file; deleted: it does not', async () => {
  const mac = '52:54:00:aa:bb:01';
  const nr: NewReservation = {
    name: 'node1',
    hostname: 'node1.example.test',
    ip: '192.168.122.42',
    mac,
    nextServer: '192.168.122.5',
    filename: 'grub2/grubx64.efi',
  };
  await provider.createReservation(subnet, nr);
  const stored = (await provider.findByMac(subnet, mac)) as Reservation;
  assert.deepEqual(stored, {
    type: 'reservation',
    name: 'node1',
    ip: '192.168.122.42',
    mac,
    deleteable: true,
    options: { hostname: 'node1.example.test', nextServer: '192.168.122.5', filename: 'grub2/grubx64.efi' },
  });

  const offer = await lab.dhcpClient(mac);
  assert.equal(offer.code, 0, offer.output);
  assert.equal(offer.ip, '192.168.122.42', offer.output);
  assert.equal(offer.siaddr, '192.168.122.5', offer.output);
  assert.equal(offer.bootFile, 'grub2/grubx64.efi', offer.output);
  assert.equal(offer.hostname, 'node1.example.test', offer.output);

  // Identical again: nothing to do; different data for the same MAC: conflict.
  await provider.createReservation(subnet, nr);
  await assert.rejects(provider.createReservation(subnet, { ...nr, ip: '192.168.122.43' }), (err: unknown) => {
    return err instanceof ProxyError && err.status === 409;
  });
  assert.equal((await configReservations()).filter((r) => r['hw-address'] === mac).length, 1);

  await provider.deleteReservation(subnet, stored);
  assert.equal((await configReservations()).filter((r) => r['hw-address'] === mac).length, 0);
  await assertPoolLeaseOnly(lab, mac, '192.168.122.42');
});

test('the lease the real client got is reported through lease_cmds, and unused_ip avoids it', async () => {
  const mac = '52:54:00:aa:bb:02';
  const offer = await lab.dhcpClient(mac);
  assert.equal(offer.code, 0, offer.output);
  const leased = offer.ip ?? '';
  assert.match(leased, /^192\.168\.122\.1\d\d$/);
  const lease = await provider.findByMac(subnet, mac);
  assert.equal(lease?.type, 'lease');
  assert.equal(lease?.ip, leased);
  assert.equal(lease?.name, 'lease-525400aabb02');
  assert.equal((lease as { state?: string }).state, 'active');
  const records = await provider.subnetRecords(subnet);
  assert.ok(records.leases.some((l) => l.mac === mac && l.ip === leased));
  assert.ok(records.reservations.some((r) => r.mac === '52:54:00:aa:bb:20'));
  const byIp = await provider.findByIp(subnet, leased);
  assert.equal(byIp.length, 1);
  assert.equal(byIp[0].type, 'lease');
  // unused_ip: the client's own address for its MAC; never a leased or reserved one otherwise.
  assert.equal(await provider.unusedIp(subnet, { mac, from: '192.168.122.100', to: '192.168.122.200' }), leased);
  const n = Number(leased.split('.')[3]);
  const free = await provider.unusedIp(subnet, { from: `192.168.122.${n - 1}`, to: `192.168.122.${n + 1}` });
  assert.ok(free === `192.168.122.${n - 1}` || free === `192.168.122.${n + 1}`, String(free));
  const reservedOnly = await provider.unusedIp(subnet, { from: '192.168.122.20', to: '192.168.122.21' });
  assert.equal(reservedOnly, '192.168.122.21');
});

test('what Foreman posted reads back unchanged (mixed case, host-name next-server, extra params)', async () => {
  const nr: NewReservation = {
    name: 'Mixed.Example.TEST',
    hostname: 'Mixed.Example.TEST',
    ip: '192.168.122.45',
    mac: '52:54:00:aa:bb:45',
    nextServer: 'tftp.example.test',
    filename: 'boot/grub2/grubx64.efi',
    extra: { ztp_vendor: 'none' },
  };
  await provider.createReservation(subnet, nr);
  const r = (await provider.findByIp(subnet, nr.ip))[0] as Reservation;
  assert.deepEqual(r, {
    type: 'reservation',
    name: 'Mixed.Example.TEST',
    ip: '192.168.122.45',
    mac: '52:54:00:aa:bb:45',
    deleteable: true,
    options: {
      hostname: 'Mixed.Example.TEST',
      nextServer: 'tftp.example.test',
      filename: 'boot/grub2/grubx64.efi',
      ztp_vendor: 'none',
    },
  });
  // Identical again is a no-op; the stored entry carries the name as option 66 and sname.
  await provider.createReservation(subnet, nr);
  const stored = (await configReservations()).filter((x) => x['hw-address'] === nr.mac);
  assert.equal(stored.length, 1);
  assert.equal(stored[0]['server-hostname'], 'tftp.example.test');
  await provider.deleteReservation(subnet, r);
  assert.deepEqual(await provider.findByIp(subnet, nr.ip), []);
});

test('50 concurrent creates of one reservation: exactly one stored, identical ones succeed, different ones get 409', async () => {
  const mac = '52:54:00:aa:bb:50';
  const base: NewReservation = { name: 'race', hostname: 'race.example.test', ip: '192.168.122.60', mac };
  const results = await Promise.allSettled(
    Array.from({ length: 50 }, (_, i) =>
      provider.createReservation(subnet, i % 5 === 4 ? { ...base, filename: `other-${i}` } : base),
    ),
  );
  const ok = results.filter((r) => r.status === 'fulfilled').length;
  const conflicts = results.filter(
    (r) => r.status === 'rejected' && r.reason instanceof ProxyError && r.reason.status === 409,
  ).length;
  const other = results.filter((r) => r.status === 'rejected' && !(r.reason instanceof ProxyError && r.reason.status === 409));
  assert.deepEqual(other, []);
  assert.equal(ok + conflicts, 50);
  const stored = (await configReservations()).filter((r) => r['hw-address'] === mac);
  assert.equal(stored.length, 1);
  // The first request (identical kind) wins; the ten different ones conflict.
  assert.equal(conflicts, 10);
  assert.equal(stored[0]['ip-address'], '192.168.122.60');
  assert.equal(stored[0]['boot-file-name'], '');
  // Nothing lost: the static reservation and the other test's records are still there.
  assert.ok((await configReservations()).some((r) => r['hw-address'] === '52:54:00:aa:bb:20'));
});

test('config_write saves the change to the configuration file Kea was started with', async () => {
  const writer = makeProvider(3000, true);
  try {
    await writer.createReservation(subnet, { name: 'saved', hostname: 'saved', ip: '192.168.122.61', mac: '52:54:00:aa:bb:61' });
    const text = await readFile(lab.dhcp4ConfigFile, 'utf8');
    assert.match(text, /52:54:00:aa:bb:61/);
  } finally {
    await writer.close();
  }
});

test('a hung Control Agent gives a clear error within the deadline, not a hang', async () => {
  const quick = makeProvider(1500);
  lab.freezeAgent();
  try {
    // The message comes from the deadline firing (kind `timeout`), not from a dropped connection.
    await assert.rejects(quick.subnets(), /dhcp\/kea: cannot read the configuration: Kea did not answer in time: no reply to 'config-get' .* within 1500 ms/);
  } finally {
    lab.thawAgent();
    await quick.close();
  }
});

test('kea-dhcp4 down behind a live agent: a clear error, and service resumes once it is back', async () => {
  const p = makeProvider(3000);
  try {
    await lab.stopDhcp4();
    await assert.rejects(p.subnets(), /dhcp\/kea: cannot read the configuration: 'config-get' failed \(result 1\): unable to forward/);
    await assert.rejects(
      p.createReservation(subnet, { name: 'x', hostname: 'x', ip: '192.168.122.70', mac: '52:54:00:aa:bb:70' }),
      /dhcp\/kea: cannot/,
    );
    await lab.startDhcp4();
    assert.equal((await p.subnets()).length, 1);
  } finally {
    await p.close();
  }
});

test('agent not listening: a clear "unreachable" error', async () => {
  const client = new KeaClient({ url: 'http://127.0.0.1:1/', timeoutMs: 2000 });
  const p = new KeaDhcpProvider({ client, service: 'dhcp4', configWrite: false, holdMs: 1000, log: silent });
  try {
    await assert.rejects(p.subnets(), /dhcp\/kea: cannot read the configuration: Kea Control Agent unreachable: .*ECONNREFUSED/);
  } finally {
    await p.close();
  }
});

test('wrong credentials are reported as such', async () => {
  const client = new KeaClient({ url: lab.url, user: lab.user, password: 'wrong', timeoutMs: 2000 });
  const p = new KeaDhcpProvider({ client, service: 'dhcp4', configWrite: false, holdMs: 1000, log: silent });
  try {
    await assert.rejects(p.subnets(), /HTTP 401 .*authentication failed/);
  } finally {
    await p.close();
  }
});
