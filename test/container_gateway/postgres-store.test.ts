// The store contract (store/contract.ts) against a real PostgreSQL (initdb in a temp dir), plus
// the PostgreSQL-only parts: numbered migrations under an advisory lock (two replicas starting
// at once migrate once) and the in-place upgrade of a database holding the reference's schema.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startPostgres, type PostgresCluster } from '../lib/postgres.ts';
import { storeContract } from '../../src/modules/container_gateway/store/contract.ts';
import { openPostgresStore, POSTGRES_SCHEMA_VERSION } from '../../src/modules/container_gateway/store/postgres.ts';

let cluster: PostgresCluster;
before(async () => {
  cluster = await startPostgres();
});
after(async () => {
  await cluster?.stop();
});

const open = async (url: string) => openPostgresStore({ connectionString: url, maxConnections: 5, poolTimeoutMs: 5000 });

storeContract('postgres', {
  async open() {
    const store = await open(await cluster.createDatabase());
    return { store, dispose: () => store.close() };
  },
});

test('postgres: two replicas starting together migrate once; the version is recorded', async () => {
  const url = await cluster.createDatabase();
  const [a, b] = await Promise.all([open(url), open(url)]);
  await a.replaceRepositories([{ name: 'x/y', authRequired: false }]);
  assert.deepEqual(await b.catalog({}), ['x/y']);
  await Promise.all([a.close(), b.close()]);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const rows = (await c.query<{ version: number }>('SELECT version FROM container_gateway_schema_version')).rows;
    assert.deepEqual(rows, [{ version: POSTGRES_SCHEMA_VERSION }]);
  } finally {
    await c.end();
  }
});

test('postgres: a database with the reference schema (v5) is upgraded in place, duplicates merged, expiry made UTC', async () => {
  const url = await cluster.createDatabase();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    // The reference's Sequel schema, as its migration 005 leaves it (spec §2.8).
    // The reference writes the database's local wall-clock time: a zone other than UTC shows
    // whether the upgrade converts it (read as UTC, the token would live an hour longer).
    await c.query(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), 'Europe/Berlin'); END $$`);
    await c.query(`
      SET TIME ZONE 'Europe/Berlin';
      CREATE TABLE schema_info (version integer NOT NULL DEFAULT 0); INSERT INTO schema_info VALUES (5);
      CREATE TABLE repositories (id serial PRIMARY KEY, name varchar(255) NOT NULL, auth_required boolean NOT NULL);
      CREATE TABLE users (id serial PRIMARY KEY, name varchar(255) NOT NULL);
      CREATE TABLE authentication_tokens (id serial PRIMARY KEY, token_checksum varchar(255) NOT NULL, expire_at timestamp NOT NULL, user_id integer REFERENCES users);
      CREATE TABLE repositories_users (repository_id integer REFERENCES repositories ON DELETE CASCADE, user_id integer REFERENCES users ON DELETE CASCADE, PRIMARY KEY (repository_id, user_id));
      CREATE TABLE hosts (id serial PRIMARY KEY, uuid varchar(255) NOT NULL UNIQUE);
      CREATE TABLE hosts_repositories (host_id integer REFERENCES hosts ON DELETE CASCADE, repository_id integer REFERENCES repositories ON DELETE CASCADE, PRIMARY KEY (host_id, repository_id));
      INSERT INTO repositories (name, auth_required) VALUES ('org/p/a', true), ('org/p/a', true), ('org/p/pub', false);
      INSERT INTO users (name) VALUES ('jdoe'), ('jdoe');
      INSERT INTO repositories_users VALUES (2, 2);
      INSERT INTO hosts (uuid) VALUES ('h1');
      INSERT INTO hosts_repositories VALUES (1, 1);
      INSERT INTO authentication_tokens (token_checksum, expire_at, user_id) VALUES ('sum', (now() + interval '1 hour')::timestamp, 2);`);
  } finally {
    await c.end();
  }
  const store = await open(url);
  try {
    assert.deepEqual(await store.listUsers(), ['jdoe']);
    assert.deepEqual(await store.catalog({ user: 'jdoe' }), ['org/p/a', 'org/p/pub']);
    assert.deepEqual(await store.catalog({ host: 'h1' }), ['org/p/a', 'org/p/pub']);
    assert.equal(await store.tokenUser('sum', Date.now()), 'jdoe');
    assert.equal(await store.tokenUser('sum', Date.now() + 61 * 60_000), undefined);
  } finally {
    await store.close();
  }
});
