import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reverseToAddress } from './infoblox-dns.ts';

test('reverseToAddress: whole IPv4 and IPv6 reverse names give their address; others none', () => {
  assert.deepEqual(reverseToAddress('10.2.0.192.in-addr.arpa'), { field: 'ipv4addr', address: '192.0.2.10' });
  assert.deepEqual(reverseToAddress('10.2.0.192.IN-ADDR.ARPA.'), { field: 'ipv4addr', address: '192.0.2.10' });
  const v6 = '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
  assert.deepEqual(reverseToAddress(v6), { field: 'ipv6addr', address: '2001:db8::5' });
  assert.equal(reverseToAddress('2.0.192.in-addr.arpa'), undefined);
  assert.equal(reverseToAddress('0-25.2.0.192.in-addr.arpa'), undefined);
  assert.equal(reverseToAddress('300.2.0.192.in-addr.arpa'), undefined);
  assert.equal(reverseToAddress('host.example.com'), undefined);
});
