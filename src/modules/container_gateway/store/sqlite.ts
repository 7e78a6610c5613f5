// The default GatewayStore: one node:sqlite file in WAL mode. node:sqlite is synchronous, so each
// step is a few small prepared statements inside one transaction, and long replacements (host
// mappings of thousands of hosts) run in batches with a yield to the event loop in between. A
// batch replaces each listed host's set by a diff, so a reader between two batches sees every
// host either with its old set or with its new one, never with none (spec §6.1).

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { batches, likePattern, type GatewayStore, type MappingEntry, type ReplaceSummary, type RepositoryEntry, type RepositoryRow } from './types.ts';

/** Applied in order; `PRAGMA user_version` records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE repositories (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     auth_required INTEGER NOT NULL
   );
   CREATE TABLE users (
     id INTEGER PRIMARY KEY,
     name TEXT NOT NULL UNIQUE
   );
   CREATE TABLE authentication_tokens (
     token_checksum TEXT PRIMARY KEY,
     user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
     expire_at INTEGER NOT NULL
   );
   CREATE INDEX authentication_tokens_expiry ON authentication_tokens (expire_at);
   CREATE TABLE repositories_users (
     repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
     user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
     PRIMARY KEY (user_id, repository_id)
   ) WITHOUT ROWID;
   CREATE INDEX repositories_users_repository ON repositories_users (repository_id);
   CREATE TABLE hosts (
     id INTEGER PRIMARY KEY,
     uuid TEXT NOT NULL UNIQUE
   );
   CREATE TABLE hosts_repositories (
     host_id INTEGER NOT NULL REFERENCES hosts (id) ON DELETE CASCADE,
     repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
     PRIMARY KEY (host_id, repository_id)
   ) WITHOUT ROWID;
   CREATE INDEX hosts_repositories_repository ON hosts_repositories (repository_id);`,
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** Hosts or users per transaction in a mapping replacement. */
const BATCH = 200;

/** Serialises the refresh operations: they yield between batches and share the seen-set table. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export interface SqliteStoreOptions {
  path: string;
  /** SQLite busy timeout (another process holding the write lock). */
  busyTimeoutMs: number;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteGatewayStore> {
  if (options.path !== ':memory:') await mkdir(dirname(options.path), { recursive: true });
  return new SqliteGatewayStore(options);
}

export class SqliteGatewayStore implements GatewayStore {
  readonly #db: DatabaseSync;
  readonly #mutex = new Mutex();
  readonly #s: Record<string, StatementSync>;
  readonly #catalogStatements = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions) {
    this.#db = new DatabaseSync(options.path, { timeout: options.busyTimeoutMs });
    this.#db.exec('PRAGMA foreign_keys = ON');
    if (options.path !== ':memory:') this.#db.exec('PRAGMA journal_mode = WAL');
    this.#db.exec('PRAGMA synchronous = NORMAL');
    this.#migrate();
    this.#db.exec('CREATE TEMP TABLE seen (id INTEGER PRIMARY KEY)');
    const p = (sql: string): StatementSync => this.#db.prepare(sql);
    this.#s = {
      upsertRepo: p('INSERT INTO repositories (name, auth_required) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET auth_required = excluded.auth_required WHERE auth_required <> excluded.auth_required'),
      repoByName: p('SELECT id, name, auth_required FROM repositories WHERE name = ?'),
      privateRepoId: p('SELECT id FROM repositories WHERE name = ? AND auth_required = 1'),
      countRepos: p('SELECT count(*) AS n FROM repositories'),
      markSeenRepo: p('INSERT OR IGNORE INTO seen (id) SELECT id FROM repositories WHERE name = ?'),
      deleteUnseenRepos: p('DELETE FROM repositories WHERE id NOT IN (SELECT id FROM seen)'),
      clearSeen: p('DELETE FROM seen'),
      markSeen: p('INSERT OR IGNORE INTO seen (id) VALUES (?)'),
      users: p('SELECT name FROM users ORDER BY name'),
      userId: p('SELECT id FROM users WHERE name = ?'),
      insertUser: p('INSERT INTO users (name) VALUES (?) ON CONFLICT (name) DO NOTHING'),
      userRepos: p('SELECT repository_id AS id FROM repositories_users WHERE user_id = ?'),
      addUserRepo: p('INSERT OR IGNORE INTO repositories_users (repository_id, user_id) VALUES (?, ?)'),
      removeUserRepo: p('DELETE FROM repositories_users WHERE repository_id = ? AND user_id = ?'),
      clearUnseenUserRepos: p('DELETE FROM repositories_users WHERE user_id NOT IN (SELECT id FROM seen)'),
      hostId: p('SELECT id FROM hosts WHERE uuid = ?'),
      insertHost: p('INSERT INTO hosts (uuid) VALUES (?) ON CONFLICT (uuid) DO NOTHING'),
      markSeenHost: p('INSERT OR IGNORE INTO seen (id) SELECT id FROM hosts WHERE uuid = ?'),
      countHosts: p('SELECT count(*) AS n FROM hosts'),
      deleteUnseenHosts: p('DELETE FROM hosts WHERE id NOT IN (SELECT id FROM seen)'),
      hostRepos: p('SELECT repository_id AS id FROM hosts_repositories WHERE host_id = ?'),
      addHostRepo: p('INSERT OR IGNORE INTO hosts_repositories (host_id, repository_id) VALUES (?, ?)'),
      removeHostRepo: p('DELETE FROM hosts_repositories WHERE host_id = ? AND repository_id = ?'),
      clearUnseenHostRepos: p('DELETE FROM hosts_repositories WHERE host_id NOT IN (SELECT id FROM seen)'),
      deleteToken: p('DELETE FROM authentication_tokens WHERE token_checksum = ?'),
      insertToken: p('INSERT INTO authentication_tokens (token_checksum, user_id, expire_at) VALUES (?, ?, ?)'),
      deleteExpired: p('DELETE FROM authentication_tokens WHERE expire_at <= ?'),
      tokenUser: p('SELECT t.user_id, u.name FROM authentication_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.token_checksum = ? AND t.expire_at > ?'),
      userMapped: p('SELECT 1 FROM repositories_users ru JOIN users u ON u.id = ru.user_id JOIN repositories r ON r.id = ru.repository_id WHERE u.name = ? AND r.name = ?'),
      hostMapped: p('SELECT 1 FROM hosts_repositories hr JOIN hosts h ON h.id = hr.host_id JOIN repositories r ON r.id = hr.repository_id WHERE h.uuid = ? AND r.name = ?'),
    };
  }

  #migrate(): void {
    const version = Number((this.#db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
    if (version > MIGRATIONS.length) throw new Error(`container_gateway database schema version ${version} is newer than this proxy knows (${MIGRATIONS.length})`);
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.#tx(() => {
        this.#db.exec(MIGRATIONS[v]);
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
      });
    }
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      this.#db.exec('COMMIT');
      return out;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  #privateIds(names: readonly string[]): Set<number> {
    const ids = new Set<number>();
    for (const name of names) {
      const row = this.#s.privateRepoId.get(name) as { id: number } | undefined;
      if (row) ids.add(Number(row.id));
    }
    return ids;
  }

  /** Make `owner`'s set exactly `wanted` by deleting and inserting only the differences. */
  #applyDiff(current: Iterable<{ id: number | bigint }>, wanted: Set<number>, add: (id: number) => void, remove: (id: number) => void): void {
    const have = new Set<number>();
    for (const r of current) have.add(Number(r.id));
    for (const id of have) if (!wanted.has(id)) remove(id);
    for (const id of wanted) if (!have.has(id)) add(id);
  }

  async replaceRepositories(list: readonly RepositoryEntry[]): Promise<ReplaceSummary> {
    return this.#mutex.run(async () =>
      this.#tx(() => {
        const before = Number((this.#s.countRepos.get() as { n: number }).n);
        this.#s.clearSeen.run();
        let added = 0;
        for (const r of list) {
          if (!this.#s.repoByName.get(r.name)) added++;
          this.#s.upsertRepo.run(r.name, r.authRequired ? 1 : 0);
          this.#s.markSeenRepo.run(r.name);
        }
        const removed = Number(this.#s.deleteUnseenRepos.run().changes);
        this.#s.clearSeen.run();
        return { added, removed, kept: before - removed };
      }),
    );
  }

  async getRepository(name: string): Promise<RepositoryRow | undefined> {
    const row = this.#s.repoByName.get(name) as { name: string; auth_required: number } | undefined;
    return row ? { name: row.name, authRequired: Number(row.auth_required) === 1 } : undefined;
  }

  async listUsers(): Promise<string[]> {
    return (this.#s.users.all() as { name: string }[]).map((r) => r.name);
  }

  async ensureUser(name: string): Promise<void> {
    this.#s.insertUser.run(name);
  }

  async replaceUserMappings(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<{ unknownUsers: string[] }> {
    return this.#mutex.run(async () => {
      const unknownUsers: string[] = [];
      this.#s.clearSeen.run();
      try {
        for await (const batch of batches(entries, BATCH)) {
          this.#tx(() => {
            for (const e of batch) {
              const user = this.#s.userId.get(e.key) as { id: number } | undefined;
              if (!user) {
                unknownUsers.push(e.key);
                continue;
              }
              const uid = Number(user.id);
              this.#s.markSeen.run(uid);
              this.#applyDiff(
                this.#s.userRepos.all(uid) as { id: number }[],
                this.#privateIds(e.repositories),
                (id) => this.#s.addUserRepo.run(id, uid),
                (id) => this.#s.removeUserRepo.run(id, uid),
              );
            }
          });
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        this.#tx(() => this.#s.clearUnseenUserRepos.run());
      } finally {
        this.#s.clearSeen.run();
      }
      return { unknownUsers };
    });
  }

  async setUserRepositories(user: string, repositories: readonly string[]): Promise<void> {
    this.#tx(() => {
      this.#s.insertUser.run(user);
      const uid = Number((this.#s.userId.get(user) as { id: number }).id);
      this.#applyDiff(
        this.#s.userRepos.all(uid) as { id: number }[],
        this.#privateIds(repositories),
        (id) => this.#s.addUserRepo.run(id, uid),
        (id) => this.#s.removeUserRepo.run(id, uid),
      );
    });
  }

  async replaceHosts(uuids: readonly string[]): Promise<ReplaceSummary> {
    return this.#mutex.run(async () =>
      this.#tx(() => {
        const before = Number((this.#s.countHosts.get() as { n: number }).n);
        this.#s.clearSeen.run();
        let added = 0;
        for (const uuid of uuids) {
          if (uuid.trim() === '') continue;
          added += Number(this.#s.insertHost.run(uuid).changes);
          this.#s.markSeenHost.run(uuid);
        }
        const removed = Number(this.#s.deleteUnseenHosts.run().changes);
        this.#s.clearSeen.run();
        return { added, removed, kept: before - removed };
      }),
    );
  }

  async hostExists(uuid: string): Promise<boolean> {
    return this.#s.hostId.get(uuid) !== undefined;
  }

  #replaceHostSet(hostId: number, repositories: readonly string[]): void {
    this.#applyDiff(
      this.#s.hostRepos.all(hostId) as { id: number }[],
      this.#privateIds(repositories),
      (id) => this.#s.addHostRepo.run(hostId, id),
      (id) => this.#s.removeHostRepo.run(hostId, id),
    );
  }

  async replaceHostMappings(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<{ unknownHosts: number }> {
    return this.#mutex.run(async () => {
      let unknownHosts = 0;
      this.#s.clearSeen.run();
      try {
        for await (const batch of batches(entries, BATCH)) {
          this.#tx(() => {
            for (const e of batch) {
              const host = e.key.trim() === '' ? undefined : (this.#s.hostId.get(e.key) as { id: number } | undefined);
              if (!host) {
                unknownHosts++;
                continue;
              }
              this.#s.markSeen.run(host.id);
              this.#replaceHostSet(Number(host.id), e.repositories);
            }
          });
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        this.#tx(() => this.#s.clearUnseenHostRepos.run());
      } finally {
        this.#s.clearSeen.run();
      }
      return { unknownHosts };
    });
  }

  async updateHostRepositories(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<void> {
    return this.#mutex.run(async () => {
      for await (const batch of batches(entries, BATCH)) {
        this.#tx(() => {
          for (const e of batch) {
            if (e.key.trim() === '') continue;
            this.#s.insertHost.run(e.key);
            this.#replaceHostSet(Number((this.#s.hostId.get(e.key) as { id: number }).id), e.repositories);
          }
        });
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    });
  }

  async storeToken(user: string | undefined, checksum: string, expiresAtMs: number): Promise<void> {
    this.#tx(() => {
      let uid: number | null = null;
      if (user !== undefined) {
        this.#s.insertUser.run(user);
        uid = Number((this.#s.userId.get(user) as { id: number }).id);
      }
      this.#s.deleteToken.run(checksum);
      this.#s.insertToken.run(checksum, uid, Math.trunc(expiresAtMs));
      this.#s.deleteExpired.run(Date.now());
    });
  }

  async tokenUser(checksum: string, nowMs: number): Promise<string | undefined> {
    const row = this.#s.tokenUser.get(checksum, Math.trunc(nowMs)) as { user_id: number | null; name: string | null } | undefined;
    if (!row) return undefined;
    return row.name ?? '';
  }

  async isMapped(who: { user: string } | { host: string }, name: string): Promise<boolean> {
    return 'user' in who ? this.#s.userMapped.get(who.user, name) !== undefined : this.#s.hostMapped.get(who.host, name) !== undefined;
  }

  async catalog(who: { user?: string; host?: string }, options: { contains?: string; limit?: number } = {}): Promise<string[]> {
    const filter = options.contains ? " AND r.name LIKE ? ESCAPE '\\'" : '';
    const like = options.contains ? [likePattern(options.contains)] : [];
    const parts = [`SELECT r.name FROM repositories r WHERE r.auth_required = 0${filter}`];
    const args: (string | number)[] = [...like];
    if (who.user !== undefined) {
      parts.push(`SELECT r.name FROM repositories r JOIN repositories_users ru ON ru.repository_id = r.id JOIN users u ON u.id = ru.user_id WHERE u.name = ?${filter}`);
      args.push(who.user, ...like);
    }
    if (who.host !== undefined) {
      parts.push(`SELECT r.name FROM repositories r JOIN hosts_repositories hr ON hr.repository_id = r.id JOIN hosts h ON h.id = hr.host_id WHERE h.uuid = ?${filter}`);
      args.push(who.host, ...like);
    }
    let sql = `${parts.join(' UNION ')} ORDER BY 1`;
    if (options.limit !== undefined) {
      sql += ' LIMIT ?';
      args.push(options.limit);
    }
    // A handful of shapes (identity kind × filter × limit): each prepared once.
    let statement = this.#catalogStatements.get(sql);
    if (!statement) this.#catalogStatements.set(sql, (statement = this.#db.prepare(sql)));
    return (statement.all(...args) as { name: string }[]).map((r) => r.name);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
