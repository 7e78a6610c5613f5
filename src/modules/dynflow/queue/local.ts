// The default WorkQueue: jobs are rows of the task database (node:sqlite), run in this process.
// Durable: a job survives a restart; one that was running when the process stopped goes back to
// `queued` at start (its handler sees the task's state and recovers it). Idle costs nothing: there
// is no polling loop, only one timer armed for the earliest delayed job.

import { randomUUID } from 'node:crypto';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { SendOptions, WorkQueue } from '../types.ts';

type Handler = (job: { id: string; data: Record<string, unknown>; attempt: number }) => Promise<void>;
type Row = Record<string, SQLInputValue>;

interface Worker {
  readonly queue: string;
  readonly concurrency: number;
  readonly handler: Handler;
  active: number;
}

export interface LocalQueueOptions {
  /** Called when a handler throws (the job is retried or dropped per its options). */
  onError?: (queue: string, jobId: string, err: unknown, willRetry: boolean) => void;
  /** Clock, for tests. */
  now?: () => number;
}

/** Longest setTimeout delay node accepts (about 24.8 days); later jobs re-arm on expiry. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const SCHEMA = `CREATE TABLE IF NOT EXISTS queue_jobs (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  queue TEXT NOT NULL,
  data TEXT NOT NULL,
  singleton_key TEXT,
  state TEXT NOT NULL,
  start_after INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  retry_limit INTEGER NOT NULL DEFAULT 0,
  retry_delay_seconds REAL NOT NULL DEFAULT 0,
  retry_backoff INTEGER NOT NULL DEFAULT 0,
  expire_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS queue_jobs_singleton ON queue_jobs (queue, singleton_key) WHERE singleton_key IS NOT NULL AND state = 'queued';
CREATE INDEX IF NOT EXISTS queue_jobs_due ON queue_jobs (queue, state, start_after, seq);`;

export class LocalWorkQueue implements WorkQueue {
  private readonly db: DatabaseSync;
  private readonly options: LocalQueueOptions;
  private readonly workers = new Map<string, Worker>();
  private readonly running = new Set<Promise<void>>();
  private readonly statements = new Map<string, StatementSync>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private pumpScheduled = false;
  private started = false;
  private stopping = false;
  private seq = 0;

  constructor(db: DatabaseSync, options: LocalQueueOptions = {}) {
    this.db = db;
    this.options = options;
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  private stmt(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.db.exec(SCHEMA);
    // Jobs whose handler was running when the process stopped run again. If a queued twin with the
    // same singleton key exists, the interrupted one is dropped instead (the twin does the work).
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.db.exec(`DELETE FROM queue_jobs WHERE state = 'active' AND singleton_key IS NOT NULL AND EXISTS
        (SELECT 1 FROM queue_jobs q WHERE q.queue = queue_jobs.queue AND q.singleton_key = queue_jobs.singleton_key AND q.state = 'queued')`);
      this.db.exec("UPDATE queue_jobs SET state = 'queued' WHERE state = 'active'");
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    this.seq = Number((this.stmt('SELECT COALESCE(MAX(seq), 0) AS s FROM queue_jobs').get() as Row).s);
    this.started = true;
    this.stopping = false;
    this.schedulePump();
  }

  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.running.size > 0) {
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.running]),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()));
        }),
      ]);
      clearTimeout(timeout);
    }
    this.workers.clear();
    this.started = false;
    this.statements.clear();
  }

  async send(queue: string, data: Record<string, unknown>, opts: SendOptions = {}): Promise<string> {
    const now = this.now();
    const id = randomUUID();
    const startAfter = opts.startAfter ?? now;
    const row = this.stmt(
      `INSERT INTO queue_jobs (id, seq, queue, data, singleton_key, state, start_after, retry_limit, retry_delay_seconds, retry_backoff, expire_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
    ).get(
      id,
      ++this.seq,
      queue,
      JSON.stringify(data),
      opts.singletonKey ?? null,
      startAfter,
      opts.retryLimit ?? 0,
      opts.retryDelaySeconds ?? 0,
      opts.retryBackoff ? 1 : 0,
      opts.expireInSeconds === undefined ? null : now + opts.expireInSeconds * 1000,
    ) as Row | undefined;
    if (!row) {
      // A queued job with this singleton key exists: that one stands.
      const existing = this.stmt("SELECT id FROM queue_jobs WHERE queue = ? AND singleton_key = ? AND state = 'queued'").get(queue, opts.singletonKey ?? null) as Row | undefined;
      return (existing?.id as string | undefined) ?? id;
    }
    if (startAfter <= now) this.schedulePump();
    else this.armTimer(startAfter);
    return id;
  }

  async cancelByKey(queue: string, singletonKey: string): Promise<void> {
    this.stmt("DELETE FROM queue_jobs WHERE queue = ? AND singleton_key = ? AND state = 'queued'").run(queue, singletonKey);
  }

  async work(queue: string, concurrency: number, handler: Handler): Promise<void> {
    if (this.workers.has(queue)) throw new Error(`queue '${queue}' already has a worker`);
    this.workers.set(queue, { queue, concurrency: Math.max(1, concurrency), handler, active: 0 });
    this.schedulePump();
  }

  /** When the queue's one timer fires next (the earliest delayed job), or undefined when idle. */
  nextWakeAt(): number | undefined {
    return this.timer === undefined ? undefined : this.timerAt;
  }

  /** Jobs waiting or running (tests, metrics). */
  size(queue?: string): number {
    const r = (queue === undefined ? this.stmt('SELECT COUNT(*) AS n FROM queue_jobs').get() : this.stmt('SELECT COUNT(*) AS n FROM queue_jobs WHERE queue = ?').get(queue)) as Row;
    return Number(r.n);
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.started || this.stopping) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private armTimer(at: number): void {
    if (!this.started || this.stopping || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - this.now())),
    );
    this.timer.unref();
  }

  /** Claim due jobs for every worker with free slots, then arm the timer for the next one. */
  private pump(): void {
    if (!this.started || this.stopping) return;
    const now = this.now();
    for (const w of this.workers.values()) {
      const free = w.concurrency - w.active;
      if (free <= 0) continue;
      const rows = this.stmt(
        `UPDATE queue_jobs SET state = 'active', attempt = attempt + 1 WHERE id IN
           (SELECT id FROM queue_jobs WHERE queue = ? AND state = 'queued' AND start_after <= ? ORDER BY start_after, seq LIMIT ?)
         RETURNING *`,
      ).all(w.queue, now, free) as Row[];
      rows.sort((a, b) => Number(a.start_after) - Number(b.start_after) || Number(a.seq) - Number(b.seq));
      for (const r of rows) {
        if (r.expire_at !== null && Number(r.expire_at) <= now) {
          this.stmt('DELETE FROM queue_jobs WHERE id = ?').run(r.id as string);
          continue;
        }
        this.runJob(w, r);
      }
    }
    const names = [...this.workers.keys()];
    if (names.length === 0) return;
    const next = this.stmt(
      `SELECT MIN(start_after) AS at FROM queue_jobs WHERE state = 'queued' AND queue IN (SELECT value FROM json_each(?))`,
    ).get(JSON.stringify(names.filter((n) => (this.workers.get(n) as Worker).active < (this.workers.get(n) as Worker).concurrency))) as Row;
    if (next.at !== null) this.armTimer(Number(next.at));
  }

  private runJob(w: Worker, r: Row): void {
    w.active++;
    const id = r.id as string;
    const attempt = Number(r.attempt);
    const p: Promise<void> = (async () => {
      try {
        await w.handler({ id, data: JSON.parse(r.data as string) as Record<string, unknown>, attempt });
        this.finishJob(id);
      } catch (err) {
        this.failJob(w.queue, r, err);
      } finally {
        w.active--;
        this.schedulePump();
      }
    })();
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  private finishJob(id: string): void {
    if (!this.started) return; // stopped meanwhile: the row is requeued at the next start
    this.stmt('DELETE FROM queue_jobs WHERE id = ?').run(id);
  }

  private failJob(queue: string, r: Row, err: unknown): void {
    const attempt = Number(r.attempt);
    const retries = Number(r.retry_limit);
    const willRetry = attempt <= retries && this.started;
    this.options.onError?.(queue, r.id as string, err, willRetry);
    if (!this.started) return;
    if (!willRetry) {
      this.stmt('DELETE FROM queue_jobs WHERE id = ?').run(r.id as string);
      return;
    }
    const base = Number(r.retry_delay_seconds) * 1000;
    const delay = Number(r.retry_backoff) ? base * 2 ** (attempt - 1) : base;
    const at = this.now() + delay;
    // A queued twin with the same singleton key supersedes the retry.
    try {
      this.stmt("UPDATE queue_jobs SET state = 'queued', start_after = ? WHERE id = ?").run(at, r.id as string);
    } catch {
      this.stmt('DELETE FROM queue_jobs WHERE id = ?').run(r.id as string);
    }
    this.armTimer(at);
  }
}
