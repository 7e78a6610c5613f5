import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SuggestionHolds, searchUnusedIp } from './unused-ip.ts';
import { parseIpv4 } from '../../lib/isc/ipv4.ts';

test('holds expire after their duration', () => {
  let now = 1000;
  const h = new SuggestionHolds(500, () => now);
  h.add(5);
  assert.ok(h.has(5));
  now = 1499;
  assert.ok(h.has(5));
  now = 1500;
  assert.ok(!h.has(5));
  h.add(6);
  now = 5000;
  h.sweep();
  assert.equal(h.size, 0);
});

test('property: visits every address once, returns only free, unheld ones, null when none', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat({ max: 299 })), fc.double({ min: 0, max: 0.999, noNaN: true }), async (n, used, r) => {
      const usedSet = new Set(used.filter((u) => u < n));
      const holds = new SuggestionHolds(60_000);
      const got = new Set<number>();
      for (;;) {
        const ip = await searchUnusedIp({ first: 100, last: 100 + n - 1, isUsed: (x) => usedSet.has(x - 100), holds, random: () => r });
        if (ip === null) break;
        const v = parseIpv4(ip)! - 100;
        assert.ok(v >= 0 && v < n);
        assert.ok(!usedSet.has(v));
        assert.ok(!got.has(v));
        got.add(v);
      }
      assert.equal(got.size + usedSet.size, n);
    }),
    { numRuns: 200 },
  );
});

test('probe: live addresses are skipped but stay held', async () => {
  const holds = new SuggestionHolds(60_000);
  const probed: string[] = [];
  const ip = await searchUnusedIp({
    first: parseIpv4('10.0.0.1')!,
    last: parseIpv4('10.0.0.2')!,
    isUsed: () => false,
    holds,
    random: () => 0,
    probe: async (a) => {
      probed.push(a);
      return a === '10.0.0.1';
    },
  });
  assert.equal(ip, '10.0.0.2');
  assert.deepEqual(probed, ['10.0.0.1', '10.0.0.2']);
  assert.equal(holds.size, 2);
});
