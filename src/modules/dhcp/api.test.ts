import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sameReservation } from './api.ts';
import { requireIp, requireMac, macList, checkText } from './validate.ts';
import type { Reservation } from './provider.ts';

const stored: Reservation = {
  type: 'reservation',
  name: 'h.example',
  ip: '10.0.0.5',
  mac: '52:54:00:00:00:01',
  deleteable: true,
  options: { hostname: 'h.example', hardware_type: 'ethernet', nextServer: '10.0.0.1', filename: 'pxelinux.0' },
};

test('identical re-post ignores parser-derived attributes but not boot settings', () => {
  const posted = { name: 'h.example', ip: '10.0.0.5', mac: '52:54:00:00:00:01', hostname: 'h.example', nextServer: '10.0.0.1', filename: 'pxelinux.0' };
  assert.ok(sameReservation(stored, posted));
  assert.ok(sameReservation(stored, { ...posted, nextServer: 'tftp.example' }));
  assert.ok(!sameReservation(stored, { ...posted, filename: 'grubx64.efi' }));
  assert.ok(!sameReservation(stored, { ...posted, nextServer: '10.0.0.2' }));
  assert.ok(!sameReservation(stored, { ...posted, hostname: 'other' }));
  assert.ok(!sameReservation(stored, { ...posted, ip: '10.0.0.6' }));
  const { filename: _f, ...noFile } = posted;
  assert.ok(!sameReservation(stored, noFile));
});

test('validation messages name the value', () => {
  assert.throws(() => requireIp('10.0.0'), /^ProxyError: Invalid IP Address 10\.0\.0$/);
  assert.throws(() => requireIp(null), /Invalid IP Address $/);
  assert.equal(requireMac('52:54:00:AA:b:1'), '52:54:00:aa:0b:01');
  assert.throws(() => requireMac('52:54:00:AA:BB'), /Invalid MAC 52:54:00:aa:bb$/);
  assert.deepEqual(macList(null), []);
  assert.deepEqual(macList(['52:54:00:00:00:0A']), ['52:54:00:00:00:0a']);
  assert.throws(() => checkText('filename', 'a\nb'), /Invalid filename/);
});
