import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { negotiate, type NegotiationLimits } from './options.ts';

const limits: NegotiationLimits = { maxBlksize: 65464, maxWindowsize: 64, maxWindowBytes: 1 << 20, defaultTimeoutMs: 1000 };
const opts = (o: Record<string, string>) => new Map(Object.entries(o));

test('no options: RFC 1350 defaults and no OACK', () => {
  assert.deepEqual(negotiate(new Map(), limits, 10), { blksize: 512, windowsize: 1, timeoutMs: 1000, oack: new Map() });
});

test('blksize, tsize, timeout, windowsize are acknowledged in request order', () => {
  const n = negotiate(opts({ tsize: '0', blksize: '1468', windowsize: '8', timeout: '3' }), limits, 12345);
  assert.deepEqual([...n.oack], [
    ['tsize', '12345'],
    ['blksize', '1468'],
    ['windowsize', '8'],
    ['timeout', '3'],
  ]);
  assert.equal(n.blksize, 1468);
  assert.equal(n.windowsize, 8);
  assert.equal(n.timeoutMs, 3000);
});

test('out-of-range and garbage values are ignored or lowered', () => {
  const n = negotiate(opts({ blksize: '7', timeout: '256', windowsize: '0', tsize: 'x', foo: 'bar' }), limits, 5);
  assert.equal(n.oack.size, 0);
  const big = negotiate(opts({ blksize: '99999', windowsize: '65535' }), { ...limits, maxBlksize: 1428 }, 5);
  assert.equal(big.blksize, 1428);
  assert.equal(big.oack.get('blksize'), '1428');
  assert.equal(big.windowsize, 64);
});

test('tsize is not offered when the size is unknown (netascii)', () => {
  assert.equal(negotiate(opts({ tsize: '0' }), limits, null).oack.size, 0);
});

test('window memory stays under maxWindowBytes whatever is asked', () => {
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 70000 }), fc.integer({ min: 1, max: 65535 }), (b, w) => {
      const n = negotiate(opts({ blksize: String(b), windowsize: String(w) }), limits, 0);
      assert.ok(n.blksize >= 8 && n.blksize <= 65464);
      assert.ok(n.windowsize >= 1 && n.windowsize <= 64);
      assert.ok(n.windowsize === 1 || n.windowsize * n.blksize <= limits.maxWindowBytes);
      assert.equal(n.oack.get('windowsize'), String(n.windowsize));
    }),
  );
});
