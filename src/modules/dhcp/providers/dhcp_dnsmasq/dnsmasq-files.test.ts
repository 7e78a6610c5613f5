import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  configLines,
  hostFileName,
  hostLineText,
  optsFileText,
  parseHost,
  parseLeases,
  parseLeaseTime,
  parseOption,
  parseOptsFile,
  parseRange,
  subnetsOf,
  tagOf,
} from './dnsmasq-files.ts';
import { commandWords } from './dnsmasq-provider.ts';

test('configLines: comments and blanks dropped, flags kept without a value', () => {
  assert.deepEqual(configLines('# c\n\n  dhcp-range = 10.0.0.5,10.0.0.9,255.255.255.0\nbind-interfaces\n'), [
    { line: 3, key: 'dhcp-range', value: '10.0.0.5,10.0.0.9,255.255.255.0' },
    { line: 4, key: 'bind-interfaces', value: '' },
  ]);
});

test('dhcp-range forms: tags, static mode, broadcast, lease time; IPv6 skipped; no netmask refused', () => {
  assert.deepEqual(parseRange('set:lab,10.0.0.5,10.0.0.9,255.255.255.0,10.0.0.255,2h', 'f:1'), {
    start: '10.0.0.5', end: '10.0.0.9', netmask: '255.255.255.0', leaseSeconds: 7200, tags: ['lab'],
  });
  assert.deepEqual(parseRange('10.0.0.0,static,255.255.0.0,infinite', 'f:1'), {
    start: '10.0.0.0', end: '10.0.0.0', netmask: '255.255.0.0', leaseSeconds: null, tags: [],
  });
  assert.equal(parseRange('::1,::400,constructor:eth0', 'f:1'), undefined);
  assert.throws(() => parseRange('10.0.0.5,10.0.0.9,12h', 'dnsmasq.conf:7'), /^DnsmasqConfigError: dnsmasq.conf:7: dhcp-range=10.0.0.5,10.0.0.9,12h has no netmask/);
  assert.throws(() => parseRange('10.0.0.5,10.0.0.9,255.0.255.0', 'f:2'), /is not a netmask/);
});

test('lease times', () => {
  assert.equal(parseLeaseTime('45m'), 2700);
  assert.equal(parseLeaseTime('1d'), 86400);
  assert.equal(parseLeaseTime('600'), 600);
  assert.equal(parseLeaseTime('infinite'), null);
  assert.equal(parseLeaseTime('soon'), undefined);
});

test('dhcp-option: numbers and names Foreman imports, tags kept, others ignored', () => {
  assert.deepEqual(parseOption('option:router,10.0.0.1'), { key: 'routers', values: ['10.0.0.1'], tags: [] });
  assert.deepEqual(parseOption('tag:lab,6,10.0.0.1,10.0.0.2'), { key: 'domain_name_servers', values: ['10.0.0.1', '10.0.0.2'], tags: ['lab'] });
  assert.equal(parseOption('option:bootfile-name,pxelinux.0'), undefined);
  assert.equal(parseOption('vendor:PXEClient,1,0.0.0.0'), undefined);
  assert.equal(parseOption('option:constructor,x'), undefined);
});

test('subnets: one per network, options of matching tags only, range kept', () => {
  const ranges = [parseRange('set:lab,10.0.0.5,10.0.0.9,255.255.255.0', 'f')!, parseRange('10.1.0.5,10.1.0.9,255.255.0.0,30m', 'f')!];
  const options = [parseOption('option:domain-name,lab.test')!, parseOption('tag:lab,3,10.0.0.1')!, parseOption('26,9000')!];
  assert.deepEqual(subnetsOf(ranges, options), [
    { network: '10.0.0.0', netmask: '255.255.255.0', leaseSeconds: 3600, options: { domain_name: 'lab.test', routers: ['10.0.0.1'], interface_mtu: 9000, range: ['10.0.0.5', '10.0.0.9'] } },
    { network: '10.1.0.0', netmask: '255.255.0.0', leaseSeconds: 1800, options: { domain_name: 'lab.test', interface_mtu: 9000, range: ['10.1.0.5', '10.1.0.9'] } },
  ]);
});

test('dhcp-host in any field order, with tags, lease time and ids', () => {
  assert.deepEqual(parseHost('52:54:00:AA:BB:CC,set:bf_x,10.0.0.7,host1'), { macs: ['52:54:00:aa:bb:cc'], ip: '10.0.0.7', name: 'host1', tags: ['bf_x'] });
  assert.deepEqual(parseHost('host2,10.0.0.8,52:54:00:aa:bb:cd,infinite'), { macs: ['52:54:00:aa:bb:cd'], ip: '10.0.0.8', name: 'host2', tags: [] });
  assert.deepEqual(parseHost('id:01:02,10.0.0.9'), { macs: [], ip: '10.0.0.9', tags: [] });
});

test('leases file: IPv4 Ethernet rows; "*" hostname dropped; duid and IPv6 rows skipped', () => {
  const text = '1764788400 52:54:00:aa:30:01 192.168.160.60 plain-host 01:52:54:00:aa:30:01\n0 52:54:00:aa:30:02 192.168.160.61 * *\nduid 00:01:00:01\n1764788400 1234 fd00::5 * 00:01\n';
  assert.deepEqual(parseLeases(text), [
    { expiry: 1764788400, mac: '52:54:00:aa:30:01', ip: '192.168.160.60', hostname: 'plain-host' },
    { expiry: 0, mac: '52:54:00:aa:30:02', ip: '192.168.160.61' },
  ]);
});

test("the plugin's file names, tags and lines", () => {
  assert.equal(hostFileName('52:54:00:AA:BB:CC'), '52_54_00_aa_bb_cc.conf');
  assert.equal(tagOf('bf', 'PXE/linux.0'), 'bf_pxe_linux_0');
  assert.equal(hostLineText('52:54:00:aa:bb:cc', ['bf_x', 'ns_y'], '10.0.0.7', 'h'), '52:54:00:aa:bb:cc,set:bf_x,set:ns_y,10.0.0.7,h\n');
  const opts = parseOptsFile('tag:ns_y,option:tftp-server,10.0.0.1\ntag:bf_x,option:bootfile-name,x.0\njunk\n');
  assert.deepEqual([...opts], [['ns_y', { option: 'tftp-server', value: '10.0.0.1' }], ['bf_x', { option: 'bootfile-name', value: 'x.0' }]]);
  assert.equal(optsFileText(opts), 'tag:bf_x,option:bootfile-name,x.0\ntag:ns_y,option:tftp-server,10.0.0.1\n');
  assert.equal(optsFileText(new Map()), '');
});

test('reload_cmd words without a shell', () => {
  assert.deepEqual(commandWords('systemctl reload dnsmasq'), ['systemctl', 'reload', 'dnsmasq']);
  assert.deepEqual(commandWords(`/etc/init.d/dnsmasq  'reload now' "x y"`), ['/etc/init.d/dnsmasq', 'reload now', 'x y']);
  assert.throws(() => commandWords('kill -HUP $(cat /run/dnsmasq.pid)'), /without a shell: '\$' is not supported/);
  assert.throws(() => commandWords("a 'b"), /unclosed '/);
  assert.throws(() => commandWords('   '), /empty/);
});
