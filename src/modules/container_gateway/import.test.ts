// The importer against a reference database file made with the reference's schema (Sequel,
// version 5): duplicates merged, local-time expiry converted, expired tokens dropped, and the CLI
// run as documented (`node src/modules/container_gateway/import.ts <ref.db> <settings dir>`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { importReferenceDatabase, localTimestamp } from './import.ts';
import { openSqliteStore } from './store/sqlite.ts';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
/** A Date as Sequel writes it into SQLite: local wall-clock time, no zone. */
const sequelTime = (d: Date): string => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.000000`;

function referenceDb(path: string): void {
  const db = new DatabaseSync(path);
  db.exec(`
    CREATE TABLE schema_info (version integer DEFAULT 0 NOT NULL); INSERT INTO schema_info VALUES (5);
    CREATE TABLE repositories (id integer PRIMARY KEY AUTOINCREMENT, name varchar(255) NOT NULL, auth_required boolean NOT NULL);
    CREATE TABLE users (id integer PRIMARY KEY AUTOINCREMENT, name varchar(255) NOT NULL);
    CREATE TABLE authentication_tokens (id integer PRIMARY KEY AUTOINCREMENT, token_checksum varchar(255) NOT NULL, expire_at timestamp NOT NULL, user_id integer REFERENCES users);
    CREATE TABLE repositories_users (repository_id integer REFERENCES repositories ON DELETE CASCADE, user_id integer REFERENCES users ON DELETE CASCADE, PRIMARY KEY (repository_id, user_id));
    CREATE TABLE hosts (id integer PRIMARY KEY AUTOINCREMENT, uuid varchar(255) NOT NULL UNIQUE);
    CREATE TABLE hosts_repositories (host_id integer REFERENCES hosts ON DELETE CASCADE, repository_id integer REFERENCES repositories ON DELETE CASCADE, PRIMARY KEY (host_id, repository_id));
    INSERT INTO repositories (name, auth_required) VALUES ('org/p/a', 't'), ('org/p/a', 't'), ('org/p/pub', 'f');
    INSERT INTO users (name) VALUES ('jdoe'), ('jdoe'), ('admin');
    INSERT INTO repositories_users VALUES (2, 2);
    INSERT INTO hosts (uuid) VALUES ('h1'), ('h2');
    INSERT INTO hosts_repositories VALUES (1, 1);`);
  const insert = db.prepare('INSERT INTO authentication_tokens (token_checksum, expire_at, user_id) VALUES (?, ?, ?)');
  insert.run('live', sequelTime(new Date(Date.now() + 30 * 60_000)), 2);
  insert.run('old', sequelTime(new Date(Date.now() - 60_000)), 1);
  db.close();
}

test('import: names de-duplicated, mappings kept, local-time expiry read as local, expired tokens dropped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-import-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  referenceDb(join(dir, 'ref.db'));
  const store = await openSqliteStore({ path: join(dir, 'new.db'), busyTimeoutMs: 1000 });
  t.after(() => store.close());
  const summary = await importReferenceDatabase(join(dir, 'ref.db'), store);
  assert.deepEqual(summary, { repositories: 2, users: 2, hosts: 2, userMappings: 1, hostMappings: 1, tokens: 1, expiredTokens: 1 });
  assert.deepEqual(await store.listUsers(), ['admin', 'jdoe']);
  assert.deepEqual(await store.catalog({ user: 'jdoe' }), ['org/p/a', 'org/p/pub']);
  assert.deepEqual(await store.catalog({ host: 'h1' }), ['org/p/a', 'org/p/pub']);
  assert.equal(await store.tokenUser('live', Date.now()), 'jdoe');
  assert.equal(await store.tokenUser('live', Date.now() + 31 * 60_000), undefined);
  assert.equal(await store.tokenUser('old', Date.now() - 120_000), undefined);
  assert.equal(localTimestamp('2026-03-01 10:00:00.5'), new Date(2026, 2, 1, 10, 0, 0, 500).getTime());
  assert.ok(Number.isNaN(localTimestamp('yesterday')));
});

test('import CLI: reads the target from the settings directory; a wrong schema version is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cg-import-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  referenceDb(join(dir, 'ref.db'));
  await mkdir(join(dir, 'settings', 'settings.d'), { recursive: true });
  await writeFile(join(dir, 'settings', 'settings.d', 'container_gateway.yml'), `---\n:enabled: https\n:sqlite_db_path: ${join(dir, 'gw.db')}\n`);
  const run = promisify(execFile);
  const { stdout } = await run(process.execPath, ['src/modules/container_gateway/import.ts', join(dir, 'ref.db'), join(dir, 'settings')]);
  assert.match(stdout, /^imported 2 repositories, 2 users, 2 hosts, 1 user and 1 host mappings, 1 live tokens \(1 expired dropped\)$/m);
  const store = await openSqliteStore({ path: join(dir, 'gw.db'), busyTimeoutMs: 1000 });
  assert.deepEqual(await store.catalog({ host: 'h1' }), ['org/p/a', 'org/p/pub']);
  await store.close();
  const db = new DatabaseSync(join(dir, 'ref.db'));
  db.exec('UPDATE schema_info SET version = 3');
  db.close();
  await assert.rejects(run(process.execPath, ['src/modules/container_gateway/import.ts', join(dir, 'ref.db'), join(dir, 'settings')]), /reference schema version 3 is not supported/);
});
