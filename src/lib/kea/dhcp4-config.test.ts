import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  effectiveOption,
  findSubnet,
  forSet,
  hasHostsDatabase,
  isKeaConfig,
  listSubnets,
  parsePool,
  parsePrefix,
  withReservation,
  withoutReservations,
  type KeaConfig,
  type KeaReservation,
} from './dhcp4-config.ts';
import { parseIpv4 } from '../isc/ipv4.ts';

const ip = (s: string): number => parseIpv4(s)!;

function sample(): KeaConfig {
  return {
    hash: 'abc',
    Dhcp4: {
      'option-data': [
        { name: 'domain-name-servers', data: '10.0.0.53' },
        { name: 'routers', data: '10.9.9.9' },
      ],
      subnet4: [
        {
          id: 1,
          subnet: '192.168.122.0/24',
          pools: [{ pool: '192.168.122.100 - 192.168.122.199' }],
          'option-data': [{ name: 'routers', data: '192.168.122.1' }],
          reservations: [{ 'hw-address': '52:54:00:aa:bb:20', 'ip-address': '192.168.122.20' }],
        },
        { id: 2, subnet: 'garbage' },
      ],
      'shared-networks': [
        {
          name: 'lab',
          'option-data': [{ code: 15, data: 'lab.test' }],
          subnet4: [{ id: 3, subnet: '10.1.0.5/16', pools: [{ pool: '10.1.2.0/24' }] }],
        },
      ],
    },
  };
}

test('parsePrefix normalises the network and rejects malformed prefixes', () => {
  assert.deepEqual(parsePrefix('10.1.0.5/16'), { network: ip('10.1.0.0'), prefix: 16 });
  assert.deepEqual(parsePrefix('0.0.0.0/0'), { network: 0, prefix: 0 });
  for (const bad of ['10.1.0.0', '10.1.0.0/33', '10.1.0/8', '10.1.0.0/x', '10.1.0.0/-1', '/8']) {
    assert.equal(parsePrefix(bad), undefined, bad);
  }
});

test('parsePool understands both Kea pool forms', () => {
  assert.deepEqual(parsePool('192.168.122.100 - 192.168.122.199'), [ip('192.168.122.100'), ip('192.168.122.199')]);
  assert.deepEqual(parsePool('192.168.122.100-192.168.122.199'), [ip('192.168.122.100'), ip('192.168.122.199')]);
  assert.deepEqual(parsePool('10.1.2.0/24'), [ip('10.1.2.0'), ip('10.1.2.255')]);
  assert.equal(parsePool('10.1.2.9 - 10.1.2.1'), undefined);
  assert.equal(parsePool('nonsense'), undefined);
});

test('listSubnets finds top-level and shared-network subnets and skips malformed ones', () => {
  const cfg = sample();
  const subnets = listSubnets(cfg);
  assert.deepEqual(
    subnets.map((s) => [s.subnet.id, s.prefix, s.shared?.name]),
    [
      [1, 24, undefined],
      [3, 16, 'lab'],
    ],
  );
  assert.equal(findSubnet(cfg, ip('10.1.0.0'), 16)?.subnet.id, 3);
  assert.equal(findSubnet(cfg, ip('10.1.0.0'), 24), undefined);
  assert.equal(isKeaConfig(cfg), true);
  assert.equal(isKeaConfig({ Dhcp6: {} }), false);
  assert.equal(isKeaConfig(null), false);
});

test('effectiveOption prefers the subnet, then the shared network, then the global scope', () => {
  const cfg = sample();
  const [a, b] = listSubnets(cfg);
  assert.equal(effectiveOption(cfg, a, 'routers', 3), '192.168.122.1');
  assert.equal(effectiveOption(cfg, b, 'routers', 3), '10.9.9.9');
  assert.equal(effectiveOption(cfg, b, 'domain-name', 15), 'lab.test'); // by code
  assert.equal(effectiveOption(cfg, a, 'domain-name', 15), undefined);
  assert.equal(effectiveOption(cfg, a, 'domain-name-servers', 6), '10.0.0.53');
});

test('forSet drops the hash; edits never touch the input', () => {
  const cfg = sample();
  const before = JSON.stringify(cfg);
  assert.equal('hash' in forSet(cfg), false);
  const added = withReservation(cfg, ip('192.168.122.0'), 24, { 'hw-address': '52:54:00:00:00:01', 'ip-address': '192.168.122.30' });
  assert.equal(added.Dhcp4.subnet4![0].reservations!.length, 2);
  const removed = withoutReservations(cfg, ip('192.168.122.0'), 24, (r) => r['ip-address'] === '192.168.122.20');
  assert.equal(removed.removed, 1);
  assert.deepEqual(removed.config.Dhcp4.subnet4![0].reservations, []);
  assert.equal(JSON.stringify(cfg), before);
  assert.throws(() => withReservation(cfg, ip('172.16.0.0'), 12, {}), /subnet 172\.16\.0\.0\/12 is not in the Kea configuration/);
  assert.equal(withoutReservations(cfg, ip('172.16.0.0'), 12, () => true).removed, 0);
  // A subnet without a reservations list gets one.
  const shared = withReservation(cfg, ip('10.1.0.0'), 16, { 'ip-address': '10.1.0.9' });
  assert.deepEqual(shared.Dhcp4['shared-networks']![0].subnet4![0].reservations, [{ 'ip-address': '10.1.0.9' }]);
});

test('hasHostsDatabase', () => {
  assert.equal(hasHostsDatabase(sample()), false);
  assert.equal(hasHostsDatabase({ Dhcp4: { 'hosts-database': { type: 'mysql' } } }), true);
  assert.equal(hasHostsDatabase({ Dhcp4: { 'hosts-databases': [{ type: 'postgresql' }] } }), true);
  assert.equal(hasHostsDatabase({ Dhcp4: { 'hosts-databases': [] } }), false);
});

test('property: adding then removing a reservation restores the reservation list; nothing else changes', () => {
  const octet = fc.integer({ min: 0, max: 255 });
  const resArb = fc.record({
    'hw-address': fc.array(octet, { minLength: 6, maxLength: 6 }).map((a) => a.map((x) => x.toString(16).padStart(2, '0')).join(':')),
    'ip-address': octet.map((o) => `192.168.122.${o}`),
    hostname: fc.string(),
  });
  fc.assert(
    fc.property(fc.array(resArb, { maxLength: 20 }), resArb, (existing: KeaReservation[], extra: KeaReservation) => {
      const cfg = sample();
      cfg.Dhcp4.subnet4![0].reservations = existing;
      const snapshot = JSON.stringify(cfg);
      const tagged = { ...extra, 'user-context': { probe: true } };
      const added = withReservation(cfg, ip('192.168.122.0'), 24, tagged);
      assert.equal(added.Dhcp4.subnet4![0].reservations!.length, existing.length + 1);
      const back = withoutReservations(added, ip('192.168.122.0'), 24, (r) => r['user-context']?.probe === true);
      assert.equal(back.removed, 1);
      const expected = JSON.parse(snapshot) as KeaConfig;
      delete expected.hash;
      assert.deepEqual(back.config, expected);
      assert.equal(JSON.stringify(cfg), snapshot);
    }),
    { numRuns: 200 },
  );
});

test('property: listSubnets never throws on arbitrary JSON-shaped input', () => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.jsonValue(), (subnet4, shared) => {
      const cfg = { Dhcp4: { subnet4, 'shared-networks': shared } } as unknown as KeaConfig;
      const list = listSubnets(cfg);
      for (const s of list) assert.ok(s.prefix >= 0 && s.prefix <= 32);
    }),
    { numRuns: 300 },
  );
});
