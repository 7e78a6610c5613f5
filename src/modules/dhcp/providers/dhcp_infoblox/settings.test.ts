import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDhcpOptions } from './provider.ts';

test('options: the plugin\'s list of {name, num, value, vendor_class} maps is accepted', () => {
  assert.deepEqual(checkDhcpOptions([]), { options: [] });
  assert.deepEqual(checkDhcpOptions(null), { options: [] });
  assert.deepEqual(checkDhcpOptions([{ name: 'host-name', num: 12, value: 'x', vendor_class: 'DHCP' }]), { options: [{ name: 'host-name', num: 12, value: 'x', vendor_class: 'DHCP' }] });
});

test('options: bad entries are refused naming the entry and the reason', () => {
  assert.deepEqual(checkDhcpOptions('x'), { error: 'options must be a list of {name, num, value, vendor_class} maps' });
  assert.deepEqual(checkDhcpOptions([{ value: 'x' }]), { error: 'options[0] needs a name or a num' });
  assert.deepEqual(checkDhcpOptions([{ name: 'a' }, { name: 'b', num: 300 }]), { error: 'options[1].num must be an integer 0-255' });
  assert.deepEqual(checkDhcpOptions([{ name: 'a', colour: 'red' }]), { error: "options[0] has an unknown key 'colour' (allowed: name, num, value, vendor_class)" });
  assert.deepEqual(checkDhcpOptions([{ name: ['a'] }]), { error: 'options[0].name must be a string' });
});
