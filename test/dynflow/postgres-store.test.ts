// The PostgreSQL TaskStore against a real PostgreSQL server (initdb'd in a temp dir, see
// test/lib/postgres.ts): the shared TaskStore contract, then what only PostgreSQL has — replicas
// racing on one row from separate pools, migrations run by replicas that start together, bytes
// PostgreSQL text cannot hold, and a password that never shows in errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type PostgresCluster } from '../lib/postgres.ts';
import { PostgresTaskStore, SCHEMA_VERSION, createPostgresStore, redactDatabaseUrl, checkDatabaseUrl } from '../../src/modules/dynflow/store/postgres.ts';
import { sampleTask, storeContract } from '../../src/modules/dynflow/store/contract.ts';
import type { TaskRecord, TaskStore } from '../../src/modules/dynflow/types.ts';

let cluster: PostgresCluster;
const stores: TaskStore[] = [];

before(async () => {
  cluster = await startPostgres();
});

after(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  await cluster?.stop();
});

/** A fresh database and an opened store on it (closed by `after`). */
async function freshStore(url?: string, poolSize = 4): Promise<{ store: PostgresTaskStore; url: string }> {
  const dbUrl = url ?? (await cluster.createDatabase());
  const store = new PostgresTaskStore(dbUrl, { poolSize });
  stores.push(store);
  await store.open();
  return { store, url: dbUrl };
}

let n = 0;
function task(over: Partial<TaskRecord> = {}): TaskRecord {
  n++;
  return sampleTask({ id: `task-${n}-${Math.random().toString(36).slice(2, 8)}`, input: { hostname: 'host.example.test', script: 'true' }, callback: { task_id: 'foreman-task', step_id: 3 }, ...over });
}

// ---- the shared contract (the same tests the sqlite store passes) -------------------------------

storeContract(async () => {
  const store = await createPostgresStore(await cluster.createDatabase(), { poolSize: 4 });
  stores.push(store); // the contract closes it; `after` closes whatever a failure left open
  return store;
}, 'PostgreSQL');

// ---- PostgreSQL only -----------------------------------------------------------------------------

test('migrations: two replicas opening a new database at once both succeed, each version applied once; reopening changes nothing', async () => {
  const url = await cluster.createDatabase();
  const a = new PostgresTaskStore(url, { poolSize: 2 });
  const b = new PostgresTaskStore(url, { poolSize: 2 });
  stores.push(a, b);
  await Promise.all([a.open(), b.open()]);
  await a.open();
  assert.equal(await a.schemaVersion(), SCHEMA_VERSION);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ version: number; n: string }>('SELECT version, count(*) AS n FROM dynflow_schema_version GROUP BY version ORDER BY version');
    assert.deepEqual(
      rows.map((r) => [r.version, Number(r.n)]),
      Array.from({ length: SCHEMA_VERSION }, (_, i) => [i + 1, 1]),
    );
    // the data survives a reopen
    const t = task();
    await a.insertTask(t);
    await b.open();
    assert.equal((await b.get(t.id))?.id, t.id);
  } finally {
    await c.end();
  }
});

test('migrations: a database migrated by a newer proxy is refused with a clear message', async () => {
  const { url } = await freshStore();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('INSERT INTO dynflow_schema_version (version) VALUES ($1)', [SCHEMA_VERSION + 5]);
  } finally {
    await c.end();
  }
  const older = new PostgresTaskStore(url, { poolSize: 1 });
  stores.push(older);
  await assert.rejects(older.open(), (err: Error) => {
    assert.match(err.message, new RegExp(`schema is version ${SCHEMA_VERSION + 5}, newer than this proxy knows \\(${SCHEMA_VERSION}\\)`));
    return true;
  });
});

test('compare-and-set: two replicas (two pools) finishing the same tasks at once, exactly one wins each', async () => {
  const { store: a, url } = await freshStore(undefined, 5);
  const { store: b } = await freshStore(url, 5);
  const tasks = Array.from({ length: 40 }, () => task({ state: 'running', owner: 'replica-a', startedAt: Date.now() }));
  for (const t of tasks) await a.insertTask(t);
  const results = await Promise.all(
    tasks.flatMap((t) => [
      a.update(t.id, { state: 'stopped', result: 'success', exitStatus: 0, owner: 'replica-a' }, ['running']),
      b.update(t.id, { state: 'stopped', result: 'error', exitStatus: 'EXCEPTION', owner: 'replica-b' }, ['running']),
    ]),
  );
  for (let i = 0; i < tasks.length; i++) {
    const [ra, rb] = [results[2 * i], results[2 * i + 1]];
    assert.equal(Number(ra !== undefined) + Number(rb !== undefined), 1, `task ${i}: exactly one update applies`);
    const winner = (ra ?? rb) as TaskRecord;
    const stored = (await a.get(tasks[i].id)) as TaskRecord;
    // the stored row is the winner's whole patch, never a mix of both
    assert.deepEqual([stored.result, stored.exitStatus, stored.owner], [winner.result, winner.exitStatus, winner.owner]);
  }
  // and a finished task cannot be finished again
  assert.equal(await b.update(tasks[0].id, { result: 'cancelled' }, ['running']), undefined);
});

test('appends to one task from two pools at once keep one gap-free sequence and respect the cap', async () => {
  const { store: a, url } = await freshStore(undefined, 4);
  const { store: b } = await freshStore(url, 4);
  const t = task({ state: 'running' });
  await a.insertTask(t);
  const entry = (i: number) => ({ output_type: 'stdout' as const, output: `line ${String(i).padStart(3, '0')}\n`, timestamp: 1_700_000_000 + i });
  await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).appendOutput(t.id, [entry(i)], 1_000_000)));
  const { entries, lastSeq } = await a.readOutput(t.id);
  assert.equal(entries.length, 30);
  assert.equal(lastSeq, 30);
  assert.deepEqual(
    entries.map((e) => e.id),
    Array.from({ length: 30 }, (_, i) => `${t.id}-${i + 1}`),
  );
  assert.equal(new Set(entries.map((e) => e.output)).size, 30);
  // the cap counts every replica's bytes: 30 × 9 bytes stored, a cap of 280 leaves room for 10
  await Promise.all([a.appendOutput(t.id, [{ output_type: 'stderr', output: 'x'.repeat(8), timestamp: 1 }], 280), b.appendOutput(t.id, [{ output_type: 'stderr', output: 'y'.repeat(8), timestamp: 2 }], 280)]);
  const after = await a.readOutput(t.id, 30);
  assert.equal(after.entries.map((e) => e.output).join('').length, 10);
  assert.equal((await a.get(t.id))?.droppedOutputBytes, 6);
});

test('output and scripts with NUL bytes and non-ASCII text round-trip (PostgreSQL text cannot hold NUL)', async () => {
  const { store } = await freshStore();
  const t = task({ input: { script: 'printf "a\\0b"', note: 'nul \u0000 inside', name: 'Žluťoučký kůň' } });
  await store.insertTask(t);
  const weird = 'bin\u0000ary — ünïcødé 🚀\n';
  await store.appendOutput(t.id, [{ output_type: 'stdout', output: weird, timestamp: 1.5 }], 10_000);
  const out = await store.readOutput(t.id);
  assert.equal(out.entries[0]?.output, weird);
  assert.equal(out.entries[0]?.timestamp, 1.5);
  assert.deepEqual((await store.get(t.id))?.input, t.input);
  await store.insertPullJob({
    uuid: 'pj-1',
    taskId: t.id,
    hostname: 'host.example.test',
    effectiveUser: null,
    script: '#!/bin/sh\nprintf "\u0000"\n',
    state: 'ready_for_pickup',
    createdAt: Date.now(),
    messageId: 'm-1',
    notifiedAt: null,
  });
  assert.equal((await store.getPullJob('pj-1'))?.script, '#!/bin/sh\nprintf "\u0000"\n');
});

test('a batch whose child id exists already is refused whole, naming the id', async () => {
  const { store } = await freshStore();
  const existing = task();
  await store.insertTask(existing);
  const parent = task({ kind: 'batch' });
  const fresh = task({ parentId: parent.id });
  const dup = { ...existing, parentId: parent.id };
  await assert.rejects(store.insertBatch(parent, [fresh, dup]), new RegExp(`task ${existing.id} exists already`));
  assert.equal(await store.get(parent.id), undefined);
  assert.equal(await store.get(fresh.id), undefined);
});

test('the database password never appears in errors or redacted URLs', async () => {
  const url = cluster.url('postgres');
  assert.ok(url.includes(encodeURIComponent(cluster.password)));
  assert.ok(!redactDatabaseUrl(url).includes(cluster.password));
  assert.match(redactDatabaseUrl(url), /^postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres$/);
  // a wrong password: the server's refusal names the user, not the secret we sent
  const wrong = `postgres://postgres:${'not-the-password-4f9c'}@127.0.0.1:${cluster.port}/postgres`;
  const store = new PostgresTaskStore(wrong, { poolSize: 1 });
  stores.push(store);
  await assert.rejects(store.open(), (err: Error) => {
    assert.match(err.message, /password authentication failed/);
    assert.ok(!err.message.includes('not-the-password-4f9c'));
    return true;
  });
  assert.equal(checkDatabaseUrl('mysql://x@y/z'), 'database_url must use postgres:// or postgresql://, not mysql://');
  assert.match(checkDatabaseUrl('postgres://u:p@host:5432') ?? '', /names no database/);
  assert.equal(checkDatabaseUrl(url), undefined);
  assert.throws(() => new PostgresTaskStore('not a url'), /database_url is not a URL/);
});

test('statement timeout: a statement stuck behind a lock fails instead of hanging', async () => {
  const url = await cluster.createDatabase();
  const store = new PostgresTaskStore(url, { poolSize: 2, statementTimeoutMs: 500 });
  stores.push(store);
  await store.open();
  const t = task({ state: 'running' });
  await store.insertTask(t);
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('SELECT 1 FROM dynflow_tasks WHERE id = $1 FOR UPDATE', [t.id]);
    await assert.rejects(store.update(t.id, { state: 'stopped' }, ['running']), /statement timeout/);
    await locker.query('ROLLBACK');
    assert.equal((await store.update(t.id, { state: 'stopped' }, ['running']))?.state, 'stopped');
  } finally {
    await locker.end();
  }
});
