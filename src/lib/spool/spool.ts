// A durable forwarding spool: work the proxy accepted from a host (an OpenSCAP report, a host
// report) and must hand to Foreman, kept in SQLite (WAL, synchronous=FULL) from the moment the
// host is answered until Foreman took it. One forwarder per spool delivers the items strictly in
// the order they were committed, one at a time, and retries the head on its own with exponential
// backoff while Foreman is down (the reference relied on a cron job every 30 minutes). A restart
// resumes where the last run stopped: an item leaves the spool only in the transaction that
// records its outcome, so nothing is lost; an item whose delivery was cut by a crash is sent
// again (at-least-once), carrying the same idempotency key.
//
// node:sqlite is synchronous: each statement runs on the event loop. The statements here touch
// one row by primary key (plus one fsync per commit), so they cost well under a millisecond on
// an idle disk; payloads are the parsed summaries, not the raw uploads (those stay in files).

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { randomUUID } from 'node:crypto';

export interface SpoolItem {
  readonly id: number;
  /** Stable across retries and restarts: an idempotency key for the receiver. */
  readonly key: string;
  /** What the deliverer does with it (`arf`, `host_report`, `facts` …). */
  readonly kind: string;
  readonly payload: string;
  readonly meta: Readonly<Record<string, string>>;
  /** Failed attempts so far (0 on the first try). */
  readonly attempts: number;
  readonly enqueuedAt: number;
}

/**
 * What became of one delivery attempt. `delivered` and `rejected` remove the item (a rejected one
 * is kept in a bounded dead-letter table for the operator); `retry` keeps it at the head.
 */
export type DeliveryOutcome =
  | { readonly outcome: 'delivered'; readonly detail?: string }
  | { readonly outcome: 'rejected'; readonly detail: string }
  | { readonly outcome: 'retry'; readonly detail: string };

export interface SpoolLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export interface SpoolOptions {
  /** SQLite database file (its directory must exist). */
  readonly file: string;
  /** For log lines. */
  readonly name: string;
  /** Most items held; enqueue beyond it fails with SpoolFullError. */
  readonly maxItems: number;
  /** Most payload bytes held. */
  readonly maxBytes: number;
  /** First retry delay, doubled per failed attempt up to `retryMaxMs` (±20 % jitter). */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** Rejected items kept for inspection (oldest dropped first). */
  readonly keepRejected?: number;
  /** Deliver one item; a throw counts as `retry`. Must honour the signal (aborted at close). */
  deliver(item: SpoolItem, signal: AbortSignal): Promise<DeliveryOutcome>;
  readonly log?: SpoolLog;
}

export interface SpoolStats {
  readonly pending: number;
  readonly pendingBytes: number;
  readonly rejected: number;
  readonly delivered: number;
  readonly retries: number;
  /** True while the head is waiting for its next attempt after a failure. */
  readonly backingOff: boolean;
  readonly lastError: string | undefined;
}

export class SpoolFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolFullError';
  }
}

interface Row {
  id: number;
  key: string;
  kind: string;
  payload: string;
  meta: string;
  attempts: number;
  enqueued_at: number;
}

type Settled = Exclude<DeliveryOutcome, { outcome: 'retry' }>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  payload TEXT NOT NULL,
  meta TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  enqueued_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL,
  kind TEXT NOT NULL,
  meta TEXT NOT NULL,
  reason TEXT NOT NULL,
  rejected_at INTEGER NOT NULL
);
`;

export class Spool {
  private readonly db: DatabaseSync;
  private readonly opts: SpoolOptions;
  private readonly insert: StatementSync;
  private readonly head: StatementSync;
  private readonly remove: StatementSync;
  private readonly markFailed: StatementSync;
  private readonly addRejected: StatementSync;
  private readonly trimRejected: StatementSync;
  private pendingCount: number;
  private pendingBytes: number;
  private rejectedCount: number;
  private delivered = 0;
  private retries = 0;
  private lastError: string | undefined;
  private backoffUntil = 0;
  private closed = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly inFlight = new AbortController();
  private readonly waiters = new Map<number, Set<(o: Settled | undefined) => void>>();

  constructor(opts: SpoolOptions) {
    this.opts = opts;
    this.db = new DatabaseSync(opts.file);
    // WAL: readers never block the writer; FULL: a commit is on disk before the host is answered.
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.db.exec(SCHEMA);
    this.insert = this.db.prepare('INSERT INTO items (key, kind, payload, meta, enqueued_at) VALUES (?, ?, ?, ?, ?)');
    this.head = this.db.prepare('SELECT id, key, kind, payload, meta, attempts, enqueued_at FROM items ORDER BY id LIMIT 1');
    this.remove = this.db.prepare('DELETE FROM items WHERE id = ?');
    this.markFailed = this.db.prepare('UPDATE items SET attempts = attempts + 1, last_error = ? WHERE id = ?');
    this.addRejected = this.db.prepare('INSERT INTO rejected (id, key, kind, meta, reason, rejected_at) VALUES (?, ?, ?, ?, ?, ?)');
    this.trimRejected = this.db.prepare('DELETE FROM rejected WHERE id NOT IN (SELECT id FROM rejected ORDER BY id DESC LIMIT ?)');
    const totals = this.db.prepare('SELECT count(*) AS n, coalesce(sum(length(CAST(payload AS BLOB))), 0) AS bytes FROM items').get() as { n: number; bytes: number };
    this.pendingCount = totals.n;
    this.pendingBytes = totals.bytes;
    this.rejectedCount = (this.db.prepare('SELECT count(*) AS n FROM rejected').get() as { n: number }).n;
  }

  /** Start the forwarder (items left by an earlier run go first). */
  start(): void {
    this.loop ??= this.forward();
  }

  /**
   * Commit one item; when this returns, the item survives a crash. Throws SpoolFullError when a
   * bound would be exceeded (the caller answers 503: the host retries later).
   */
  enqueue(kind: string, payload: string, meta: Record<string, string> = {}): SpoolItem {
    return this.enqueueAll([{ kind, payload, meta }])[0] as SpoolItem;
  }

  /** Commit several items at once, consecutive in the delivery order: all of them or none. */
  enqueueAll(entries: readonly { kind: string; payload: string; meta?: Record<string, string> }[]): SpoolItem[] {
    if (this.closed) throw new SpoolFullError(`spool ${this.opts.name} is closed`);
    const bytes = entries.reduce((sum, e) => sum + Buffer.byteLength(e.payload), 0);
    if (this.pendingCount + entries.length > this.opts.maxItems) {
      throw new SpoolFullError(`spool ${this.opts.name} is full: ${this.pendingCount} items waiting for Foreman (max ${this.opts.maxItems})`);
    }
    if (this.pendingBytes + bytes > this.opts.maxBytes) {
      throw new SpoolFullError(`spool ${this.opts.name} is full: ${this.pendingBytes + bytes} bytes would exceed ${this.opts.maxBytes}`);
    }
    const enqueuedAt = Date.now();
    const items: SpoolItem[] = [];
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const e of entries) {
        const key = randomUUID();
        const meta = e.meta ?? {};
        const { lastInsertRowid } = this.insert.run(key, e.kind, e.payload, JSON.stringify(meta), enqueuedAt);
        items.push({ id: Number(lastInsertRowid), key, kind: e.kind, payload: e.payload, meta, attempts: 0, enqueuedAt });
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    this.pendingCount += entries.length;
    this.pendingBytes += bytes;
    if (Date.now() >= this.backoffUntil) this.wake?.();
    return items;
  }

  /**
   * The final outcome of item `id` if it settles within `timeoutMs`, else undefined (it stays
   * spooled and is delivered later, also when the spool is closed meanwhile).
   */
  outcome(id: number, timeoutMs: number): Promise<Settled | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const done = (o: Settled | undefined): void => {
        clearTimeout(timer);
        set.delete(finish);
        if (set.size === 0) this.waiters.delete(id);
        resolve(o);
      };
      const finish = (o: Settled | undefined): void => done(o);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      set.add(finish);
    });
  }

  stats(): SpoolStats {
    return {
      pending: this.pendingCount,
      pendingBytes: this.pendingBytes,
      rejected: this.rejectedCount,
      delivered: this.delivered,
      retries: this.retries,
      backingOff: Date.now() < this.backoffUntil,
      lastError: this.lastError,
    };
  }

  /** The metadata of every item still waiting, in delivery order (to find files the spool owns). */
  pendingMeta(): Record<string, string>[] {
    const rows = this.db.prepare('SELECT meta FROM items ORDER BY id').all() as { meta: string }[];
    return rows.map((r) => JSON.parse(r.meta) as Record<string, string>);
  }

  /** The most recent rejected items, newest first (what the operator may want to resend). */
  rejectedItems(limit = 100): { key: string; kind: string; meta: Record<string, string>; reason: string; rejectedAt: number }[] {
    const rows = this.db.prepare('SELECT key, kind, meta, reason, rejected_at FROM rejected ORDER BY id DESC LIMIT ?').all(limit) as {
      key: string;
      kind: string;
      meta: string;
      reason: string;
      rejected_at: number;
    }[];
    return rows.map((r) => ({ key: r.key, kind: r.kind, meta: JSON.parse(r.meta) as Record<string, string>, reason: r.reason, rejectedAt: r.rejected_at }));
  }

  /** Stop the forwarder (an in-flight delivery is aborted and stays spooled) and close the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.inFlight.abort();
    this.wake?.();
    await this.loop;
    // Still spooled: the waiters learn nothing final (the next run delivers the items).
    for (const [, set] of this.waiters) for (const w of [...set]) w(undefined);
    this.waiters.clear();
    this.db.close();
  }

  private sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => finish(), ms);
      const finish = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = finish;
    });
  }

  private retryDelay(attempts: number): number {
    const base = Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** Math.min(attempts - 1, 30));
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private settle(row: Row, outcome: Settled): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.remove.run(row.id);
      if (outcome.outcome === 'rejected') {
        this.addRejected.run(row.id, row.key, row.kind, row.meta, outcome.detail, Date.now());
        this.trimRejected.run(this.opts.keepRejected ?? 1000);
      }
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
    this.pendingCount--;
    this.pendingBytes -= Buffer.byteLength(row.payload);
    if (outcome.outcome === 'rejected') this.rejectedCount = Math.min(this.rejectedCount + 1, this.opts.keepRejected ?? 1000);
    else this.delivered++;
    for (const w of this.waiters.get(row.id) ?? []) w(outcome);
  }

  private async forward(): Promise<void> {
    while (!this.closed) {
      const row = this.head.get() as Row | undefined;
      if (!row) {
        await this.sleep(undefined);
        continue;
      }
      const item: SpoolItem = {
        id: row.id,
        key: row.key,
        kind: row.kind,
        payload: row.payload,
        meta: JSON.parse(row.meta) as Record<string, string>,
        attempts: row.attempts,
        enqueuedAt: row.enqueued_at,
      };
      let result: DeliveryOutcome;
      try {
        result = await this.opts.deliver(item, this.inFlight.signal);
      } catch (err) {
        result = { outcome: 'retry', detail: err instanceof Error ? err.message : String(err) };
      }
      if (this.closed) break; // an aborted attempt proves nothing: the item stays for the next run
      if (result.outcome === 'retry') {
        this.markFailed.run(result.detail, row.id);
        this.retries++;
        this.lastError = result.detail;
        const delay = this.retryDelay(row.attempts + 1);
        this.backoffUntil = Date.now() + delay;
        this.opts.log?.warn(`${this.opts.name}: delivery of item ${row.id} failed (attempt ${row.attempts + 1}), retrying in ${delay} ms: ${result.detail}`);
        await this.sleep(delay);
        continue;
      }
      this.backoffUntil = 0;
      if (result.outcome === 'rejected') this.opts.log?.error(`${this.opts.name}: item ${row.id} rejected for good: ${result.detail}`);
      try {
        this.settle(row, result);
      } catch (err) {
        // The database failed (disk full): keep the item, try again later.
        this.lastError = `spool write failed: ${err instanceof Error ? err.message : String(err)}`;
        this.opts.log?.error(`${this.opts.name}: ${this.lastError}`);
        this.backoffUntil = Date.now() + this.opts.retryMaxMs;
        await this.sleep(this.opts.retryMaxMs);
      }
    }
  }
}
