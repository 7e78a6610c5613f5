// Read-modify-write of small files the proxy owns (autosign.conf, tokens.yml) without losing an
// edit: edits of one path are queued in this process (and the edits that queue up during a write
// go to disk together in the next one), and a `<path>.lock` file created with O_EXCL keeps other
// processes (a second proxy instance, an operator's script using the same convention) out while
// the new content is written atomically.

import { open, readFile, stat, unlink } from 'node:fs/promises';
import { writeFileAtomic } from './atomic.ts';

export interface LockOptions {
  /** Give up after this long waiting for another process's lock (default 10 s). */
  timeoutMs?: number;
  /** A lock file older than this whose owner cannot be checked is taken over (default 60 s). */
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function lockIsStale(lockPath: string, staleMs: number): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
    const pid = Number.parseInt(text, 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) return !processAlive(pid);
    return Date.now() - st.mtimeMs > staleMs;
  } catch {
    return false; // vanished meanwhile: simply retry
  }
}

async function acquire(lockPath: string, timeoutMs: number, staleMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await lockIsStale(lockPath, staleMs)) {
      await unlink(lockPath).catch(() => undefined);
      continue;
    }
    if (Date.now() > until) throw new FileLockError(`could not lock ${lockPath}: held by another process`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

/** Run `fn` while holding the lock of `path` (in this process and against other processes). */
export function withFileLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lockPath = `${path}.lock`;
  const previous = queues.get(path) ?? Promise.resolve();
  const next = previous
    .catch(() => undefined)
    .then(async () => {
      await acquire(lockPath, options.timeoutMs ?? 10_000, options.staleMs ?? 60_000);
      try {
        return await fn();
      } finally {
        await unlink(lockPath).catch(() => undefined);
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
