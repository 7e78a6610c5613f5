// One-time import of the reference's SQLite database (smart_proxy_container_gateway.db, Sequel
// schema version 5, spec §2.8) into this gateway's store, SQLite or PostgreSQL as the settings
// say. Repository and user names are de-duplicated (the reference has no unique constraints),
// token expiry times, which the reference writes as the machine's local wall-clock time, are
// converted to UTC, and expired tokens are dropped. The reference's file is only read.
//
//   node src/modules/container_gateway/import.ts <reference.db> <settings dir>
//
// `<settings dir>` is the proxy's (the one holding settings.d/container_gateway.yml); the target
// is its db_connection_string, else its sqlite_db_path. Run it with the proxy stopped, once,
// before the proxy serves; Katello's next capsule sync refreshes repositories and mappings anyway,
// so what the import saves is the users (Katello computes their mappings) and live tokens.

import { DatabaseSync } from 'node:sqlite';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { GatewayStore, MappingEntry } from './store/types.ts';

export interface ImportSummary {
  repositories: number;
  users: number;
  hosts: number;
  userMappings: number;
  hostMappings: number;
  tokens: number;
  expiredTokens: number;
}

/**
 * A Sequel SQLite timestamp (`2026-03-01 10:00:00.123456`, local time of the reference's machine)
 * as epoch milliseconds, read in this process's time zone (run the import where the reference ran).
 */
export function localTimestamp(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?/.exec(text);
  if (!m) return Number.NaN;
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms).getTime();
}

/** Copy the reference database at `referencePath` into `store`, replacing the store's state. */
export async function importReferenceDatabase(referencePath: string, store: GatewayStore, nowMs = Date.now()): Promise<ImportSummary> {
  const db = new DatabaseSync(referencePath, { readOnly: true });
  try {
    const version = (db.prepare("SELECT version FROM schema_info").get() as { version: number } | undefined)?.version;
    if (Number(version) !== 5) throw new Error(`${referencePath}: reference schema version ${String(version)} is not supported (expected 5, the reference's 2.x/3.x schema)`);
    const repos = db.prepare('SELECT name, auth_required FROM repositories ORDER BY id').all() as { name: string; auth_required: number | string }[];
    const byName = new Map<string, boolean>();
    for (const r of repos) if (!byName.has(r.name)) byName.set(r.name, r.auth_required === 1 || r.auth_required === 't' || r.auth_required === 'true');
    await store.replaceRepositories([...byName].map(([name, authRequired]) => ({ name, authRequired })));

    const users = [...new Set((db.prepare('SELECT name FROM users ORDER BY id').all() as { name: string }[]).map((u) => u.name))];
    for (const u of users) await store.ensureUser(u);
    const group = (rows: { owner: string; name: string }[]): MappingEntry[] => {
      const m = new Map<string, string[]>();
      for (const r of rows) m.set(r.owner, [...(m.get(r.owner) ?? []), r.name]);
      return [...m].map(([key, repositories]) => ({ key, repositories }));
    };
    const userRows = db
      .prepare('SELECT u.name AS owner, r.name AS name FROM repositories_users ru JOIN users u ON u.id = ru.user_id JOIN repositories r ON r.id = ru.repository_id')
      .all() as { owner: string; name: string }[];
    await store.replaceUserMappings(group(userRows));

    const hosts = [...new Set((db.prepare('SELECT uuid FROM hosts').all() as { uuid: string }[]).map((h) => h.uuid))];
    await store.replaceHosts(hosts);
    const hostRows = db
      .prepare('SELECT h.uuid AS owner, r.name AS name FROM hosts_repositories hr JOIN hosts h ON h.id = hr.host_id JOIN repositories r ON r.id = hr.repository_id')
      .all() as { owner: string; name: string }[];
    await store.replaceHostMappings(group(hostRows));

    const tokens = db
      .prepare('SELECT t.token_checksum AS checksum, t.expire_at AS expire_at, u.name AS user FROM authentication_tokens t LEFT JOIN users u ON u.id = t.user_id')
      .all() as { checksum: string; expire_at: string | number; user: string | null }[];
    let live = 0;
    let expired = 0;
    for (const t of tokens) {
      const expires = typeof t.expire_at === 'number' ? t.expire_at * 1000 : localTimestamp(t.expire_at);
      if (!Number.isFinite(expires) || expires <= nowMs) {
        expired++;
        continue;
      }
      await store.storeToken(t.user ?? undefined, t.checksum, expires);
      live++;
    }
    return { repositories: byName.size, users: users.length, hosts: hosts.length, userMappings: userRows.length, hostMappings: hostRows.length, tokens: live, expiredTokens: expired };
  } finally {
    db.close();
  }
}

/** The gateway's database settings from a settings directory (keys may have leading colons). */
export async function gatewayDatabaseSettings(settingsDir: string): Promise<Record<string, unknown>> {
  const file = join(settingsDir, 'settings.d', 'container_gateway.yml');
  const doc = (parse(await readFile(file, 'utf8')) ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(doc).map(([k, v]) => [k.replace(/^:/, ''), v]));
}

async function main(argv: string[]): Promise<number> {
  if (argv.length !== 2) {
    process.stderr.write('usage: node src/modules/container_gateway/import.ts <reference.db> <settings dir>\n');
    return 2;
  }
  const [reference, settingsDir] = argv;
  const raw = await gatewayDatabaseSettings(settingsDir);
  const { openStore } = await import('./module.ts');
  const store = await openStore({
    db_connection_string: typeof raw.db_connection_string === 'string' ? raw.db_connection_string : undefined,
    sqlite_db_path: typeof raw.sqlite_db_path === 'string' ? raw.sqlite_db_path : undefined,
    sqlite_timeout: Number(raw.sqlite_timeout ?? 30000),
    db_max_connections: 2,
    db_pool_timeout: Number(raw.db_pool_timeout ?? 30),
  });
  try {
    const s = await importReferenceDatabase(reference, store);
    process.stdout.write(
      `imported ${s.repositories} repositories, ${s.users} users, ${s.hosts} hosts, ${s.userMappings} user and ${s.hostMappings} host mappings, ${s.tokens} live tokens (${s.expiredTokens} expired dropped)\n`,
    );
    return 0;
  } finally {
    await store.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`import failed: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
