import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  defaultRouteInterface, humanBytes, network4, network6, osNames, parseCpuinfo, parseMeminfo, parseOsRelease, releaseParts, scope6,
} from './parse.ts';
import { lookupFact } from './api.ts';
import { ProxyError } from '../../core/errors.ts';

test('os-release parsing and Facter naming', () => {
  const rel = parseOsRelease('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n# c\n');
  assert.equal(rel.PRETTY_NAME, 'Rocky Linux 9.3 (Blue Onyx)');
  assert.deepEqual(osNames(rel), { name: 'Rocky', family: 'RedHat' });
  assert.deepEqual(osNames({ ID: 'ubuntu', NAME: 'Ubuntu' }), { name: 'Ubuntu', family: 'Debian' });
  assert.deepEqual(osNames({ ID: 'pop', NAME: 'Pop!_OS', ID_LIKE: 'ubuntu debian' }), { name: 'Pop!_OS', family: 'Debian' });
  assert.deepEqual(releaseParts('12.11'), { full: '12.11', major: '12', minor: '11' });
  assert.deepEqual(releaseParts('40'), { full: '40', major: '40' });
});

test('sizes print the way Facter prints them', () => {
  assert.equal(humanBytes(512), '512 bytes');
  assert.equal(humanBytes(1024), '1.00 KiB');
  assert.equal(humanBytes(16 * 1024 ** 3 + 512 * 1024 ** 2), '16.50 GiB');
  assert.deepEqual(parseMeminfo('MemTotal:       16384 kB\nMemAvailable:    8192 kB\nHugePages_Total:       0\n'), {
    MemTotal: 16384 * 1024, MemAvailable: 8192 * 1024, HugePages_Total: 0,
  });
});

test('cpuinfo and default route', () => {
  const cpu = parseCpuinfo('processor\t: 0\nmodel name\t: Xeon\nphysical id\t: 0\ncpu MHz\t\t: 2400.000\n\nprocessor\t: 1\nmodel name\t: Xeon\nphysical id\t: 1\n');
  assert.deepEqual(cpu, { models: ['Xeon', 'Xeon'], physicalCount: 2, mhz: 2400 });
  const route = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nens3\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\nens3\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n';
  assert.equal(defaultRouteInterface(route), 'ens3');
  assert.equal(defaultRouteInterface('Iface\n'), undefined);
});

test('network arithmetic', () => {
  assert.equal(network4('192.168.122.77', '255.255.255.0'), '192.168.122.0');
  assert.equal(network4('10.1.2.3', '255.255.252.0'), '10.1.0.0');
  assert.equal(network6('fe80::5054:ff:fe12:3456', 'ffff:ffff:ffff:ffff::'), 'fe80::');
  assert.equal(network6('2001:db8:1:2:3:4:5:6', 'ffff:ffff:ffff::'), '2001:db8:1::');
  assert.equal(network6('::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), '::1');
  assert.equal(scope6('fe80::1'), 'link');
  assert.equal(scope6('::1'), 'host');
  assert.equal(scope6('2001:db8::1'), 'global');
  fc.assert(
    fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, bits) => {
      const mask = [24, 16, 8, 0].map((s) => ((bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0) >>> s) & 255).join('.');
      const net = network4(ip, mask);
      assert.equal(network4(net, mask), net); // idempotent
    }),
    { numRuns: 300 },
  );
});

test('one fact: value, 404 for null/false, 400 for unknown names', () => {
  const facts = { kernel: 'Linux', selinux: false, dmi: null, processors: { count: 2 } };
  assert.deepEqual(lookupFact(facts, 'kernel'), { kernel: 'Linux' });
  assert.deepEqual(lookupFact(facts, 'processors'), { processors: { count: 2 } });
  assert.throws(() => lookupFact(facts, 'selinux'), (e: unknown) => e instanceof ProxyError && e.status === 404 && e.message === 'Fact selinux not found');
  assert.throws(() => lookupFact(facts, 'dmi'), (e: unknown) => e instanceof ProxyError && e.status === 404);
  assert.throws(() => lookupFact(facts, 'nope'), (e: unknown) => e instanceof ProxyError && e.status === 400);
  assert.throws(() => lookupFact(facts, 'toString'), (e: unknown) => e instanceof ProxyError && e.status === 400);
});
