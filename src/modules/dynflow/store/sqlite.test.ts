// The TaskStore contract against node:sqlite, in memory and on a file; plus what only the SQLite
// store does: its schema version and reopening a file with the tasks in it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SQLITE_SCHEMA_VERSION, SqliteTaskStore } from './sqlite.ts';
import { sampleTask, storeContract } from './contract.ts';

storeContract(async () => new SqliteTaskStore({ path: ':memory:' }), 'sqlite :memory:');

const dirs: string[] = [];
test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

storeContract(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dynflow-store-'));
  dirs.push(dir);
  return new SqliteTaskStore({ path: join(dir, 'sub', 'tasks.sqlite') });
}, 'sqlite file');

test('a file database keeps its tasks across a reopen and records its schema version', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dynflow-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'tasks.sqlite');
  const first = new SqliteTaskStore({ path });
  await first.open();
  const task = sampleTask({ state: 'running', owner: 'old-process' });
  await first.insertTask(task);
  await first.close();
  const second = new SqliteTaskStore({ path });
  await second.open();
  t.after(() => second.close());
  assert.deepEqual(await second.get(task.id), task);
  const raw = new DatabaseSync(path);
  t.after(() => raw.close());
  assert.equal((raw.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SQLITE_SCHEMA_VERSION);
  assert.equal((raw.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
});

test('a database from a newer proxy is refused with a clear message', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dynflow-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'tasks.sqlite');
  const raw = new DatabaseSync(path);
  raw.exec('PRAGMA user_version = 99');
  raw.close();
  await assert.rejects(new SqliteTaskStore({ path }).open(), /schema version 99, newer than this proxy knows/);
});
