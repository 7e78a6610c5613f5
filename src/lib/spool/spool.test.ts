import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, SpoolFullError, type DeliveryOutcome, type SpoolItem, type SpoolOptions } from './spool.ts';

async function tempFile(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'spool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'spool.sqlite');
}

function options(file: string, deliver: SpoolOptions['deliver'], extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return { file, name: 'test', maxItems: 100, maxBytes: 1 << 20, retryInitialMs: 5, retryMaxMs: 20, deliver, ...extra };
}

function until(cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const tick = (): void => {
      if (cond()) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
}

test('delivers items in commit order, one at a time', async (t) => {
  const file = await tempFile(t);
  const seen: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const spool = new Spool(
    options(file, async (item) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      seen.push(item.payload);
      inFlight--;
      return { outcome: 'delivered' };
    }),
  );
  t.after(() => spool.close());
  for (let i = 0; i < 20; i++) spool.enqueue('k', `p${i}`);
  spool.start();
  await until(() => seen.length === 20);
  assert.deepEqual(seen, Array.from({ length: 20 }, (_, i) => `p${i}`));
  assert.equal(maxInFlight, 1);
  assert.equal(spool.stats().pending, 0);
});

test('retries the head with backoff until the receiver comes back, without reordering', async (t) => {
  const file = await tempFile(t);
  let up = false;
  const attempts: string[] = [];
  const seen: string[] = [];
  const spool = new Spool(
    options(file, async (item): Promise<DeliveryOutcome> => {
      attempts.push(item.payload);
      if (!up) return { outcome: 'retry', detail: 'connection refused' };
      seen.push(item.payload);
      return { outcome: 'delivered' };
    }),
  );
  t.after(() => spool.close());
  spool.start();
  const first = spool.enqueue('k', 'a');
  spool.enqueue('k', 'b');
  await until(() => attempts.length >= 4);
  assert.ok(attempts.every((p) => p === 'a'), 'only the head is tried while the receiver is down');
  assert.equal(spool.stats().lastError, 'connection refused');
  const outcome = spool.outcome(first.id, 5000);
  up = true;
  assert.deepEqual(await outcome, { outcome: 'delivered' });
  await until(() => seen.length === 2);
  assert.deepEqual(seen, ['a', 'b']);
});

test('items survive a close and reopen; the key and the attempt count are kept', async (t) => {
  const file = await tempFile(t);
  const first = new Spool(options(file, async () => ({ outcome: 'retry', detail: 'down' })));
  first.start();
  const a = first.enqueue('arf', 'a', { cname: 'h1' });
  first.enqueue('arf', 'b');
  await until(() => first.stats().retries >= 1);
  await first.close();

  const delivered: SpoolItem[] = [];
  const second = new Spool(
    options(file, async (item) => {
      delivered.push(item);
      return { outcome: 'delivered' };
    }),
  );
  t.after(() => second.close());
  assert.equal(second.stats().pending, 2);
  second.start();
  await until(() => delivered.length === 2);
  assert.equal(delivered[0]?.key, a.key);
  assert.deepEqual(delivered[0]?.meta, { cname: 'h1' });
  assert.ok((delivered[0]?.attempts ?? 0) >= 1);
  assert.deepEqual(
    delivered.map((d) => d.payload),
    ['a', 'b'],
  );
});

test('a delivery aborted by close stays spooled', async (t) => {
  const file = await tempFile(t);
  let started = false;
  const first = new Spool(
    options(file, (_item, signal) => {
      started = true;
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    }),
  );
  first.start();
  first.enqueue('k', 'x');
  await until(() => started);
  await first.close();
  const second = new Spool(options(file, async () => ({ outcome: 'delivered' })));
  t.after(() => second.close());
  assert.equal(second.stats().pending, 1);
});

test('rejected items leave the queue for the dead-letter table', async (t) => {
  const file = await tempFile(t);
  const spool = new Spool(options(file, async (item) => (item.payload === 'bad' ? { outcome: 'rejected', detail: '422 Unprocessable' } : { outcome: 'delivered' })));
  t.after(() => spool.close());
  spool.start();
  const bad = spool.enqueue('arf', 'bad', { cname: 'h' });
  spool.enqueue('arf', 'good');
  assert.deepEqual(await spool.outcome(bad.id, 5000), { outcome: 'rejected', detail: '422 Unprocessable' });
  await until(() => spool.stats().pending === 0);
  const [rejected] = spool.rejectedItems();
  assert.equal(rejected?.reason, '422 Unprocessable');
  assert.deepEqual(rejected?.meta, { cname: 'h' });
  assert.equal(spool.stats().delivered, 1);
});

test('enqueue beyond the item or byte bound fails and commits nothing', async (t) => {
  const file = await tempFile(t);
  const spool = new Spool(options(file, async () => ({ outcome: 'retry', detail: 'down' }), { maxItems: 2, maxBytes: 10 }));
  t.after(() => spool.close());
  spool.enqueue('k', '12345');
  assert.throws(() => spool.enqueue('k', '1234567'), SpoolFullError);
  spool.enqueue('k', '1');
  assert.throws(() => spool.enqueue('k', '1'), /full: 2 items/);
  assert.equal(spool.stats().pending, 2);
});

test('a waiter still waiting at close learns nothing final: the item stays for the next run', async (t) => {
  const file = await tempFile(t);
  const spool = new Spool(options(file, (_item, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))));
  spool.start();
  const item = spool.enqueue('k', 'x');
  const waiting = spool.outcome(item.id, 60_000);
  await spool.close();
  assert.equal(await waiting, undefined);
  const reopened = new Spool(options(file, async () => ({ outcome: 'delivered' })));
  t.after(() => reopened.close());
  assert.equal(reopened.stats().pending, 1);
});
