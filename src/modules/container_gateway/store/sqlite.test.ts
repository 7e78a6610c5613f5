// The store contract (store/contract.ts) on node:sqlite, plus what only the SQLite store does:
// its schema version and reopening an existing file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { storeContract } from './contract.ts';
import { openSqliteStore, SQLITE_SCHEMA_VERSION } from './sqlite.ts';

storeContract('sqlite', {
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'cg-sqlite-'));
    const store = await openSqliteStore({ path: join(dir, 'gateway.db'), busyTimeoutMs: 1000 });
    return { store, dispose: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
  },
});

test('sqlite: the schema version is recorded and a reopened file keeps its rows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-sqlite-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'gateway.db');
  const first = await openSqliteStore({ path, busyTimeoutMs: 1000 });
  await first.replaceRepositories([{ name: 'a/b', authRequired: false }]);
  await first.close();
  const db = new DatabaseSync(path);
  assert.equal((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, SQLITE_SCHEMA_VERSION);
  db.exec('PRAGMA user_version = 99');
  db.close();
  await assert.rejects(openSqliteStore({ path, busyTimeoutMs: 1000 }), /schema version 99 is newer than this proxy knows/);
  const again = new DatabaseSync(path);
  again.exec(`PRAGMA user_version = ${SQLITE_SCHEMA_VERSION}`);
  again.close();
  const second = await openSqliteStore({ path, busyTimeoutMs: 1000 });
  assert.deepEqual(await second.catalog({}), ['a/b']);
  await second.close();
});
