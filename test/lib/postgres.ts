// A throwaway PostgreSQL cluster for integration tests: initdb in a temp dir, the server run as the
// unprivileged `postgres` user (the server refuses to run as root) on a unix socket in that dir and a
// free 127.0.0.1 TCP port, stopped by its own PID. TCP connections need a password (scram), so the
// code under test handles real credentials; the password is random per cluster.

import { execFile } from 'node:child_process';
import { chown, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { alive, tempDir, removeDir, freeTcpPort, startDaemon, waitFor, sleep, type Daemon } from './procs.ts';

const execFileP = promisify(execFile);

const PG_BIN_DIRS = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'];

export interface PostgresCluster {
  readonly dir: string;
  readonly port: number;
  readonly socketDir: string;
  readonly password: string;
  readonly daemon: Daemon;
  /** Create a fresh database and return its `postgres://` URL (TCP, with the password). */
  createDatabase(name?: string): Promise<string>;
  /** URL of an existing database. */
  url(database: string): string;
  /** Stop the server (fast shutdown, by PID) and remove the temp dir. */
  stop(): Promise<void>;
}

/** The PostgreSQL server binaries' directory; throws a clear error when none is installed. */
export function postgresBinDir(): string {
  for (const d of PG_BIN_DIRS) if (existsSync(join(d, 'postgres'))) return d;
  throw new Error(`PostgreSQL server binaries not found in ${PG_BIN_DIRS.join(', ')} (install the Debian package postgresql)`);
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await execFileP('id', ['-u', name]);
  const { stdout: g } = await execFileP('id', ['-g', name]);
  return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
}

let dbCounter = 0;

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  // Root runs the tests; the server must not. Another unprivileged user works as well when the
  // tests run as that user.
  const runAs = process.getuid?.() === 0 ? await systemUser('postgres') : undefined;
  const dir = await tempDir('pg');
  try {
    const dataDir = join(dir, 'data');
    const socketDir = join(dir, 'sock');
    await mkdir(socketDir);
    const password = randomBytes(18).toString('base64url');
    const pwFile = join(dir, 'pw');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await chown(dir, runAs.uid, runAs.gid);
      await chown(socketDir, runAs.uid, runAs.gid);
      await chown(pwFile, runAs.uid, runAs.gid);
    }
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
    await execFileP(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-locale', '--no-sync'],
      { cwd: dir, env, ...(runAs ?? {}) },
    ).catch((err: Error & { stderr?: string }) => {
      throw new Error(`initdb failed: ${err.stderr ?? err.message}`);
    });
    const port = await freeTcpPort();
    // The server itself, not pg_ctl, so the PID we hold is the postmaster's.
    const daemon = startDaemon(
      'postgres',
      join(bin, 'postgres'),
      [
        '-D', dataDir,
        '-k', socketDir,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        // a test cluster: durability is not the point, speed on a 2-core CI machine is
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=100',
        '-c', 'shared_buffers=32MB',
      ],
      dir,
      env,
      { cwd: dir, ...(runAs ?? {}) },
    );

    const url = (database: string): string =>
      `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

    const stop = async (): Promise<void> => {
      // SIGINT is the fast shutdown (SIGTERM would wait for every client to leave).
      if (!daemon.exited && alive(daemon.pid)) {
        try {
          process.kill(daemon.pid, 'SIGINT');
        } catch {
          /* gone */
        }
        const until = Date.now() + 15_000;
        while (!daemon.exited && alive(daemon.pid) && Date.now() < until) await sleep(50);
        if (!daemon.exited && alive(daemon.pid)) {
          try {
            process.kill(daemon.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }
      }
      await removeDir(dir);
    };

    try {
      let exited = false;
      await waitFor(
        'postgres to accept connections',
        async () => {
          if (daemon.exited) {
            exited = true;
            return true;
          }
          const c = new pg.Client({ connectionString: url('postgres'), connectionTimeoutMillis: 2000 });
          try {
            await c.connect();
            await c.query('SELECT 1');
            return true;
          } finally {
            await c.end().catch(() => undefined);
          }
        },
        30_000,
        200,
      );
      if (exited) throw new Error(`postgres exited before it accepted connections:\n${daemon.log()}`);
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}\n${daemon.log()}`);
    }

    return {
      dir,
      port,
      socketDir,
      password,
      daemon,
      url,
      stop,
      async createDatabase(name?: string): Promise<string> {
        const db = name ?? `t${process.pid}_${++dbCounter}_${randomBytes(3).toString('hex')}`;
        if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`database name '${db}': use lower-case letters, digits and _`);
        const c = new pg.Client({ connectionString: url('postgres') });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE ${db}`);
        } finally {
          await c.end();
        }
        return url(db);
      },
    };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}
