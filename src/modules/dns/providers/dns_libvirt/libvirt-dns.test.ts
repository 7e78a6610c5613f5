import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressOfReverseName } from './libvirt-dns.ts';

test('reverse names to the address they stand for', () => {
  assert.equal(addressOfReverseName('31.150.168.192.in-addr.arpa'), '192.168.150.31');
  assert.equal(addressOfReverseName('31.150.168.192.IN-ADDR.ARPA.'), '192.168.150.31');
  assert.equal(addressOfReverseName('150.168.192.in-addr.arpa'), undefined);
  assert.equal(addressOfReverseName('300.150.168.192.in-addr.arpa'), undefined);
  const v6 = [...'20010db8000000000000000000000021'].reverse().join('.') + '.ip6.arpa';
  assert.equal(addressOfReverseName(v6), '2001:0db8:0000:0000:0000:0000:0000:0021');
});
