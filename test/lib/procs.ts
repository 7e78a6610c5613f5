// Shared helpers for tests that start real daemons: temp dirs, free ports, processes started
// detached and stopped by their own PID (never by name), readiness polling.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { openSync, closeSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

/** A short temp dir (unix socket paths must stay under 107 bytes). */
export async function tempDir(tag = 'sp'): Promise<string> {
  return mkdtemp(join(tmpdir(), `${tag}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A port free for both UDP and TCP on 127.0.0.1 (DNS servers need both). */
export async function freeUdpTcpPort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await freeTcpPort(host);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, host, () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free UDP+TCP port found');
}

export interface Daemon {
  readonly pid: number;
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  exited: boolean;
  log(): string;
}

/** Where and as whom a daemon runs (PostgreSQL refuses to run as root). */
export interface DaemonSpawnOptions {
  cwd?: string;
  uid?: number;
  gid?: number;
}

/**
 * Start a daemon in the foreground, detached, stdin from /dev/null, output to `<dir>/<name>.log`.
 * No shell: `cmd` is executed directly with `args`.
 */
export function startDaemon(
  name: string,
  cmd: string,
  args: readonly string[],
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
  spawnOptions: DaemonSpawnOptions = {},
): Daemon {
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env, ...spawnOptions });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const d: Daemon = {
    pid: child.pid,
    name,
    logFile,
    child,
    exited: false,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
  child.on('exit', () => {
    d.exited = true;
  });
  child.on('error', () => {
    d.exited = true;
  });
  child.unref();
  return d;
}

/** Whether a process with this PID still exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** TERM, wait up to `graceMs`, then KILL, only this PID. */
export async function stopDaemon(d: Daemon | undefined, graceMs = 10_000): Promise<void> {
  if (!d || d.exited || !alive(d.pid)) return;
  try {
    process.kill(d.pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (d.exited || !alive(d.pid)) return;
    await sleep(50);
  }
  try {
    process.kill(d.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `intervalMs` until it returns true; throws with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  intervalMs = 100,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not ready yet */
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/**
 * Poll `ready` until the daemon just started serves. A daemon that exits first fails at once,
 * and either failure carries the daemon's log.
 */
export async function waitForDaemon(
  d: Daemon,
  what: string,
  ready: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<void> {
  // waitFor treats a throwing check as "not ready yet", so an exit is reported through a flag
  let exited = false;
  await waitFor(
    what,
    async () => {
      if (d.exited) exited = true;
      return exited || (await ready());
    },
    timeoutMs,
    intervalMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${d.log()}`);
  });
  if (exited) throw new Error(`${d.name} exited before ${what}:\n${d.log()}`);
}

/** Resolve a command from PATH (plus sbin dirs); throws a clear error when it is missing. */
export function requireCommand(cmd: string): string {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const d of dirs) {
    const p = join(d, cmd);
    if (d && existsSync(p)) return p;
  }
  throw new Error(`required command '${cmd}' is not installed (see .ci/run for the Debian packages)`);
}
