import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changeTimeoutMs, recordTtl } from './provider-settings.ts';

test('recordTtl: default 86400, whole seconds within 31 bits, errors name provider and key', () => {
  assert.equal(recordTtl('dns_nsupdate', undefined), 86400);
  assert.equal(recordTtl('dns_nsupdate', 0), 0);
  assert.equal(recordTtl('dns_powerdns', 0x7fffffff), 0x7fffffff);
  for (const bad of [-1, 0x80000000, 1.5, 'soon']) {
    assert.throws(() => recordTtl('dns_powerdns', bad), {
      message: `dns_powerdns: dns_ttl must be a whole number of seconds, got '${String(bad)}'`,
    });
  }
});

test('changeTimeoutMs: 1 to 55 whole seconds, in ms; errors name provider and key', () => {
  assert.equal(changeTimeoutMs('dns_nsupdate', 'dns_timeout', 1), 1000);
  assert.equal(changeTimeoutMs('dns_powerdns', 'powerdns_timeout', 55), 55_000);
  for (const bad of [0, 56, 2.5, undefined]) {
    assert.throws(() => changeTimeoutMs('dns_nsupdate', 'dns_timeout', bad), {
      message: `dns_nsupdate: dns_timeout must be a whole number of seconds between 1 and 55, got '${String(bad)}'`,
    });
  }
});
