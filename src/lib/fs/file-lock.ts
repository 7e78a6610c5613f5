// Read-modify-write of small files the proxy owns (autosign.conf, tokens.yml) without losing an
// edit: edits of one path are queued in this process (and the edits that queue up during a write
// go to disk together in the next one), and a `<path>.lock` file keeps other processes (a second
// proxy instance, an operator's script using the same convention) out while the new content is
// written atomically.
//
// Crash safety: the lock names its holder (first line: the PID, as every user of the convention
// writes it; second line: what tells that process from a later one reusing its PID). It is
// written to a temp file first and hard-linked to `<path>.lock`, so it never exists without its
// content: a holder killed with SIGKILL leaves a lock whose holder is visibly gone, taken over at
// once. An empty lock can still come from a writer that creates the file and then writes its PID
// (the previous version of this module, scripts): it is stale at once when no process that could
// have created it still has it open.

import { link, lstat, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic.ts';

export interface LockOptions {
  /** Give up after this long waiting for another process's lock (default 10 s). */
  timeoutMs?: number;
  /**
   * A lock file older than this whose holder cannot be checked is taken over (default 60 s): our
   * own PID (another path naming the same file), or no PID and not every process inspectable.
   */
  staleMs?: number;
}

export class FileLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileLockError';
  }
}

const queues = new Map<string, Promise<unknown>>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | null)?.code;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
}

let bootIdText: Promise<string | undefined> | undefined;
const bootId = (): Promise<string | undefined> =>
  (bootIdText ??= readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (t) => t.trim(),
    () => undefined,
  ));

/**
 * `<boot id> <start time>` of a running process: a PID reused by a later process (after the
 * holder died, or after a reboot, since the lock file outlives both) gives another answer.
 * Undefined where /proc does not tell (not Linux, hidepid).
 */
async function processIdentity(pid: number): Promise<string | undefined> {
  try {
    const [boot, procStat] = await Promise.all([bootId(), readFile(`/proc/${pid}/stat`, 'utf8')]);
    if (boot === undefined) return undefined;
    // Field 22 is the start time in clock ticks since boot; fields are counted after the command
    // name, which may itself contain spaces and parentheses.
    const startTicks = procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[19];
    return startTicks === undefined ? undefined : `${boot} ${startTicks}`;
  } catch {
    return undefined;
  }
}

let ownLockText: Promise<string> | undefined;
const ownLockContent = (): Promise<string> =>
  (ownLockText ??= processIdentity(process.pid).then((id) => `${process.pid}\n${id === undefined ? '' : `${id}\n`}`));

/** The holder a lock names: a PID on the first line (as parseInt reads it), an identity on the second. */
function parseLock(text: string): { pid?: number; identity?: string } {
  const [first = '', second = ''] = text.split('\n');
  const pid = Number.parseInt(first, 10);
  if (!(Number.isInteger(pid) && pid > 0)) return {};
  return second.trim() === '' ? { pid } : { pid, identity: second.trim() };
}

/**
 * Whether some process that could have created the file (its owner's uid, or any process when we
 * cannot tell) has it open: a creator between creating the lock and writing its PID holds it
 * open. Undefined when such a process's open files cannot be read (another user's, as non-root).
 */
async function heldOpenByCreator(lock: BigIntStats): Promise<boolean | undefined> {
  let entries: string[];
  try {
    entries = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const verdicts = await Promise.all(
    entries.map(async (pid): Promise<boolean | undefined> => {
      let fds: string[];
      try {
        fds = await readdir(`/proc/${pid}/fd`);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') return false; // exited meanwhile
        // Not ours to inspect: it matters only if it runs as the user who created the lock.
        let owner: number;
        try {
          owner = (await stat(`/proc/${pid}`)).uid;
        } catch {
          return false; // exited meanwhile
        }
        return BigInt(owner) === lock.uid ? undefined : false;
      }
      for (const fd of fds) {
        const st = await stat(`/proc/${pid}/fd/${fd}`, { bigint: true }).catch(() => undefined);
        if (st && st.ino === lock.ino && st.dev === lock.dev) return true;
      }
      return false;
    }),
  );
  if (verdicts.includes(true)) return true;
  return verdicts.includes(undefined) ? undefined : false;
}

type HolderProbe = (lock: BigIntStats) => Promise<boolean | undefined>;

/** Ask `heldOpenByCreator` again for the same lock file only after this long: it reads every process's open files. */
const HOLDER_RESCAN_MS = 500;

function holderProbe(): HolderProbe {
  let last: { ino: bigint; dev: bigint; at: number; held: boolean | undefined } | undefined;
  return async (lock) => {
    if (last && sameFile(last, lock) && Date.now() - last.at < HOLDER_RESCAN_MS) return last.held;
    const held = await heldOpenByCreator(lock);
    last = { ino: lock.ino, dev: lock.dev, at: Date.now(), held };
    return held;
  };
}

/** Whether the lock file `lock` (read as `text`) at `lockPath` has lost its holder and may be taken over. */
async function lockIsStale(lockPath: string, lock: BigIntStats, text: string, staleMs: number, heldOpen: HolderProbe): Promise<boolean> {
  const { pid, identity } = parseLock(text);
  const old = Date.now() - Number(lock.mtimeMs) > staleMs;
  if (pid === undefined) {
    const held = await heldOpen(lock);
    if (held === undefined) return old;
    if (held) return false;
    // Its creator may have written its PID and closed the file between our read and the scan.
    return parseLock(await readFile(lockPath, 'utf8').catch(() => '')).pid === undefined;
  }
  if (pid !== process.pid && !processAlive(pid)) return true;
  if (identity !== undefined) {
    const current = await processIdentity(pid);
    if (current !== undefined && current !== identity) return true;
  }
  // Our own PID and identity: the same file locked through another path; a live holder otherwise.
  return pid === process.pid ? old : false;
}

/** The lock's inode and content, or undefined when it vanished meanwhile. */
async function readLock(lockPath: string): Promise<{ st: BigIntStats; text: string } | undefined> {
  let st: BigIntStats;
  try {
    st = await lstat(lockPath, { bigint: true });
  } catch {
    return undefined;
  }
  // Unreadable content tells nothing about the holder: judged like an empty lock.
  const text = await readFile(lockPath, 'utf8').catch(() => '');
  return { st, text };
}

const sameFile = (a: { ino: bigint; dev: bigint }, b: { ino: bigint; dev: bigint }): boolean => a.ino === b.ino && a.dev === b.dev;

/**
 * Remove `lockPath` if it is still the inode judged stale, not a lock another process created
 * after taking over the same stale lock. True when the path is free now.
 */
async function removeStale(lockPath: string, judged: BigIntStats): Promise<boolean> {
  try {
    if (!sameFile(await lstat(lockPath, { bigint: true }), judged)) return true; // replaced: try again
    await unlink(lockPath);
    return true;
  } catch (err) {
    return errnoOf(err) === 'ENOENT';
  }
}

/**
 * One attempt: write our content to a fresh temp file beside the lock (link() works within one
 * file system only) and hard-link it to `lockPath`, which fails if the lock exists. The lock's
 * inode when we got it, to release only what we hold; undefined when another process holds it.
 */
async function tryLock(lockPath: string, content: string): Promise<BigIntStats | undefined> {
  const tmp = join(dirname(lockPath), `.${basename(lockPath)}.${process.pid}.${randomBytes(6).toString('hex')}`);
  await writeFile(tmp, content, { flag: 'wx', mode: 0o600 });
  try {
    const mine = await stat(tmp, { bigint: true });
    await link(tmp, lockPath);
    return mine;
  } catch (err) {
    if (errnoOf(err) === 'EEXIST') return undefined;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function acquire(lockPath: string, timeoutMs: number, staleMs: number): Promise<BigIntStats> {
  const until = Date.now() + timeoutMs;
  const content = await ownLockContent();
  const heldOpen = holderProbe();
  let delay = 5;
  for (;;) {
    const mine = await tryLock(lockPath, content);
    if (mine) return mine;
    const lock = await readLock(lockPath);
    if (lock === undefined) continue; // released meanwhile
    if ((await lockIsStale(lockPath, lock.st, lock.text, staleMs, heldOpen)) && (await removeStale(lockPath, lock.st))) continue;
    if (Date.now() > until) throw new FileLockError(`could not lock ${lockPath}: held by another process`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

/** Remove the lock if it is still ours. */
async function release(lockPath: string, mine: BigIntStats): Promise<void> {
  try {
    if (sameFile(await lstat(lockPath, { bigint: true }), mine)) await unlink(lockPath);
  } catch {
    // already gone
  }
}

/** Run `fn` while holding the lock of `path` (in this process and against other processes). */
export function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lockPath = `${path}.lock`;
  const previous = queues.get(path) ?? Promise.resolve();
  const next = previous
    .catch(() => undefined)
    .then(async () => {
      const mine = await acquire(lockPath, options.timeoutMs ?? 10_000, options.staleMs ?? 60_000);
      try {
        return await fn();
      } finally {
        await release(lockPath, mine);
      }
    });
  const tail = next.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return next;
}

export interface UpdateOptions extends LockOptions {
  /** Mode of a newly created file; an existing file keeps its mode. */
  mode?: number;
}

type Change<R> = (current: string | undefined) => [next: string | undefined, result: R];

interface PendingChange {
  change: Change<unknown>;
  options: UpdateOptions;
  resolve: (result: unknown) => void;
  reject: (err: unknown) => void;
}

const batches = new Map<string, PendingChange[]>();

/**
 * Apply every change queued for `path` while the previous write was running, in order, with one
 * read, one lock and one atomic write (group commit): a burst of edits costs one fsync'd rewrite
 * instead of one each. Each caller still gets its own result, or its own error when its change
 * threw (its change is then skipped); a failed write fails the whole batch.
 */
async function drain(path: string, queue: PendingChange[]): Promise<void> {
  while (queue.length > 0) {
    const batch = queue.splice(0);
    const options = batch[0].options;
    try {
      const outcomes = await withFileLock(
        path,
        async () => {
          let current: string | undefined;
          let mode = options.mode ?? 0o644;
          try {
            current = await readFile(path, 'utf8');
            mode = (await stat(path)).mode & 0o7777;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
          let text = current;
          const results = batch.map((p) => {
            try {
              const [next, result] = p.change(text);
              if (next !== undefined) text = next;
              return { ok: true as const, result };
            } catch (err) {
              return { ok: false as const, err };
            }
          });
          if (text !== undefined && text !== current) await writeFileAtomic(path, text, { mode });
          return results;
        },
        options,
      );
      batch.forEach((p, i) => {
        const o = outcomes[i];
        if (o.ok) p.resolve(o.result);
        else p.reject(o.err);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
  batches.delete(path);
}

/**
 * Under the lock, read `path` (undefined when missing), compute the new content and write it
 * atomically. Returning undefined from `change` leaves the content untouched. Resolves to
 * `change`'s second element once the new content is on disk. `change` must be synchronous and
 * pure: concurrent callers' changes may be applied together, in call order, in one write.
 */
export function updateFile<R>(path: string, change: Change<R>, options: UpdateOptions = {}): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    let queue = batches.get(path);
    const start = queue === undefined;
    if (!queue) {
      queue = [];
      batches.set(path, queue);
    }
    queue.push({ change: change as Change<unknown>, options, resolve: resolve as (r: unknown) => void, reject });
    if (start) void drain(path, queue);
  });
}
