// The pg-boss WorkQueue with two instances ("replicas") on one real PostgreSQL database: each job
// runs once, delayed jobs wait, singleton keys dedupe and cancel, failures retry, a graceful stop
// hands running jobs over, and a replica process killed mid-job (SIGKILL, by its PID) loses its job
// to the other replica once its heartbeat stops.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startPostgres, type PostgresCluster } from '../lib/postgres.ts';
import { waitFor } from '../lib/procs.ts';
import { PgBossWorkQueue, type PgBossQueueOptions } from '../../src/modules/dynflow/queue/pgboss.ts';

let cluster: PostgresCluster;
let url: string;
const queues: PgBossWorkQueue[] = [];
const children: ChildProcess[] = [];

// Short intervals so the test waits seconds, not minutes: pg-boss's minimum heartbeat is 10 s.
const FAST: PgBossQueueOptions = { heartbeatSeconds: 10, superviseIntervalSeconds: 1, pollingIntervalSeconds: 0.5, poolSize: 3 };

before(async () => {
  cluster = await startPostgres();
  url = await cluster.createDatabase();
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const q of queues) await q.stop(Date.now() + 2000).catch(() => undefined);
  await cluster?.stop();
});

async function replica(opts: PgBossQueueOptions = {}): Promise<PgBossWorkQueue> {
  const q = new PgBossWorkQueue(url, { ...FAST, ...opts });
  queues.push(q);
  await q.start();
  return q;
}

test('two replicas on one database: every job is handled exactly once, whichever replica sent it', async () => {
  const [a, b] = await Promise.all([replica(), replica()]);
  const handled: Array<{ by: string; n: number; attempt: number }> = [];
  const handler = (by: string) => async (job: { data: Record<string, unknown>; attempt: number }) => {
    handled.push({ by, n: Number(job.data.n), attempt: job.attempt });
    await new Promise((r) => setTimeout(r, 20));
  };
  await a.work('once', 3, handler('a'));
  await b.work('once', 3, handler('b'));
  const ids = await Promise.all(Array.from({ length: 30 }, (_, n) => (n % 2 ? a : b).send('once', { n })));
  assert.equal(new Set(ids).size, 30);
  await waitFor('30 jobs handled', () => handled.length >= 30, 30_000);
  // let any duplicate show up before counting
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(
    handled.map((h) => h.n).sort((x, y) => x - y),
    Array.from({ length: 30 }, (_, n) => n),
  );
  assert.ok(handled.every((h) => h.attempt === 1));
});

test('a delayed job does not run before its startAfter', async () => {
  const q = await replica();
  const ran: Array<{ at: number; due: number }> = [];
  await q.work('delayed', 2, async (job) => {
    ran.push({ at: Date.now(), due: Number(job.data.due) });
  });
  const due = Date.now() + 2500;
  await q.send('delayed', { due }, { startAfter: due });
  await q.send('delayed', { due: 0 });
  await waitFor('both jobs ran', () => ran.length === 2, 20_000);
  assert.equal(ran[0]?.due, 0, 'the immediate job ran first');
  assert.ok((ran[1]?.at ?? 0) >= due, 'the delayed job ran at or after its startAfter');
});

test('singletonKey: one queued job per key across replicas; cancelByKey drops it; the key is free again after', async () => {
  const [a, b] = await Promise.all([replica(), replica()]);
  const later = Date.now() + 60_000;
  const first = await a.send('timers', { v: 1 }, { singletonKey: 'timeout:t1', startAfter: later });
  const second = await b.send('timers', { v: 2 }, { singletonKey: 'timeout:t1', startAfter: later });
  assert.ok(first);
  assert.equal(second, first, 'the second send returns the job already queued');
  const other = await b.send('timers', { v: 3 }, { singletonKey: 'timeout:t2', startAfter: later });
  assert.notEqual(other, first);
  await b.cancelByKey('timers', 'timeout:t1');
  const ran: number[] = [];
  await a.work('timers', 2, async (job) => {
    ran.push(Number(job.data.v));
  });
  const rearmed = await a.send('timers', { v: 4 }, { singletonKey: 'timeout:t1' });
  assert.notEqual(rearmed, first, 'a cancelled key can be armed again');
  await waitFor('the re-armed timer ran', () => ran.includes(4), 15_000);
  assert.ok(!ran.includes(1) && !ran.includes(2), 'the cancelled timer never ran');
});

test('a handler that throws is retried with the next attempt number, up to retryLimit', async () => {
  const q = await replica();
  const attempts: number[] = [];
  await q.work('flaky', 1, async (job) => {
    attempts.push(job.attempt);
    if (job.attempt < 3) throw new Error(`attempt ${job.attempt} fails`);
  });
  await q.send('flaky', {}, { retryLimit: 2, retryDelaySeconds: 1, retryBackoff: true });
  await waitFor('the third attempt', () => attempts.length >= 3, 30_000);
  assert.deepEqual(attempts, [1, 2, 3]);
});

test('graceful stop: a job still running at the deadline is handed to the other replica at once', async () => {
  const a = await replica();
  const b = await replica();
  let startedOnA = false;
  await a.work('handover', 1, async () => {
    startedOnA = true;
    await new Promise((r) => setTimeout(r, 60_000).unref());
  });
  await a.send('handover', { job: 'long' }, { heartbeat: true, retryLimit: 2 });
  await waitFor('replica a took the job', () => startedOnA, 15_000);
  const onB: number[] = [];
  await b.work('handover', 1, async (job) => {
    onB.push(job.attempt);
  });
  await a.stop(Date.now() + 1000);
  await waitFor('replica b ran the job', () => onB.length === 1, 15_000);
  assert.deepEqual(onB, [2]);
});

const WORKER_SCRIPT = `
import { PgBossWorkQueue } from ${JSON.stringify(fileURLToPath(new URL('../../src/modules/dynflow/queue/pgboss.ts', import.meta.url)))};
const q = new PgBossWorkQueue(process.env.TEST_DATABASE_URL, ${JSON.stringify(FAST)});
await q.start();
await q.work('runs', 1, async (job) => {
  process.stdout.write('took ' + job.id + ' attempt ' + job.attempt + '\\n');
  await new Promise(() => {}); // hangs until the process is killed
});
process.stdout.write('ready\\n');
`;

test('a replica process killed mid-job (SIGKILL): the job is retried on the other replica after its heartbeat stops', async () => {
  // the database URL (with its password) goes through the environment, never argv
  const child = spawn(process.execPath, ['--input-type=module', '-e', WORKER_SCRIPT], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TEST_DATABASE_URL: url },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  await waitFor('the worker process is ready', () => out.includes('ready\n'), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}: ${err}`);
  });

  const survivor = await replica();
  const jobId = await survivor.send('runs', { taskId: 't-1' }, { heartbeat: true, retryLimit: 2, singletonKey: 'run:t-1' });
  await waitFor('the worker process took the job', () => out.includes(`took ${jobId} attempt 1`), 20_000);

  child.kill('SIGKILL');
  await once(child, 'exit');

  const retried: Array<{ id: string; attempt: number; data: Record<string, unknown> }> = [];
  await survivor.work('runs', 1, async (job) => {
    retried.push(job);
  });
  // heartbeat (10 s) + supervise interval (1 s) + polling: well inside 40 s
  await waitFor('the survivor ran the dead replica\'s job', () => retried.length > 0, 40_000);
  assert.equal(retried[0]?.id, jobId);
  assert.equal(retried[0]?.attempt, 2);
  assert.deepEqual(retried[0]?.data, { taskId: 't-1' });
});
