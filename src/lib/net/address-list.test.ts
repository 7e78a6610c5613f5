import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressList, addressEntryProblem } from './address-list.ts';

test('addressEntryProblem accepts addresses and subnets, names what is wrong otherwise', () => {
  for (const ok of ['192.0.2.10', '198.51.100.0/24', '2001:db8::/48', '::1']) assert.equal(addressEntryProblem(ok), undefined, ok);
  assert.match(addressEntryProblem('foreman.example.com') ?? '', /expected an IP address or a subnet/);
  assert.match(addressEntryProblem('10.0.0.0/33') ?? '', /prefix length must be 0 to 32/);
  assert.match(addressEntryProblem('2001:db8::/129') ?? '', /0 to 128/);
  assert.match(addressEntryProblem('10.0.0.0/8/8') ?? '', /expected/);
});

test('AddressList matches addresses, subnets and IPv4-mapped IPv6 peers; an empty list matches nothing', () => {
  const list = new AddressList(['192.0.2.10', '10.0.0.0/8', '2001:db8::/32']);
  assert.equal(list.has('192.0.2.10'), true);
  assert.equal(list.has('::ffff:10.1.2.3'), true);
  assert.equal(list.has('2001:db8:1::5'), true);
  assert.equal(list.has('192.0.2.11'), false);
  assert.equal(list.has('fe80::1%eth0'), false);
  assert.equal(list.has(undefined), false);
  assert.equal(new AddressList([]).has('192.0.2.10'), false);
});
