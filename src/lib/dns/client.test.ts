import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatServer, parseServerSpec } from './client.ts';
import { DnsError } from './errors.ts';

test('dns_server forms: host, host:port, [v6]:port, bare v6, nsupdate-style "host port"', () => {
  assert.deepEqual(parseServerSpec('localhost'), { host: 'localhost', port: 53 });
  assert.deepEqual(parseServerSpec('127.0.0.1:5300'), { host: '127.0.0.1', port: 5300 });
  assert.deepEqual(parseServerSpec('ns1.example.com:5353'), { host: 'ns1.example.com', port: 5353 });
  assert.deepEqual(parseServerSpec('[::1]:5300'), { host: '::1', port: 5300 });
  assert.deepEqual(parseServerSpec('[2001:db8::53]'), { host: '2001:db8::53', port: 53 });
  assert.deepEqual(parseServerSpec('2001:db8::53'), { host: '2001:db8::53', port: 53 });
  assert.deepEqual(parseServerSpec('127.0.0.1 5300'), { host: '127.0.0.1', port: 5300 });
  assert.deepEqual(parseServerSpec(' 10.0.0.1 '), { host: '10.0.0.1', port: 53 });
  for (const bad of ['', 'a:b', 'h:0', 'h:70000', 'x y z', 'a/b', '[::1]:x']) {
    assert.throws(() => parseServerSpec(bad), DnsError, bad);
  }
  assert.equal(formatServer({ host: '::1', port: 53 }), '[::1]:53');
  assert.equal(formatServer({ host: '127.0.0.1', port: 5300 }), '127.0.0.1:5300');
});
