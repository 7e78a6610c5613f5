import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkKeaReservation,
  expectedReservation,
  formatTimestamp,
  leaseFromKea,
  reservationFromKea,
  reservationToKea,
  sameReservation,
  subnetFromKea,
  subnetPrefix,
} from './records.ts';
import { listSubnets, type KeaConfig } from '../../../../lib/kea/dhcp4-config.ts';
import type { NewReservation } from '../../provider.ts';

test('subnetFromKea reports the six option keys in order, inherited values included', () => {
  const cfg: KeaConfig = {
    Dhcp4: {
      'option-data': [
        { name: 'ntp-servers', data: '10.0.0.1, 10.0.0.2' },
        { name: 'interface-mtu', data: '9000' },
        { name: 'domain-name', data: 'glob.test', space: 'other' },
      ],
      subnet4: [
        {
          subnet: '10.0.0.0/8',
          pools: [{ pool: 'bad' }, { pool: '10.0.0.10-10.0.0.20' }],
          'option-data': [
            { name: 'domain-name-servers', data: '10.0.0.53,10.0.0.54' },
            { name: 'routers', data: '10.0.0.1' },
            { name: 'domain-name', data: 'x.test' },
            { code: 26, data: '0A', 'csv-format': false },
          ],
        },
      ],
    },
  };
  const s = subnetFromKea(cfg, listSubnets(cfg)[0]);
  assert.deepEqual(s, {
    network: '10.0.0.0',
    netmask: '255.0.0.0',
    options: {
      routers: ['10.0.0.1'],
      domain_name: 'x.test',
      domain_name_servers: ['10.0.0.53', '10.0.0.54'],
      ntp_servers: ['10.0.0.1', '10.0.0.2'],
      interface_mtu: 9000,
      range: ['10.0.0.10', '10.0.0.20'],
    },
  });
  assert.deepEqual(Object.keys(s.options), ['routers', 'domain_name', 'domain_name_servers', 'ntp_servers', 'interface_mtu', 'range']);
  assert.deepEqual(subnetPrefix(s), { network: 0x0a000000, prefix: 8 });
  assert.equal(subnetPrefix({ network: '10.0.0.0', netmask: '255.0.255.0', options: {} }), undefined);
});

test('reservations Foreman cannot address (no MAC, no address) are not reported', () => {
  assert.equal(reservationFromKea({ 'client-id': '01:02', 'ip-address': '10.0.0.1' }), undefined);
  assert.equal(reservationFromKea({ 'hw-address': '52:54:00:00:00:01' }), undefined);
  assert.equal(reservationFromKea({ 'hw-address': 'zz', 'ip-address': '10.0.0.1' }), undefined);
});

test('Kea defaults (0.0.0.0 next-server, empty file) are not reported as options', () => {
  const r = reservationFromKea({
    'hw-address': '52:54:00:AA:BB:01',
    'ip-address': '10.0.0.1',
    hostname: '',
    'next-server': '0.0.0.0',
    'boot-file-name': '',
    'server-hostname': '',
  });
  assert.deepEqual(r, { type: 'reservation', name: '10.0.0.1', ip: '10.0.0.1', mac: '52:54:00:aa:bb:01', deleteable: true, options: {} });
});

test('a host-name next-server goes to option 66 and sname and reads back as given', () => {
  const nr: NewReservation = { name: 'n', hostname: 'n.test', ip: '10.0.0.9', mac: '52:54:00:00:00:09', nextServer: 'tftp.test', filename: 'pxelinux.0' };
  const k = reservationToKea(nr);
  assert.equal(k['next-server'], undefined);
  assert.equal(k['server-hostname'], 'tftp.test');
  assert.deepEqual(k['option-data'], [{ name: 'tftp-server-name', data: 'tftp.test' }]);
  assert.equal(reservationFromKea(k)?.options.nextServer, 'tftp.test');
});

const macArb = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map((a) => a.map((x) => x.toString(16).padStart(2, '0')).join(':'));
const ipArb = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `10.0.${a}.${b}`);
const text = fc.string({ minLength: 1, maxLength: 30 });
const newResArb: fc.Arbitrary<NewReservation> = fc.record(
  {
    name: text,
    hostname: text,
    ip: ipArb,
    mac: macArb,
    nextServer: fc.oneof(ipArb, text),
    filename: text,
    extra: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['hostname', 'nextServer', 'filename', '__proto__'].includes(k)), fc.string()),
  },
  { requiredKeys: ['name', 'hostname', 'ip', 'mac'] },
);

test('property: what is stored reads back as the same reservation (so an identical re-POST is a no-op)', () => {
  fc.assert(
    fc.property(newResArb, (nr) => {
      // Through JSON, as it travels to Kea and back.
      const back = reservationFromKea(JSON.parse(JSON.stringify(reservationToKea(nr))));
      assert.ok(back);
      assert.equal(back.name, nr.name);
      assert.equal(back.ip, nr.ip);
      assert.equal(back.mac, nr.mac);
      assert.equal(back.options.hostname, nr.hostname);
      if (nr.nextServer) assert.equal(back.options.nextServer, nr.nextServer);
      if (nr.filename) assert.equal(back.options.filename, nr.filename);
      for (const [k, v] of Object.entries(nr.extra ?? {})) assert.equal(back.options[k], v);
      assert.ok(sameReservation(back, expectedReservation(nr)));
    }),
    { numRuns: 300 },
  );
});

test('property: reservations differing in any field are not the same', () => {
  fc.assert(
    fc.property(newResArb, text, (nr, other) => {
      const a = expectedReservation(nr);
      fc.pre(other !== nr.filename);
      assert.equal(sameReservation(a, expectedReservation({ ...nr, filename: other })), false);
      fc.pre(other !== nr.name);
      assert.equal(sameReservation(a, expectedReservation({ ...nr, name: other })), false);
    }),
    { numRuns: 200 },
  );
});

test('values Kea cannot hold or would garble are refused naming the field; what it keeps passes', () => {
  const base: NewReservation = { name: 'h.example', hostname: 'h.example', ip: '10.0.0.5', mac: '52:54:00:00:00:05' };
  const refused: Array<[Partial<NewReservation>, RegExp]> = [
    // kea-dhcp4 2.2: "boot file length must not exceed 127", "server hostname length must not exceed 63".
    [{ filename: 'f'.repeat(128) }, /^Invalid filename: longer than 127 bytes/],
    [{ nextServer: `${'t'.repeat(60)}.example` }, /^Invalid nextServer: longer than 63 bytes/],
    // Kea writes every byte above 0x7f back as its own \u00XX character, again at each config-set.
    [{ extra: { ztp_vendor: 'hu\u00e9wei' } }, /^Invalid ztp_vendor: /],
    [{ extra: { 'k\u00e9y': 'v' } }, /^Invalid k\u00e9y: /],
    [{ extra: { k: 'a\u0001b' } }, /^Invalid k: /],
  ];
  for (const [change, message] of refused) {
    assert.throws(() => checkKeaReservation({ ...base, ...change }), (e: unknown) => e instanceof Error && message.test(e.message), JSON.stringify(change));
  }
  checkKeaReservation({ ...base, filename: 'f'.repeat(127), nextServer: `${'t'.repeat(55)}.example`, extra: { ztp_vendor: 'huawei "x" \\' } });
  checkKeaReservation({ ...base, nextServer: '10.0.0.1' });
});

test('leases: times, state and name', () => {
  const l = leaseFromKea({
    'ip-address': '10.0.0.150',
    'hw-address': '52:54:00:aa:bb:02',
    'client-id': '01:52:54:00:aa:bb:02',
    hostname: 'dyn',
    cltt: 1_700_000_000,
    'valid-lft': 600,
    state: 0,
    'subnet-id': 1,
  });
  assert.deepEqual(l, {
    type: 'lease',
    name: 'lease-525400aabb02',
    ip: '10.0.0.150',
    mac: '52:54:00:aa:bb:02',
    starts: '2023-11-14 22:13:20 UTC',
    ends: '2023-11-14 22:23:20 UTC',
    state: 'active',
    options: { cltt: '2023-11-14 22:13:20 UTC', client_hostname: 'dyn', client_id: '01:52:54:00:aa:bb:02' },
  });
  assert.equal(leaseFromKea({ 'ip-address': '10.0.0.1', 'hw-address': '52:54:00:aa:bb:02', state: 2 }), undefined);
  assert.equal(leaseFromKea({ 'ip-address': '10.0.0.1', state: 0 }), undefined);
  assert.equal(leaseFromKea({ 'ip-address': '10.0.0.1', 'hw-address': '52:54:00:aa:bb:02', state: 1 })?.state, 'declined');
  assert.equal(
    leaseFromKea({ 'ip-address': '10.0.0.1', 'hw-address': '52:54:00:aa:bb:02', cltt: 5, 'valid-lft': 0xffffffff })?.ends,
    '2038-01-19 03:14:07 UTC',
  );
  assert.equal(formatTimestamp(0), '1970-01-01 00:00:00 UTC');
});
