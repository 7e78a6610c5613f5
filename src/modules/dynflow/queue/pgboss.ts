// WorkQueue on pg-boss (PostgreSQL), shared by the replicas of the proxy: any replica may send a
// job, whichever replica polls first runs it. Jobs sent with `heartbeat: true` (host runs) carry a
// pg-boss heartbeat: the worker refreshes it every heartbeatSeconds/2 while the handler runs, and a
// replica that died stops refreshing, so a pg-boss supervisor (any live replica) fails the job after
// heartbeatSeconds and it is retried on a live replica, whose handler finds the task still owned by
// the dead one and recovers it.
//
// Jobs sent without `heartbeat` get one too: a callback or timer job that was running on a replica
// that died then also comes back after heartbeatSeconds, not after its active time (15 min).
// `heartbeat: true` only changes the active-time bound (24 h, pg-boss's maximum) for long runs.
//
// Every pg-boss queue is created with the `stately` policy: at most one job per singleton key and
// state (one queued, one in retry, one active). That is the "one queued job per key" the interface
// promises (a timer re-armed twice is armed once). Jobs sent without a key get a unique one of their
// own so they never collide with each other.

import { randomUUID } from 'node:crypto';
import { PgBoss, type Job, type SendOptions as BossSendOptions } from 'pg-boss';
import { checkDatabaseUrl } from '../store/postgres.ts';
import type { SendOptions, WorkQueue } from '../types.ts';

type Handler = Parameters<WorkQueue['work']>[2];

export interface PgBossQueueOptions {
  /** Heartbeat of every job while its handler runs, seconds (pg-boss needs ≥ 10; default 30). */
  heartbeatSeconds?: number;
  /**
   * How often a replica looks for jobs whose heartbeat or active time ran out, seconds (default 10).
   * A dead replica's job is retried elsewhere after about heartbeatSeconds + this.
   */
  superviseIntervalSeconds?: number;
  /**
   * How often an idle queue is polled, seconds (default 1, minimum 0.5): one query per queue and
   * interval, whatever the concurrency. Jobs this replica sends are picked up at once.
   */
  pollingIntervalSeconds?: number;
  /** Most connections pg-boss opens in this process (default 6). */
  poolSize?: number;
  /** Server-side limit for one statement, ms (default 30 000). */
  statementTimeoutMs?: number;
  /** PostgreSQL schema of pg-boss's tables (default `pgboss`). */
  schema?: string;
  /** Queues to create at start (others are created on first use). */
  queues?: readonly string[];
  /** Where pg-boss errors and warnings go; never given the connection string. */
  log?: { warn(message: string): void; error?(message: string, err?: unknown): void };
  /** Called when a handler throws (the job is retried or failed per its options). */
  onError?: (queue: string, jobId: string, err: unknown) => void;
}

/** Active time of a job without heartbeat (a timer or callback handler: short work). */
const PLAIN_ACTIVE_SECONDS = 15 * 60;
/**
 * Active time of a heartbeat job: pg-boss's maximum (24 h). The heartbeat is what notices a dead
 * replica; this only bounds a handler that hangs while its replica stays alive.
 */
const HEARTBEAT_ACTIVE_SECONDS = 24 * 60 * 60;
/** Prefix of the keys given to jobs sent without one (they must never collide). */
const UNKEYED_PREFIX = '~unkeyed~';

export class PgBossWorkQueue implements WorkQueue {
  readonly #boss: PgBoss;
  readonly #opts: PgBossQueueOptions;
  readonly #heartbeatSeconds: number;
  readonly #pollingIntervalSeconds: number;
  readonly #created = new Map<string, Promise<void>>();
  readonly #workers = new Map<string, Worker>();
  #started = false;
  #starting: Promise<void> | undefined;
  #stopped = false;

  constructor(url: string, opts: PgBossQueueOptions = {}) {
    const problem = checkDatabaseUrl(url);
    if (problem) throw new Error(`dynflow: ${problem}`);
    this.#opts = opts;
    this.#heartbeatSeconds = opts.heartbeatSeconds ?? 30;
    if (!Number.isInteger(this.#heartbeatSeconds) || this.#heartbeatSeconds < 10) {
      throw new Error(`dynflow: heartbeatSeconds must be a whole number of at least 10 (pg-boss), got ${String(opts.heartbeatSeconds)}`);
    }
    this.#pollingIntervalSeconds = Math.max(0.5, opts.pollingIntervalSeconds ?? 1);
    const supervise = Math.max(1, Math.round(opts.superviseIntervalSeconds ?? 10));
    this.#boss = new PgBoss({
      connectionString: url,
      schema: opts.schema ?? 'pgboss',
      max: opts.poolSize ?? 6,
      connectionTimeoutMillis: 10_000,
      options: `-c statement_timeout=${opts.statementTimeoutMs ?? 30_000}`,
      application_name: 'smart-proxy dynflow queue',
      // Heartbeat and expiry failures are found by the monitor pass, every max(monitor, supervise).
      superviseIntervalSeconds: supervise,
      monitorIntervalSeconds: supervise,
      registerInstance: false,
    });
    // Unhandled, an 'error' event would end the process; pg's messages carry no password.
    this.#boss.on('error', (err: Error) => {
      if (opts.log?.error) opts.log.error(`dynflow queue: ${err.message}`, err);
      else opts.log?.warn(`dynflow queue: ${err.message}`);
    });
    this.#boss.on('warning', (w: { message: string }) => opts.log?.warn(`dynflow queue: ${w.message}`));
  }

  /**
   * Connects (and installs or migrates pg-boss's schema), creates the configured queues and starts
   * polling for the workers registered so far. Idempotent; `send` and `cancelByKey` call it too, so
   * a module may queue work before the engine started.
   */
  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('dynflow queue: a stopped queue cannot be started again'));
    this.#starting ??= (async () => {
      await this.#boss.start();
      this.#started = true;
      for (const q of this.#opts.queues ?? []) await this.#ensureQueue(q);
      for (const w of this.#workers.values()) {
        await this.#ensureQueue(w.queue);
        this.#poll(w);
      }
    })();
    this.#starting.catch(() => (this.#starting = undefined));
    return this.#starting;
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#starting) await this.#starting.catch(() => undefined);
    if (!this.#started) return;
    const workers = [...this.#workers.values()];
    for (const w of workers) {
      clearTimeout(w.timer);
    }
    // Running handlers get until the deadline; what is still running then is failed, so another
    // replica retries it at once instead of waiting for the heartbeat to run out.
    const pending = workers.flatMap((w) => [...w.running.values()].map((r) => r.done));
    if (pending.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(pending),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()));
        }),
      ]);
      clearTimeout(timer);
    }
    for (const w of workers) {
      const left = [...w.running.values()];
      if (left.length === 0) continue;
      for (const r of left) {
        r.handedOver = true;
        clearInterval(r.heartbeat);
      }
      await this.#boss
        .fail(w.queue, left.map((r) => r.attempt), { message: 'the replica running this job stopped' })
        .catch((err: unknown) => this.#opts.log?.warn(`dynflow queue: handing over ${left.length} job(s) of ${w.queue} failed: ${errorMessage(err)}`));
    }
    this.#workers.clear();
    await this.#boss.stop({ graceful: false, close: true });
  }

  /** Creates the pg-boss queue once per process (idempotent in the database too). */
  #ensureQueue(name: string): Promise<void> {
    let p = this.#created.get(name);
    if (!p) {
      p = this.#boss.createQueue(name, { policy: 'stately' });
      p.catch(() => this.#created.delete(name));
      this.#created.set(name, p);
    }
    return p;
  }

  /** Started (connecting at the first use when start() was not called yet), and not stopped. */
  async #running(what: string): Promise<void> {
    if (this.#stopped) throw new Error(`dynflow queue: ${what} after stop()`);
    if (!this.#started) await this.start();
  }

  async send(queue: string, data: Record<string, unknown>, opts: SendOptions = {}): Promise<string> {
    await this.#running('send');
    await this.#ensureQueue(queue);
    const key = opts.singletonKey ?? `${UNKEYED_PREFIX}${randomUUID()}`;
    const boss: BossSendOptions = {
      singletonKey: key,
      expireInSeconds: opts.heartbeat ? HEARTBEAT_ACTIVE_SECONDS : PLAIN_ACTIVE_SECONDS,
    };
    boss.heartbeatSeconds = this.#heartbeatSeconds;
    if (opts.startAfter !== undefined) boss.startAfter = new Date(opts.startAfter);
    // pg-boss takes whole numbers only
    if (opts.retryLimit !== undefined) boss.retryLimit = Math.max(0, Math.floor(opts.retryLimit));
    if (opts.retryDelaySeconds !== undefined) boss.retryDelay = Math.max(0, Math.ceil(opts.retryDelaySeconds));
    if (opts.retryBackoff !== undefined) boss.retryBackoff = opts.retryBackoff;
    // "give up N seconds after it was due": pg-boss drops a job still queued past its retention
    if (opts.expireInSeconds !== undefined) boss.retentionSeconds = Math.max(1, Math.ceil(opts.expireInSeconds));
    const id = await this.#boss.send(queue, data, boss);
    if (id) {
      const w = this.#workers.get(queue);
      if (w && (opts.startAfter === undefined || opts.startAfter <= Date.now())) this.#kick(w);
      return id;
    }
    // A queued job with this key exists: that one stands (as with the local queue).
    const existing = await this.#boss.findJobs(queue, { key, queued: true, limit: 1 });
    return existing[0]?.id ?? '';
  }

  async cancelByKey(queue: string, singletonKey: string): Promise<void> {
    await this.#running('cancelByKey');
    await this.#ensureQueue(queue);
    const jobs = await this.#boss.findJobs(queue, { key: singletonKey, queued: true });
    if (jobs.length > 0) await this.#boss.cancel(queue, jobs.map((j) => j.id));
  }

  async work(queue: string, concurrency: number, handler: Handler): Promise<void> {
    if (this.#stopped) throw new Error('dynflow queue: work after stop()');
    if (this.#workers.has(queue)) throw new Error(`dynflow queue: '${queue}' already has a worker`);
    const w: Worker = { queue, concurrency: Math.max(1, Math.floor(concurrency)), handler, running: new Map(), timer: undefined, polling: false, again: false };
    this.#workers.set(queue, w);
    // Before start() the worker waits: start() begins its polling.
    if (this.#started) {
      await this.#ensureQueue(queue);
      this.#poll(w);
    }
  }

  /** Polls again soon (a slot freed, or this replica sent a job that is due now). */
  #kick(w: Worker): void {
    if (this.#stopped) return;
    if (w.polling) {
      w.again = true;
      return;
    }
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => this.#poll(w), 0);
  }

  /**
   * One fetch for as many jobs as there are free slots, then the next poll: at once when the fetch
   * filled every slot (there may be more), else after the polling interval. One query per queue per
   * interval when idle, whatever the concurrency.
   */
  #poll(w: Worker): void {
    w.timer = undefined;
    if (this.#stopped || w.polling) return;
    const free = w.concurrency - w.running.size;
    if (free <= 0) return; // a finishing job kicks the next poll
    w.polling = true;
    w.again = false;
    let full = false;
    this.#boss
      .fetch<Record<string, unknown>>(w.queue, { batchSize: free })
      .then(async (jobs) => {
        if (this.#stopped) {
          // stop() began while this fetch was out: give the jobs back at once instead of running them
          if (jobs.length > 0) await this.#boss.fail(w.queue, jobs.map((j) => ({ id: j.id, retryCount: j.retryCount })), { message: 'the replica stopped' });
          return;
        }
        full = jobs.length >= free;
        for (const job of jobs) this.#run(w, job);
      })
      .catch((err: unknown) => {
        if (!this.#stopped) this.#opts.log?.warn(`dynflow queue: fetching from ${w.queue} failed: ${errorMessage(err)}`);
      })
      .finally(() => {
        w.polling = false;
        if (this.#stopped) return;
        if ((full || w.again) && w.running.size < w.concurrency) {
          w.timer = setTimeout(() => this.#poll(w), 0);
        } else {
          w.timer = setTimeout(() => this.#poll(w), this.#pollingIntervalSeconds * 1000);
          w.timer.unref();
        }
      });
  }

  #run(w: Worker, job: Job<Record<string, unknown>>): void {
    // Settle calls name the attempt they are about: once pg-boss has given the job to another
    // replica (heartbeat lost, expired), a late complete or fail from here changes nothing.
    const attempt = { id: job.id, retryCount: job.retryCount };
    let heartbeat: NodeJS.Timeout | undefined;
    if (job.heartbeatSeconds && job.heartbeatSeconds > 0) {
      heartbeat = setInterval(() => {
        this.#boss.touch(w.queue, [attempt]).then(
          (res) => {
            if ((res as { affected?: number }).affected === 0 && heartbeat) {
              // the claim is gone (failed by a supervisor, cancelled): stop pretending to hold it
              clearInterval(heartbeat);
              this.#opts.log?.warn(`dynflow queue: job ${job.id} of ${w.queue} is no longer held by this replica`);
            }
          },
          (err: unknown) => this.#opts.log?.warn(`dynflow queue: heartbeat of job ${job.id} failed: ${errorMessage(err)}`),
        );
      }, (job.heartbeatSeconds * 1000) / 2);
      heartbeat.unref();
    }
    const running: Running = { attempt, done: Promise.resolve(), handedOver: false, heartbeat };
    w.running.set(job.id, running);
    running.done = (async () => {
      try {
        await w.handler({ id: job.id, data: job.data ?? {}, attempt: job.retryCount + 1 });
        if (!running.handedOver) await this.#boss.complete(w.queue, [attempt]);
      } catch (err) {
        this.#opts.onError?.(w.queue, job.id, err);
        if (!running.handedOver) await this.#boss.fail(w.queue, [attempt], { message: errorMessage(err) });
      } finally {
        if (heartbeat) clearInterval(heartbeat);
        w.running.delete(job.id);
        this.#kick(w);
      }
    })().catch((err: unknown) => {
      // complete() or fail() itself failed (database gone): the job's heartbeat or expiry gives it back
      if (!this.#stopped) this.#opts.log?.warn(`dynflow queue: settling job ${job.id} of ${w.queue} failed: ${errorMessage(err)}`);
    });
  }
}

interface Running {
  readonly attempt: { id: string; retryCount: number };
  done: Promise<void>;
  /** Failed at shutdown so another replica retries it; the handler's late outcome is ignored. */
  handedOver: boolean;
  readonly heartbeat: NodeJS.Timeout | undefined;
}

interface Worker {
  readonly queue: string;
  readonly concurrency: number;
  readonly handler: Handler;
  readonly running: Map<string, Running>;
  timer: NodeJS.Timeout | undefined;
  polling: boolean;
  /** A kick arrived during a poll: poll again right after it. */
  again: boolean;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A positive number from the environment, or undefined (with a clear error when malformed). */
function envSeconds(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`dynflow: ${name} must be a positive number of seconds, got '${raw}'`);
  return n;
}

/**
 * Loaded by the engine (dynamic import) when the dynflow `database_url` setting is set. The
 * environment variables DYNFLOW_QUEUE_HEARTBEAT_SECONDS (≥ 10) and DYNFLOW_QUEUE_SUPERVISE_SECONDS
 * tune how fast a dead replica's jobs move (tests use 10 and 1) when `opts` does not set them.
 */
export async function createPgBossQueue(url: string, opts: PgBossQueueOptions = {}): Promise<PgBossWorkQueue> {
  const heartbeatSeconds = opts.heartbeatSeconds ?? envSeconds('DYNFLOW_QUEUE_HEARTBEAT_SECONDS');
  const superviseIntervalSeconds = opts.superviseIntervalSeconds ?? envSeconds('DYNFLOW_QUEUE_SUPERVISE_SECONDS');
  return new PgBossWorkQueue(url, {
    ...opts,
    ...(heartbeatSeconds !== undefined ? { heartbeatSeconds } : {}),
    ...(superviseIntervalSeconds !== undefined ? { superviseIntervalSeconds } : {}),
  });
}
