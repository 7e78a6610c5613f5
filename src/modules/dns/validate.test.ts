import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProxyError } from '../../core/errors.ts';
import { classify } from './conflicts.ts';
import { isDnsName, validateCreate, validateRemove } from './validate.ts';

const msg = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProxyError);
    return `${err.status} ${err.message}`;
  }
  return 'no error';
};

test('names: the reference rule, checked without backtracking', () => {
  for (const ok of ['host', 'host.example.test', 'host.example.test.', 'a-.b', '1.2.3.4.in-addr.arpa', 'X9'])
    assert.ok(isDnsName(ok), ok);
  for (const bad of ['', '.', '-a', 'a..b', 'a.-b', 'a_b', 'a b', 'a.b..', 'x'.repeat(64), 'ä.example'])
    assert.ok(!isDnsName(bad), bad);
  assert.ok(isDnsName('_sip._tcp.example.test', true));
  assert.ok(!isDnsName('_sip._tcp.example.test'));
  // adversarial input that makes the reference's nested-quantifier regex backtrack
  assert.ok(!isDnsName('a'.repeat(200) + '!'));
});

test('create: order of checks and normalisation', () => {
  assert.deepEqual(validateCreate('h.example.test', '2001:0DB8:0:0:0:0:0:1', 'aaaa'), {
    type: 'AAAA',
    fqdn: 'h.example.test',
    value: '2001:db8::1',
  });
  assert.deepEqual(validateCreate('_s._udp.x', '01 2 3 t.x', 'srv').value, '1 2 3 t.x');
  assert.equal(msg(() => validateCreate(null, 'v', 'A')), "400 'create' requires fqdn, value, and type parameters");
  assert.equal(msg(() => validateCreate('bad name', 'v', 'FOO')), '400 Invalid DNS name bad name');
  assert.equal(msg(() => validateCreate('h', 'v', 'FOO')), "400 unrecognized 'type' parameter: FOO");
  assert.equal(msg(() => validateCreate('h', '1 2 3', 'SRV')), '400 Invalid DNS SRV value 1 2 3');
  assert.equal(msg(() => validateCreate('h', '1 2 3 bad!', 'SRV')), '400 Invalid DNS SRV value 1 2 3 bad!');
  assert.equal(msg(() => validateCreate('h', '1 70000 3 t', 'SRV')), '400 Invalid DNS SRV value 1 70000 3 t');
  assert.equal(msg(() => validateCreate('h', 'x.example.test', 'PTR')), '400 Invalid reverse DNS x.example.test');
});

test('remove: type defaults from the name and is case-sensitive', () => {
  assert.deepEqual(validateRemove('1.2.0.192.in-addr.arpa', undefined), { type: 'PTR', name: '1.2.0.192.in-addr.arpa' });
  assert.deepEqual(validateRemove('h.example.test', undefined), { type: 'A', name: 'h.example.test' });
  assert.equal(msg(() => validateRemove('h.example.test', 'aaaa')), "400 unrecognized 'type' parameter: aaaa");
  assert.equal(msg(() => validateRemove('h.example.test', 'PTR')), '400 Invalid reverse DNS h.example.test');
  assert.equal(msg(() => validateRemove('_x._tcp', 'A')), '400 Invalid DNS name _x._tcp');
  assert.deepEqual(validateRemove('_x._tcp', 'SRV'), { type: 'SRV', name: '_x._tcp' });
});

test('validation never throws anything but a 400 ProxyError, whatever the input', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), fc.constantFrom('A', 'AAAA', 'PTR', 'CNAME', 'SRV', 'x'), (f, v, t) => {
      try {
        validateCreate(f, v, t);
      } catch (err) {
        assert.ok(err instanceof ProxyError && err.status === 400);
      }
      try {
        validateRemove(f, t);
      } catch (err) {
        assert.ok(err instanceof ProxyError && err.status === 400);
      }
    }),
    { numRuns: 2000 },
  );
});

test('conflict classification', () => {
  assert.equal(classify('A', [], '192.0.2.1'), 'none');
  assert.equal(classify('A', ['192.0.2.2', '192.0.2.1'], '192.0.2.1'), 'same');
  assert.equal(classify('A', ['192.0.2.2'], '192.0.2.1'), 'different');
  assert.equal(classify('AAAA', ['2001:db8:0::1'], '2001:db8::1'), 'same');
  assert.equal(classify('PTR', ['Host.Example.Test.'], 'host.example.test'), 'same');
  assert.equal(classify('CNAME', ['a.example.test.'], 'a.example.test.'), 'same');
  assert.equal(classify('CNAME', ['a.example.test.'], 'b.example.test'), 'different');
  assert.equal(classify('SRV', ['0 0 1 x.'], '1 1 1 y'), 'none');
});
