// GatewayStore on PostgreSQL, for several proxy replicas sharing one database (the reference
// installer's default backend). Each replacement runs in ONE transaction: readers keep seeing the
// previous state until it commits (MVCC), so a refresh never shows an empty mapping (spec §6.1).
// Refreshes of several replicas are serialised by a transaction-level advisory lock. Schema
// changes are numbered migrations recorded in `container_gateway_schema_version`, applied at
// start-up under a session advisory lock so that replicas starting together migrate once.
// A database still holding the reference's schema (Sequel, `schema_info` version 5) is upgraded
// in place: names de-duplicated, unique constraints added, token expiry converted from the
// database's local wall-clock time to UTC (spec §6.7).

import pg from 'pg';
import { batches, likePattern, type GatewayStore, type MappingEntry, type ReplaceSummary, type RepositoryEntry, type RepositoryRow } from './types.ts';

/** Arbitrary constants naming our advisory locks. */
const MIGRATION_LOCK = 0x6367_7701;
const REFRESH_LOCK = 0x6367_7702;
const BATCH = 500;

const SCHEMA = `
  CREATE TABLE repositories (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    auth_required boolean NOT NULL
  );
  CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE
  );
  CREATE TABLE authentication_tokens (
    token_checksum text PRIMARY KEY,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    expire_at timestamptz NOT NULL
  );
  CREATE INDEX authentication_tokens_expiry ON authentication_tokens (expire_at);
  CREATE TABLE repositories_users (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, repository_id)
  );
  CREATE INDEX repositories_users_repository ON repositories_users (repository_id);
  CREATE TABLE hosts (
    id bigserial PRIMARY KEY,
    uuid text NOT NULL UNIQUE
  );
  CREATE TABLE hosts_repositories (
    host_id bigint NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    PRIMARY KEY (host_id, repository_id)
  );
  CREATE INDEX hosts_repositories_repository ON hosts_repositories (repository_id);`;

const REFERENCE_TABLES = ['repositories', 'users', 'authentication_tokens', 'repositories_users', 'hosts', 'hosts_repositories'];

/** Copy the reference's rows (renamed ref_*) into the new schema, then drop them. */
const FROM_REFERENCE = `
  INSERT INTO repositories (name, auth_required)
    SELECT DISTINCT ON (name) name, auth_required FROM ref_repositories ORDER BY name, id;
  INSERT INTO users (name) SELECT DISTINCT name FROM ref_users;
  INSERT INTO repositories_users (repository_id, user_id)
    SELECT DISTINCT r.id, u.id FROM ref_repositories_users x
      JOIN ref_repositories rr ON rr.id = x.repository_id JOIN repositories r ON r.name = rr.name
      JOIN ref_users ru ON ru.id = x.user_id JOIN users u ON u.name = ru.name
    ON CONFLICT DO NOTHING;
  INSERT INTO hosts (uuid) SELECT DISTINCT uuid FROM ref_hosts;
  INSERT INTO hosts_repositories (host_id, repository_id)
    SELECT DISTINCT h.id, r.id FROM ref_hosts_repositories x
      JOIN ref_hosts rh ON rh.id = x.host_id JOIN hosts h ON h.uuid = rh.uuid
      JOIN ref_repositories rr ON rr.id = x.repository_id JOIN repositories r ON r.name = rr.name
    ON CONFLICT DO NOTHING;
  INSERT INTO authentication_tokens (token_checksum, user_id, expire_at)
    SELECT DISTINCT ON (t.token_checksum) t.token_checksum, u.id, t.expire_at AT TIME ZONE current_setting('TimeZone')
      FROM ref_authentication_tokens t LEFT JOIN ref_users ru ON ru.id = t.user_id LEFT JOIN users u ON u.name = ru.name
      ORDER BY t.token_checksum, t.expire_at DESC
    ON CONFLICT DO NOTHING;
  DROP TABLE ref_hosts_repositories, ref_repositories_users, ref_authentication_tokens, ref_hosts, ref_users, ref_repositories, schema_info;`;

export const POSTGRES_SCHEMA_VERSION = 1;

export interface PostgresStoreOptions {
  connectionString: string;
  maxConnections: number;
  poolTimeoutMs: number;
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresGatewayStore> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections,
    connectionTimeoutMillis: options.poolTimeoutMs,
    idleTimeoutMillis: 30_000,
  });
  // An idle pooled connection that breaks (server restart) must not crash the process.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return new PostgresGatewayStore(pool);
}

async function migrate(pool: pg.Pool): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS container_gateway_schema_version (version integer NOT NULL)');
    const row = (await c.query<{ version: number }>('SELECT max(version) AS version FROM container_gateway_schema_version')).rows[0];
    const version = row?.version ?? 0;
    if (version > POSTGRES_SCHEMA_VERSION) throw new Error(`container_gateway database schema version ${version} is newer than this proxy knows (${POSTGRES_SCHEMA_VERSION})`);
    if (version < 1) {
      await c.query('BEGIN');
      try {
        const ref = (await c.query<{ n: string }>("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_info'")).rows[0];
        const fromReference = Number(ref.n) > 0;
        if (fromReference) for (const t of REFERENCE_TABLES) await c.query(`ALTER TABLE IF EXISTS ${t} RENAME TO ref_${t}`);
        await c.query(SCHEMA);
        if (fromReference) await c.query(FROM_REFERENCE);
        await c.query('INSERT INTO container_gateway_schema_version (version) VALUES (1)');
        await c.query('COMMIT');
      } catch (err) {
        await c.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await c.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    c.release();
  }
}

/** Last entry per key wins, as when the same host is listed twice. */
function dedupe(entries: readonly MappingEntry[]): MappingEntry[] {
  const byKey = new Map<string, Set<string>>();
  for (const e of entries) {
    const set = byKey.get(e.key) ?? new Set<string>();
    for (const r of e.repositories) set.add(r);
    byKey.set(e.key, set);
  }
  return [...byKey].map(([key, set]) => ({ key, repositories: [...set] }));
}

function flatten(entries: readonly MappingEntry[]): { keys: string[]; pairKeys: string[]; pairNames: string[] } {
  const pairKeys: string[] = [];
  const pairNames: string[] = [];
  for (const e of entries) for (const r of e.repositories) {
    pairKeys.push(e.key);
    pairNames.push(r);
  }
  return { keys: entries.map((e) => e.key), pairKeys, pairNames };
}

interface Side {
  owners: string;
  keyColumn: string;
  join: string;
  ownerColumn: string;
}

const HOSTS: Side = { owners: 'hosts', keyColumn: 'uuid', join: 'hosts_repositories', ownerColumn: 'host_id' };
const USERS: Side = { owners: 'users', keyColumn: 'name', join: 'repositories_users', ownerColumn: 'user_id' };

export class PostgresGatewayStore implements GatewayStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>, lock = false): Promise<T> {
    const c = await this.#pool.connect();
    try {
      await c.query('BEGIN');
      if (lock) await c.query('SELECT pg_advisory_xact_lock($1)', [REFRESH_LOCK]);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async replaceRepositories(list: readonly RepositoryEntry[]): Promise<ReplaceSummary> {
    const byName = new Map<string, boolean>();
    for (const r of list) byName.set(r.name, r.authRequired);
    const names = [...byName.keys()];
    const flags = [...byName.values()];
    return this.#tx(async (c) => {
      const before = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM repositories')).rows[0].n);
      const ins = await c.query<{ inserted: boolean }>(
        `INSERT INTO repositories (name, auth_required) SELECT * FROM unnest($1::text[], $2::boolean[])
         ON CONFLICT (name) DO UPDATE SET auth_required = EXCLUDED.auth_required WHERE repositories.auth_required IS DISTINCT FROM EXCLUDED.auth_required
         RETURNING (xmax = 0) AS inserted`,
        [names, flags],
      );
      const added = ins.rows.filter((r) => r.inserted).length;
      const removed = (await c.query('DELETE FROM repositories WHERE NOT (name = ANY($1::text[]))', [names])).rowCount ?? 0;
      return { added, removed, kept: before - removed };
    }, true);
  }

  async getRepository(name: string): Promise<RepositoryRow | undefined> {
    const r = (await this.#pool.query<{ name: string; auth_required: boolean }>('SELECT name, auth_required FROM repositories WHERE name = $1', [name])).rows[0];
    return r ? { name: r.name, authRequired: r.auth_required } : undefined;
  }

  async listUsers(): Promise<string[]> {
    return (await this.#pool.query<{ name: string }>('SELECT name FROM users ORDER BY name')).rows.map((r) => r.name);
  }

  async ensureUser(name: string): Promise<void> {
    await this.#pool.query('INSERT INTO users (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
  }

  /** Within `c`'s transaction: make each listed owner's set exactly its listed private repositories. */
  async #applyBatch(c: pg.PoolClient, side: Side, batch: readonly MappingEntry[]): Promise<string[]> {
    const { keys, pairKeys, pairNames } = flatten(dedupe(batch));
    const { owners, keyColumn, join, ownerColumn } = side;
    await c.query(
      `DELETE FROM ${join} j USING ${owners} o
       WHERE j.${ownerColumn} = o.id AND o.${keyColumn} = ANY($1::text[])
         AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS w(k, name) JOIN repositories r ON r.name = w.name
                         WHERE w.k = o.${keyColumn} AND r.id = j.repository_id AND r.auth_required)`,
      [keys, pairKeys, pairNames],
    );
    await c.query(
      `INSERT INTO ${join} (${ownerColumn}, repository_id)
       SELECT o.id, r.id FROM unnest($1::text[], $2::text[]) AS w(k, name)
         JOIN ${owners} o ON o.${keyColumn} = w.k JOIN repositories r ON r.name = w.name AND r.auth_required
       ON CONFLICT DO NOTHING`,
      [pairKeys, pairNames],
    );
    const unknown = await c.query<{ k: string }>(`SELECT k FROM unnest($1::text[]) AS u(k) WHERE NOT EXISTS (SELECT 1 FROM ${owners} WHERE ${keyColumn} = u.k)`, [keys]);
    return unknown.rows.map((r) => r.k);
  }

  async #replaceAll(side: Side, entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<string[]> {
    return this.#tx(async (c) => {
      const seen = new Set<string>();
      const unknown: string[] = [];
      for await (const batch of batches(entries, BATCH)) {
        for (const e of batch) seen.add(e.key);
        unknown.push(...(await this.#applyBatch(c, side, batch)));
      }
      await c.query(
        `DELETE FROM ${side.join} j USING ${side.owners} o WHERE j.${side.ownerColumn} = o.id AND NOT (o.${side.keyColumn} = ANY($1::text[]))`,
        [[...seen]],
      );
      return unknown;
    }, true);
  }

  async replaceUserMappings(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<{ unknownUsers: string[] }> {
    return { unknownUsers: await this.#replaceAll(USERS, entries) };
  }

  async setUserRepositories(user: string, repositories: readonly string[]): Promise<void> {
    await this.#tx(async (c) => {
      await c.query('INSERT INTO users (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [user]);
      await this.#applyBatch(c, USERS, [{ key: user, repositories }]);
    });
  }

  async replaceHosts(uuids: readonly string[]): Promise<ReplaceSummary> {
    const list = [...new Set(uuids.filter((u) => u.trim() !== ''))];
    return this.#tx(async (c) => {
      const before = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM hosts')).rows[0].n);
      const added = (await c.query('INSERT INTO hosts (uuid) SELECT unnest($1::text[]) ON CONFLICT (uuid) DO NOTHING', [list])).rowCount ?? 0;
      const removed = (await c.query('DELETE FROM hosts WHERE NOT (uuid = ANY($1::text[]))', [list])).rowCount ?? 0;
      return { added, removed, kept: before - removed };
    }, true);
  }

  async hostExists(uuid: string): Promise<boolean> {
    return ((await this.#pool.query('SELECT 1 FROM hosts WHERE uuid = $1', [uuid])).rowCount ?? 0) > 0;
  }

  async replaceHostMappings(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<{ unknownHosts: number }> {
    let blank = 0;
    async function* nonBlank(): AsyncGenerator<MappingEntry> {
      for await (const e of entries) {
        if (e.key.trim() !== '') yield e;
        else blank++;
      }
    }
    return { unknownHosts: (await this.#replaceAll(HOSTS, nonBlank())).length + blank };
  }

  async updateHostRepositories(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<void> {
    await this.#tx(async (c) => {
      for await (const batch of batches(entries, BATCH)) {
        const listed = batch.filter((e) => e.key.trim() !== '');
        await c.query('INSERT INTO hosts (uuid) SELECT unnest($1::text[]) ON CONFLICT (uuid) DO NOTHING', [listed.map((e) => e.key)]);
        await this.#applyBatch(c, HOSTS, listed);
      }
    }, true);
  }

  async storeToken(user: string | undefined, checksum: string, expiresAtMs: number): Promise<void> {
    await this.#tx(async (c) => {
      let uid: string | null = null;
      if (user !== undefined) {
        await c.query('INSERT INTO users (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [user]);
        uid = (await c.query<{ id: string }>('SELECT id FROM users WHERE name = $1', [user])).rows[0].id;
      }
      await c.query(
        `INSERT INTO authentication_tokens (token_checksum, user_id, expire_at) VALUES ($1, $2, to_timestamp($3::double precision / 1000))
         ON CONFLICT (token_checksum) DO UPDATE SET user_id = EXCLUDED.user_id, expire_at = EXCLUDED.expire_at`,
        [checksum, uid, Math.trunc(expiresAtMs)],
      );
      await c.query('DELETE FROM authentication_tokens WHERE expire_at <= to_timestamp($1::double precision / 1000)', [Date.now()]);
    });
  }

  async tokenUser(checksum: string, nowMs: number): Promise<string | undefined> {
    const r = (
      await this.#pool.query<{ name: string | null }>(
        'SELECT u.name FROM authentication_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.token_checksum = $1 AND t.expire_at > to_timestamp($2::double precision / 1000)',
        [checksum, Math.trunc(nowMs)],
      )
    ).rows[0];
    if (!r) return undefined;
    return r.name ?? '';
  }

  async isMapped(who: { user: string } | { host: string }, name: string): Promise<boolean> {
    const sql =
      'user' in who
        ? 'SELECT 1 FROM repositories_users j JOIN users o ON o.id = j.user_id JOIN repositories r ON r.id = j.repository_id WHERE o.name = $1 AND r.name = $2'
        : 'SELECT 1 FROM hosts_repositories j JOIN hosts o ON o.id = j.host_id JOIN repositories r ON r.id = j.repository_id WHERE o.uuid = $1 AND r.name = $2';
    return ((await this.#pool.query(sql, ['user' in who ? who.user : who.host, name])).rowCount ?? 0) > 0;
  }

  async catalog(who: { user?: string; host?: string }, options: { contains?: string; limit?: number } = {}): Promise<string[]> {
    const args: (string | number)[] = [];
    const arg = (v: string | number): string => {
      args.push(v);
      return `$${args.length}`;
    };
    const filter = options.contains ? ` AND r.name LIKE ${arg(likePattern(options.contains))} ESCAPE '\\'` : '';
    const parts = [`SELECT r.name FROM repositories r WHERE NOT r.auth_required${filter}`];
    if (who.user !== undefined) {
      parts.push(`SELECT r.name FROM repositories r JOIN repositories_users j ON j.repository_id = r.id JOIN users o ON o.id = j.user_id WHERE o.name = ${arg(who.user)}${filter}`);
    }
    if (who.host !== undefined) {
      parts.push(`SELECT r.name FROM repositories r JOIN hosts_repositories j ON j.repository_id = r.id JOIN hosts o ON o.id = j.host_id WHERE o.uuid = ${arg(who.host)}${filter}`);
    }
    let sql = `${parts.join(' UNION ')} ORDER BY 1`;
    if (options.limit !== undefined) sql += ` LIMIT ${arg(options.limit)}`;
    return (await this.#pool.query<{ name: string }>(sql, args)).rows.map((r) => r.name);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
