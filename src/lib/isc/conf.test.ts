import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readDhcpdConf } from './conf.ts';
import { IscParseError } from './syntax.ts';

const files: Record<string, string> = {
  '/etc/dhcp/dhcpd.conf': `
    option domain-name "global.test";   # not inherited
    key omapi_key { algorithm hmac-md5; secret "abc="; };
    include "subnets.conf";
    shared-network wire {
      subnet 10.1.0.0 netmask 255.255.0.0 {
        pool { range 10.1.0.10 10.1.0.20; }
        group { host g1 { hardware ethernet 52:54:00:00:01:01; fixed-address 10.1.0.5; next-server c0:a8:00:01; } }
      }
    }
    host top { hardware ethernet 52:54:00:00:02:02; fixed-address 192.168.122.7; option host-name "top.example"; filename "grub.efi"; }
    if option arch = 00:07 { filename "x.efi"; } else { filename "pxelinux.0"; }
    class "foo" { match if true; }
  `,
  '/etc/dhcp/subnets.conf': `
    subnet 192.168.122.0 netmask 255.255.255.0 {
      range dynamic-bootp 192.168.122.100 192.168.122.200;
      option routers 192.168.122.1;
      option domain-name "example.com";
      option domain-name-servers 192.168.122.1, 8.8.8.8;
      option ntp-servers 1.1.1.1;
      option interface-mtu 9000;
    }
  `,
};
const read = async (p: string): Promise<string> => {
  const t = files[p];
  if (t === undefined) throw new Error('ENOENT');
  return t;
};

test('subnets in file order with the six reported options, includes and containers', async () => {
  const c = await readDhcpdConf('/etc/dhcp/dhcpd.conf', read);
  assert.deepEqual(
    c.subnets.map((s) => ({ network: s.network, netmask: s.netmask, options: s.options })),
    [
      {
        network: '192.168.122.0',
        netmask: '255.255.255.0',
        options: {
          routers: ['192.168.122.1'],
          domain_name: [['example.com']],
          domain_name_servers: ['192.168.122.1', '8.8.8.8'],
          ntp_servers: [['1.1.1.1']],
          interface_mtu: 9000,
          range: ['192.168.122.100', '192.168.122.200'],
        },
      },
      { network: '10.1.0.0', netmask: '255.255.0.0', options: {} },
    ],
  );
  assert.deepEqual(
    c.hosts.map((h) => [h.name, h.ip, h.mac, h.options]),
    [
      ['g1', '10.1.0.5', '52:54:00:00:01:01', { hardware_type: 'ethernet', nextServer: '192.168.0.1' }],
      ['top', '192.168.122.7', '52:54:00:00:02:02', { hardware_type: 'ethernet', hostname: 'top.example', filename: 'grub.efi' }],
    ],
  );
});

test('bad ranges, missing includes and include loops are errors naming the file', async () => {
  const one = (t: string) => (p: string) => (p === '/c/dhcpd.conf' ? Promise.resolve(t) : Promise.reject(new Error('ENOENT')));
  await assert.rejects(readDhcpdConf('/c/dhcpd.conf', one('subnet 10.0.0.0 netmask 255.0.0.0 { range 10.0.0.9 10.0.0.1; }')), /range .* reversed/);
  await assert.rejects(readDhcpdConf('/c/dhcpd.conf', one('subnet 10.0.0.0 netmask 255.0.0.0 { range 11.0.0.1; }')), IscParseError);
  await assert.rejects(readDhcpdConf('/c/dhcpd.conf', one('subnet 10.0.0.1 netmask 255.0.0.0 { }')), /host bits/);
  await assert.rejects(readDhcpdConf('/c/dhcpd.conf', one('include "x.conf";')), /\/c\/dhcpd.conf:1: cannot read included file \/c\/x.conf/);
  await assert.rejects(readDhcpdConf('/c/dhcpd.conf', one('include "/c/dhcpd.conf";')), /include loop/);
});

test('property: random configuration text only ever fails with IscParseError', async () => {
  const alphabet = fc.constantFrom('subnet', '10.0.0.0', 'netmask', '255.0.0.0', 'range', '10.0.0.1', 'host', 'h', '{', '}', ';', '"', 'option', 'routers', ',', 'group', 'hardware', 'ethernet', '1:2:3:4:5:6', 'fixed-address', ' ');
  await fc.assert(
    fc.asyncProperty(fc.array(alphabet, { maxLength: 60 }), async (parts) => {
      try {
        await readDhcpdConf('/c/dhcpd.conf', async () => parts.join(' '));
      } catch (e) {
        assert.ok(e instanceof IscParseError, String(e));
      }
    }),
    { numRuns: 1500 },
  );
});
