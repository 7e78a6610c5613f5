import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Spool } from './spool.ts';
import { exposeSpoolMetrics } from './metrics.ts';

test('spool counters are exposed per spool and removed at close', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'spool-metrics-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const registry = new Registry();
  const spool = new Spool({
    file: join(dir, 's.sqlite'),
    name: 'test',
    maxItems: 10,
    maxBytes: 1000,
    retryInitialMs: 1000,
    retryMaxMs: 1000,
    deliver: async () => ({ outcome: 'retry', detail: 'down' }),
  });
  const hide = exposeSpoolMetrics(registry, 'openscap', spool);
  spool.enqueue('arf', 'abc');
  spool.enqueue('arf', 'de');
  const text = await registry.metrics();
  assert.match(text, /smart_proxy_spool_pending_items\{spool="openscap"\} 2/);
  assert.match(text, /smart_proxy_spool_pending_bytes\{spool="openscap"\} 5/);
  hide();
  await spool.close();
  assert.doesNotMatch(await registry.metrics(), /spool="openscap"/);
});
