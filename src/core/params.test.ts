import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseRackQuery } from './params.ts';

test('bare keys without = become null (what Foreman sends for nil and [])', () => {
  const p = parseRackQuery('hostname=h1&mac=52%3A54%3A00%3Aaa%3Abb%3Acc&related_macs&nextServer=10.0.0.1');
  assert.equal(p.hostname, 'h1');
  assert.equal(p.mac, '52:54:00:aa:bb:cc');
  assert.equal(p.related_macs, null);
  assert.ok('related_macs' in p);
});

test('Rack nesting: lists, maps and lists of maps', () => {
  assert.deepEqual({ ...parseRackQuery('a[]=1&a[]=2') }, { a: ['1', '2'] });
  assert.deepEqual({ ...parseRackQuery('h[k]=v&h[j]=w') }, { h: { k: 'v', j: 'w' } });
  assert.deepEqual({ ...parseRackQuery('l[][x]=1&l[][y]=2&l[][x]=3') }, { l: [{ x: '1', y: '2' }, { x: '3' }] });
  assert.deepEqual({ ...parseRackQuery('a=1+2&b=%2B') }, { a: '1 2', b: '+' });
  assert.deepEqual({ ...parseRackQuery('a=1;b=2') }, { a: '1', b: '2' });
});

test('prototype pollution attempts stay inert', () => {
  const p = parseRackQuery('__proto__[x]=1&a[__proto__][y]=2&constructor[prototype][z]=3');
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.equal(({} as Record<string, unknown>).y, undefined);
  assert.equal(({} as Record<string, unknown>).z, undefined);
  assert.equal(Object.getPrototypeOf(p), null);
});

test('malformed input never throws (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseRackQuery(s);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', '[', ']', '=', '&', '%', '%zz', '+', '[]', 'b', ';'), { maxLength: 60 }), (parts) => {
      parseRackQuery(parts.join(''));
    }),
    { numRuns: 2000 },
  );
});

test('round trip of simple key/values (property)', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/), fc.string({ maxLength: 30 })), (obj) => {
      const qs = new URLSearchParams(obj).toString();
      assert.deepEqual({ ...parseRackQuery(qs) }, { ...obj });
    }),
  );
});
