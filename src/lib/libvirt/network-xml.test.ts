import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dhcpHostXml, dnsHostXml, netmaskOfPrefix, parseNetworkXml } from './network-xml.ts';
import { parseLeaseTable } from './virsh.ts';

const NAT_NETWORK = `<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <domain name='lab.test'/>
  <dns>
    <host ip='192.168.122.10'>
      <hostname>a.lab.test</hostname>
      <hostname>b.lab.test</hostname>
    </host>
  </dns>
  <ip address='192.168.122.1' prefix='24'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.254'/>
      <host mac='52:54:00:AA:BB:CC' name='h1' ip='192.168.122.5'/>
      <host mac='52:54:00:aa:bb:cd' ip='192.168.122.6'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='fd00::1' prefix='64'/>
</network>`;

test('a NAT network: IPv4 block with prefix turned into a netmask, hosts, DNS entries, IPv6 skipped', () => {
  const x = parseNetworkXml(NAT_NETWORK);
  assert.equal(x.name, 'default');
  assert.equal(x.forwards, true);
  assert.equal(x.domain, 'lab.test');
  assert.equal(x.dnsEnabled, true);
  assert.deepEqual(x.ipv4, [
    {
      address: '192.168.122.1',
      netmask: '255.255.255.0',
      ranges: [{ start: '192.168.122.2', end: '192.168.122.254' }],
      hosts: [
        { mac: '52:54:00:aa:bb:cc', ip: '192.168.122.5', name: 'h1' },
        { mac: '52:54:00:aa:bb:cd', ip: '192.168.122.6' },
      ],
    },
  ]);
  assert.deepEqual(x.dnsHosts, [{ ip: '192.168.122.10', hostnames: ['a.lab.test', 'b.lab.test'] }]);
});

test('an isolated network without DHCP or DNS: one bare block, no entries; dns enable=no is seen', () => {
  const x = parseNetworkXml(`<network><name>iso</name><dns enable='no'/><ip address='10.0.0.1' netmask='255.255.0.0'/></network>`);
  assert.equal(x.forwards, false);
  assert.equal(x.dnsEnabled, false);
  assert.deepEqual(x.ipv4, [{ address: '10.0.0.1', netmask: '255.255.0.0', ranges: [], hosts: [] }]);
  assert.deepEqual(x.dnsHosts, []);
});

test('documents libvirt never writes are refused with the reason', () => {
  assert.throws(() => parseNetworkXml('<pool><name>x</name></pool>'), /no <network> element/);
  assert.throws(() => parseNetworkXml('<network><ip netmask="255.0.0.0"/></network>'), /<ip> without an IPv4 address/);
  assert.throws(() => parseNetworkXml('<network><ip address="10.0.0.1" prefix="40"/></network>'), /bad prefix/);
});

test('XML written for net-update escapes values', () => {
  assert.equal(dhcpHostXml({ mac: '52:54:00:00:00:01', ip: '10.0.0.5', name: 'a"b<c' }), '<host mac="52:54:00:00:00:01" ip="10.0.0.5" name="a&quot;b&lt;c"/>');
  assert.equal(dhcpHostXml({ mac: '52:54:00:00:00:01', ip: '10.0.0.5' }), '<host mac="52:54:00:00:00:01" ip="10.0.0.5"/>');
  assert.equal(dnsHostXml({ ip: '10.0.0.5', hostnames: ['a&b', 'c'] }), '<host ip="10.0.0.5"><hostname>a&amp;b</hostname><hostname>c</hostname></host>');
});

test('netmaskOfPrefix', () => {
  assert.equal(netmaskOfPrefix(0), '0.0.0.0');
  assert.equal(netmaskOfPrefix(20), '255.255.240.0');
  assert.equal(netmaskOfPrefix(32), '255.255.255.255');
});

test('net-dhcp-leases table: IPv4 rows with prefix stripped, "-" hostname dropped, IPv6 rows skipped', () => {
  const out = [
    ' 2026-12-03 19:00:00   52:54:00:AA:10:01   ipv4       192.168.150.60/24    pxe-host   01:52:54:00:aa:10:01',
    ' 2026-12-03 19:05:00   52:54:00:aa:10:02   ipv4       192.168.150.61/24    -          -',
    ' 2026-12-03 19:05:00   52:54:00:aa:10:03   ipv6       fd00::5/64           -          00:01:00:01',
    '',
  ].join('\n');
  assert.deepEqual(parseLeaseTable(out), [
    { expiry: '2026-12-03 19:00:00', mac: '52:54:00:aa:10:01', ip: '192.168.150.60', hostname: 'pxe-host' },
    { expiry: '2026-12-03 19:05:00', mac: '52:54:00:aa:10:02', ip: '192.168.150.61' },
  ]);
});
