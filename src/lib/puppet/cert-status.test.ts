import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certificateList, parsePuppetTime } from './cert-status.ts';

const NOW = Date.parse('2026-11-21T00:00:00Z');

test('states map as the reference does', () => {
  const list = certificateList(
    [
      { name: 'pending.example', state: 'requested', fingerprint: 'AA:BB' },
      { name: 'valid.example', state: 'signed', fingerprint: 'CC', serial_number: 3, not_before: '2026-11-20T21:19:11UTC', not_after: '2031-11-20T21:19:11UTC' },
      { name: 'expired.example', state: 'signed', fingerprint: 'DD', serial_number: 4, not_before: '2020-01-01T00:00:00UTC', not_after: '2021-01-01T00:00:00UTC' },
      { name: 'revoked.example', state: 'revoked', fingerprint: 'EE', serial_number: 5 },
    ],
    NOW,
  );
  assert.deepEqual(list['pending.example'], { state: 'pending', fingerprint: 'AA:BB', serial: null, not_before: null, not_after: null });
  assert.deepEqual(list['valid.example'], {
    state: 'valid',
    fingerprint: 'CC',
    serial: 3,
    not_before: '2026-11-20T21:19:11UTC',
    not_after: '2031-11-20T21:19:11UTC',
  });
  assert.equal(list['expired.example'].state, 'revoked');
  assert.equal(list['revoked.example'].state, 'revoked');
  assert.deepEqual(Object.keys(list['valid.example']), ['state', 'fingerprint', 'serial', 'not_before', 'not_after']);
});

test('a certname like __proto__ stays an ordinary key', () => {
  const list = certificateList([{ name: '__proto__', state: 'requested' }], NOW);
  assert.equal(Object.getPrototypeOf(list), Object.prototype);
  assert.equal(JSON.stringify(list), '{"__proto__":{"state":"pending","fingerprint":null,"serial":null,"not_before":null,"not_after":null}}');
});

test('unexpected bodies are errors, not crashes', () => {
  assert.throws(() => certificateList({ not: 'an array' }), /not a JSON array/);
  assert.throws(() => certificateList([{ state: 'signed' }]), /without a name/);
  assert.throws(() => certificateList([null]), /without a name/);
});

test('Puppet time strings parse', () => {
  assert.equal(parsePuppetTime('2031-11-20T21:19:11UTC'), Date.parse('2031-11-20T21:19:11Z'));
  assert.ok(Number.isNaN(parsePuppetTime('garbage')));
});
