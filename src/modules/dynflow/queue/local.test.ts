// The local (node:sqlite) work queue: order and concurrency, singleton keys, retries with backoff,
// delayed jobs and cancelling them, and jobs interrupted by a crash running again at start.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { LocalWorkQueue } from './local.ts';

/** Resolves when `check` holds, polling briefly (the queue runs jobs on its own schedule). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function memoryQueue(t: TestContext): Promise<LocalWorkQueue> {
  const db = new DatabaseSync(':memory:');
  const q = new LocalWorkQueue(db);
  await q.start();
  t.after(async () => {
    await q.stop(Date.now() + 1000);
    db.close();
  });
  return q;
}

test('jobs run in the order sent, never more at once than the concurrency', async (t) => {
  const q = await memoryQueue(t);
  const seen: number[] = [];
  let active = 0;
  let maxActive = 0;
  for (let i = 0; i < 10; i++) await q.send('work', { n: i });
  await q.work('work', 3, async (job) => {
    active++;
    maxActive = Math.max(maxActive, active);
    seen.push(job.data.n as number);
    await new Promise((r) => setTimeout(r, 5));
    active--;
  });
  await until(() => seen.length === 10 && active === 0, 'all jobs');
  assert.deepEqual(seen.slice(0, 3).sort(), [0, 1, 2]);
  assert.deepEqual([...seen].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.ok(maxActive <= 3, `at most 3 at once, saw ${maxActive}`);
  await until(() => q.size('work') === 0, 'finished jobs removed');
});

test('a singleton key keeps one queued job per key', async (t) => {
  const q = await memoryQueue(t);
  const later = Date.now() + 60_000;
  const a = await q.send('timer', { v: 1 }, { singletonKey: 'k', startAfter: later });
  const b = await q.send('timer', { v: 2 }, { singletonKey: 'k', startAfter: later });
  assert.equal(a, b);
  assert.equal(q.size('timer'), 1);
  await q.send('timer', { v: 3 }, { singletonKey: 'other', startAfter: later });
  assert.equal(q.size('timer'), 2);
  await q.cancelByKey('timer', 'k');
  assert.equal(q.size('timer'), 1);
});

test('a failing job is retried with backoff until its retry limit, counting attempts', async (t) => {
  const errors: boolean[] = [];
  const db = new DatabaseSync(':memory:');
  const q = new LocalWorkQueue(db, { onError: (_q, _id, _err, willRetry) => errors.push(willRetry) });
  await q.start();
  t.after(async () => {
    await q.stop(Date.now() + 1000);
    db.close();
  });
  const attempts: number[] = [];
  await q.work('flaky', 1, async (job) => {
    attempts.push(job.attempt);
    if (job.attempt < 3) throw new Error('not yet');
  });
  await q.send('flaky', {}, { retryLimit: 5, retryDelaySeconds: 0.01, retryBackoff: true });
  await until(() => attempts.length === 3, 'three attempts');
  assert.deepEqual(attempts, [1, 2, 3]);
  assert.deepEqual(errors, [true, true]);

  const given: number[] = [];
  await q.work('doomed', 1, async (job) => {
    given.push(job.attempt);
    throw new Error('never');
  });
  await q.send('doomed', {}, { retryLimit: 1, retryDelaySeconds: 0.01 });
  await until(() => q.size('doomed') === 0, 'the job given up');
  assert.deepEqual(given, [1, 2]);
  assert.deepEqual(errors.slice(2), [true, false]);
});

test('idle costs nothing: one timer for the earliest delayed job, none once the queue is empty', async (t) => {
  const q = await memoryQueue(t);
  const ran: number[] = [];
  await q.work('timer', 1, async (job) => {
    ran.push(job.data.n as number);
  });
  assert.equal(q.nextWakeAt(), undefined, 'no timer without jobs');
  const now = Date.now();
  await q.send('timer', { n: 2 }, { startAfter: now + 120 });
  await q.send('timer', { n: 1 }, { startAfter: now + 60 });
  assert.equal(q.nextWakeAt(), now + 60, 'armed for the earliest job');
  await until(() => ran.length === 2, 'both delayed jobs');
  assert.deepEqual(ran, [1, 2]);
  await until(() => q.size() === 0, 'the queue to empty');
  assert.equal(q.nextWakeAt(), undefined, 'no timer left once idle');
});

test('a delayed job waits for its time; a cancelled one never runs', async (t) => {
  const q = await memoryQueue(t);
  const ran: string[] = [];
  await q.work('timer', 2, async (job) => {
    ran.push(job.data.name as string);
  });
  const sentAt = Date.now();
  await q.send('timer', { name: 'cancelled' }, { singletonKey: 'x', startAfter: sentAt + 80 });
  await q.send('timer', { name: 'due' }, { startAfter: sentAt + 100 });
  await q.cancelByKey('timer', 'x');
  await until(() => ran.length === 1, 'the delayed job');
  assert.deepEqual(ran, ['due']);
  assert.ok(Date.now() >= sentAt + 100, 'not before its time');
});

test('a job running when the process stopped runs again at the next start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dynflow-queue-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'q.sqlite');
  const db1 = new DatabaseSync(path);
  const q1 = new LocalWorkQueue(db1);
  await q1.start();
  let started = false;
  await q1.work('run', 1, async () => {
    started = true;
    await new Promise(() => undefined); // the process "dies" while this runs
  });
  await q1.send('run', { task: 't1' });
  await until(() => started, 'the first attempt');
  await q1.stop(Date.now()); // does not wait: the job stays active in the file
  db1.close();

  const db2 = new DatabaseSync(path);
  const q2 = new LocalWorkQueue(db2);
  t.after(async () => {
    await q2.stop(Date.now() + 1000);
    db2.close();
  });
  await q2.start();
  const again: Array<{ task: unknown; attempt: number }> = [];
  await q2.work('run', 1, async (job) => {
    again.push({ task: job.data.task, attempt: job.attempt });
  });
  await until(() => again.length === 1, 'the job run again');
  assert.deepEqual(again, [{ task: 't1', attempt: 2 }]);
});
