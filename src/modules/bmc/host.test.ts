import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseBmcAddress, formatAddress, checkCredential } from './host.ts';
import { ProxyError } from '../../core/errors.ts';

test('accepts names, IPv4, IPv6 and ports', () => {
  assert.deepEqual(parseBmcAddress('bmc1.example.com'), { host: 'bmc1.example.com', port: undefined });
  assert.deepEqual(parseBmcAddress('10.0.0.5'), { host: '10.0.0.5', port: undefined });
  assert.deepEqual(parseBmcAddress('10.0.0.5:623'), { host: '10.0.0.5', port: 623 });
  assert.deepEqual(parseBmcAddress('fe80::1'), { host: 'fe80::1', port: undefined });
  assert.deepEqual(parseBmcAddress('[2001:db8::1]:443'), { host: '2001:db8::1', port: 443 });
  assert.deepEqual(parseBmcAddress('bmc_1'), { host: 'bmc_1', port: undefined });
  assert.equal(formatAddress({ host: '2001:db8::1', port: 443 }), '[2001:db8::1]:443');
  assert.equal(formatAddress({ host: 'h', port: undefined }), 'h');
});

test('refuses option-looking, shell-looking and malformed hosts', () => {
  for (const bad of ['-o', '-oProxyCommand=x', 'a;b', '$(x)', '`x`', 'a\nb', 'a b', '', '1.2.3.4.5', '300.1.1.1', 'h:0', 'h:70000', 'h:', '[::1', '[x]:1', 'a..b', '-a.b', 'a-.b']) {
    assert.throws(() => parseBmcAddress(bad), (e: unknown) => e instanceof ProxyError && e.status === 400, JSON.stringify(bad));
  }
});

test('property: whatever is accepted is made of safe characters and cannot look like an option', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('-x', 'a;b', 'a$b', '[::1]:1')), (s) => {
      let a;
      try {
        a = parseBmcAddress(s);
      } catch (e) {
        assert.ok(e instanceof ProxyError && e.status === 400);
        return;
      }
      assert.match(a.host, /^[A-Za-z0-9_.:]+$|^[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
      assert.ok(!a.host.startsWith('-'));
      assert.ok(a.port === undefined || (a.port >= 1 && a.port <= 65535));
    }),
    { numRuns: 1000 },
  );
});

test('credentials with control characters are refused, naming the field', () => {
  assert.throws(() => checkCredential('username', 'a\nb'), /username/);
  assert.throws(() => checkCredential('password', 'a\u0000b'), /password/);
  checkCredential('password', '$(x);-o "y"');
});
