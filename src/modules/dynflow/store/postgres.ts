// TaskStore on PostgreSQL, shared by the replicas of the proxy (the sqlite store serves a single
// process). One small bounded pool per process, statement timeouts on every connection, and every
// method one transaction: single statements are atomic by themselves, the rest run between BEGIN
// and COMMIT on one pooled client. `update` is a compare-and-set on the task's state, so two
// replicas never both finish a task: under READ COMMITTED the second UPDATE waits for the first
// one's row lock, re-checks its WHERE clause against the new row and matches nothing.
//
// Script output and pull-job scripts are stored as bytea: PostgreSQL text cannot hold NUL bytes and
// a script may print them. JSON columns are `json` (not jsonb) for the same reason and because they
// are only ever read back whole.

import pg from 'pg';
import { utf8Prefix } from './sqlite.ts';
import { callbackFromRow, num, pullJobFromRow as pullJobRecordFromRow, taskFromRow as taskRecordFromRow, type ColumnDecoders, type Row } from './rows.ts';
import type {
  AbortReason,
  CallbackDelivery,
  OutputEntry,
  PlanResult,
  PlanState,
  PullJob,
  TaskRecord,
  TaskStore,
} from '../types.ts';

export interface PostgresStoreOptions {
  /** Most connections this process opens (default 10). */
  poolSize?: number;
  /** Server-side limit for one statement, ms (default 15 000). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection, ms (default 10 000). */
  connectionTimeoutMs?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** Where pool errors go (an idle connection that broke). Never given the connection string. */
  log?: { warn(message: string): void };
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages and logs. */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return '(unparsable database url)';
  }
}

/** Checks a `database_url` setting; returns a message naming the problem, or undefined. */
export function checkDatabaseUrl(url: unknown): string | undefined {
  if (typeof url !== 'string' || url === '') return 'database_url must be a non-empty string';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'database_url is not a URL (expected postgres://user:password@host:port/database)';
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    return `database_url must use postgres:// or postgresql://, not ${u.protocol}//`;
  }
  if (u.pathname.length <= 1) return 'database_url names no database (expected postgres://user:password@host:port/database)';
  return undefined;
}

// ---- schema --------------------------------------------------------------------------------------

/**
 * Migrations in order; version n is MIGRATIONS[n - 1]. Never edit a released one: add the next.
 * Each runs in the transaction that records its version.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE dynflow_tasks (
    id text PRIMARY KEY,
    ord bigserial NOT NULL,
    kind text NOT NULL CHECK (kind IN ('batch', 'task')),
    parent_id text,
    operation text NOT NULL,
    action_class text NOT NULL,
    state text NOT NULL,
    result text NOT NULL,
    input json NOT NULL,
    sealed_secrets text,
    callback json,
    created_at bigint NOT NULL,
    started_at bigint,
    ended_at bigint,
    exit_status json,
    exit_status_timestamp double precision,
    output_extra json NOT NULL,
    owner text,
    dropped_output_bytes bigint NOT NULL DEFAULT 0,
    abort_requested text,
    output_bytes bigint NOT NULL DEFAULT 0,
    output_seq integer NOT NULL DEFAULT 0
  );
  CREATE INDEX dynflow_tasks_parent ON dynflow_tasks (parent_id, ord) WHERE parent_id IS NOT NULL;
  CREATE INDEX dynflow_tasks_state ON dynflow_tasks (state, ord);
  CREATE INDEX dynflow_tasks_ended ON dynflow_tasks (ended_at) WHERE state = 'stopped';
  CREATE INDEX dynflow_tasks_abort ON dynflow_tasks (owner) WHERE abort_requested IS NOT NULL;

  CREATE TABLE dynflow_output (
    task_id text NOT NULL,
    seq integer NOT NULL,
    output_type text NOT NULL,
    output bytea NOT NULL,
    ts double precision NOT NULL,
    PRIMARY KEY (task_id, seq)
  );

  CREATE TABLE dynflow_callbacks (
    task_id text PRIMARY KEY,
    attempts integer NOT NULL,
    next_attempt_at bigint,
    delivered_at bigint,
    last_error text
  );
  CREATE INDEX dynflow_callbacks_due ON dynflow_callbacks (next_attempt_at) WHERE next_attempt_at IS NOT NULL;

  CREATE TABLE dynflow_pull_jobs (
    uuid text PRIMARY KEY,
    ord bigserial NOT NULL,
    task_id text NOT NULL,
    hostname text NOT NULL,
    effective_user text,
    script bytea NOT NULL,
    state text NOT NULL,
    created_at bigint NOT NULL,
    message_id text NOT NULL,
    notified_at bigint
  );
  CREATE INDEX dynflow_pull_jobs_task ON dynflow_pull_jobs (task_id);
  CREATE INDEX dynflow_pull_jobs_host ON dynflow_pull_jobs (hostname, created_at, ord);
  CREATE INDEX dynflow_pull_jobs_state ON dynflow_pull_jobs (state, created_at, ord);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Any fixed 64-bit number: serializes migrations of replicas that start at the same moment. */
const MIGRATION_LOCK = 4_170_233_911;

// ---- row mapping ---------------------------------------------------------------------------------


// pg hands jsonb back parsed, and the script column is bytea.
const PG_COLUMNS: ColumnDecoders = {
  json: (v) => v ?? null,
  text: (v) => (v as Buffer).toString('utf8'),
};
const taskFromRow = (r: Row): TaskRecord => taskRecordFromRow(r, PG_COLUMNS);
const pullJobFromRow = (r: Row): PullJob => pullJobRecordFromRow(r, PG_COLUMNS);

const json = (v: unknown): string | null => (v === null || v === undefined ? null : JSON.stringify(v));

const TASK_COLUMNS =
  'id, kind, parent_id, operation, action_class, state, result, input, sealed_secrets, callback, created_at, started_at, ended_at, exit_status, exit_status_timestamp, output_extra, owner, dropped_output_bytes, abort_requested';

function taskValues(t: TaskRecord): unknown[] {
  return [
    t.id,
    t.kind,
    t.parentId,
    t.operation,
    t.actionClass,
    t.state,
    t.result,
    json(t.input),
    t.sealedSecrets,
    json(t.callback),
    t.createdAt,
    t.startedAt,
    t.endedAt,
    json(t.exitStatus),
    t.exitStatusTimestamp,
    json(t.outputExtra ?? {}),
    t.owner,
    t.droppedOutputBytes ?? 0,
    t.abortRequested,
  ];
}

const INSERT_TASK = `INSERT INTO dynflow_tasks (${TASK_COLUMNS}) VALUES (${Array.from({ length: 19 }, (_, i) => `$${i + 1}`).join(', ')})`;

type TaskPatch = Parameters<TaskStore['update']>[1];

/** Patchable TaskRecord fields → column and encoder. Anything else in a patch is an error. */
const PATCH_COLUMNS: Record<string, { column: string; encode: (v: unknown) => unknown }> = {
  state: { column: 'state', encode: (v) => v },
  result: { column: 'result', encode: (v) => v },
  sealedSecrets: { column: 'sealed_secrets', encode: (v) => v ?? null },
  startedAt: { column: 'started_at', encode: (v) => v ?? null },
  endedAt: { column: 'ended_at', encode: (v) => v ?? null },
  exitStatus: { column: 'exit_status', encode: json },
  exitStatusTimestamp: { column: 'exit_status_timestamp', encode: (v) => v ?? null },
  outputExtra: { column: 'output_extra', encode: (v) => json(v ?? {}) },
  owner: { column: 'owner', encode: (v) => v ?? null },
  droppedOutputBytes: { column: 'dropped_output_bytes', encode: (v) => v ?? 0 },
  abortRequested: { column: 'abort_requested', encode: (v) => v ?? null },
};

class TaskExistsError extends Error {
  constructor(id: string) {
    super(`task ${id} exists already`);
    this.name = 'TaskExistsError';
  }
}

function isUniqueViolation(err: unknown): err is { code: string; detail?: string } {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === '23505';
}

// ---- the store -----------------------------------------------------------------------------------

export class PostgresTaskStore implements TaskStore {
  readonly #pool: pg.Pool;
  #closed = false;

  constructor(url: string, opts: PostgresStoreOptions = {}) {
    const problem = checkDatabaseUrl(url);
    if (problem) throw new Error(`dynflow: ${problem}`);
    const statementTimeout = opts.statementTimeoutMs ?? 15_000;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: statementTimeout,
      // the client gives up a little after the server would have, so a dead server is noticed too
      query_timeout: statementTimeout + 5_000,
      idle_in_transaction_session_timeout: statementTimeout * 2,
      application_name: opts.applicationName ?? 'smart-proxy dynflow',
    });
    // An idle client whose connection broke emits 'error' on the pool; unhandled it would end the
    // process. The message is pg's (host/port at most), never the connection string.
    this.#pool.on('error', (err) => opts.log?.warn(`dynflow: PostgreSQL connection lost: ${err.message}`));
  }

  /** Runs `fn` in one transaction on one pooled client. */
  async #tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const value = await fn(client);
      await client.query('COMMIT');
      return value;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      // a client whose rollback failed is in an unknown state: drop it rather than reuse it
      client.release(broken);
    }
  }

  async #q(sql: string, values?: unknown[]): Promise<Row[]> {
    const res = await this.#pool.query(sql, values);
    return res.rows as Row[];
  }

  async open(): Promise<void> {
    await this.#tx(async (c) => {
      // Two replicas starting together: the second waits here, then finds the schema current.
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await c.query('CREATE TABLE IF NOT EXISTS dynflow_schema_version (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM dynflow_schema_version');
      const current = rows[0]?.v ?? 0;
      if (current > MIGRATIONS.length) {
        throw new Error(
          `dynflow: the database schema is version ${current}, newer than this proxy knows (${MIGRATIONS.length}); upgrade the proxy`,
        );
      }
      for (let v = current + 1; v <= MIGRATIONS.length; v++) {
        await c.query(MIGRATIONS[v - 1]);
        await c.query('INSERT INTO dynflow_schema_version (version) VALUES ($1)', [v]);
      }
    });
  }

  /** The schema version recorded in the database (0 before `open`). */
  async schemaVersion(): Promise<number> {
    const exists = await this.#q("SELECT to_regclass('dynflow_schema_version') IS NOT NULL AS e");
    if (!exists[0]?.e) return 0;
    const rows = await this.#q('SELECT max(version) AS v FROM dynflow_schema_version');
    return num(rows[0]?.v ?? 0);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async insertBatch(parent: TaskRecord, children: readonly TaskRecord[]): Promise<void> {
    await this.#tx(async (c) => {
      for (const t of [parent, ...children]) {
        try {
          await c.query(INSERT_TASK, taskValues(t));
        } catch (err) {
          if (isUniqueViolation(err)) throw new TaskExistsError(t.id);
          throw err;
        }
      }
    });
  }

  async insertTask(task: TaskRecord): Promise<void> {
    try {
      await this.#q(INSERT_TASK, taskValues(task));
    } catch (err) {
      if (isUniqueViolation(err)) throw new TaskExistsError(task.id);
      throw err;
    }
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const rows = await this.#q(`SELECT ${TASK_COLUMNS} FROM dynflow_tasks WHERE id = $1`, [id]);
    return rows[0] ? taskFromRow(rows[0]) : undefined;
  }

  async children(parentId: string): Promise<TaskRecord[]> {
    const rows = await this.#q(`SELECT ${TASK_COLUMNS} FROM dynflow_tasks WHERE parent_id = $1 ORDER BY ord`, [parentId]);
    return rows.map(taskFromRow);
  }

  async countUnfinishedChildren(parentId: string): Promise<number> {
    const rows = await this.#q("SELECT count(*) AS n FROM dynflow_tasks WHERE parent_id = $1 AND state <> 'stopped'", [parentId]);
    return num(rows[0]?.n ?? 0);
  }

  async abortRequestsFor(owner: string): Promise<Array<{ id: string; reason: AbortReason }>> {
    const rows = await this.#q(
      "SELECT id, abort_requested FROM dynflow_tasks WHERE owner = $1 AND abort_requested IS NOT NULL AND state = 'running'",
      [owner],
    );
    return rows.map((r) => ({ id: r.id as string, reason: r.abort_requested as AbortReason }));
  }

  async states(ids: readonly string[]): Promise<Map<string, { state: PlanState; result: PlanResult }>> {
    const out = new Map<string, { state: PlanState; result: PlanResult }>();
    if (ids.length === 0) return out;
    const rows = await this.#q('SELECT id, state, result FROM dynflow_tasks WHERE id = ANY($1::text[])', [ids]);
    for (const r of rows) out.set(r.id as string, { state: r.state as PlanState, result: r.result as PlanResult });
    return out;
  }

  async count(state?: PlanState): Promise<number> {
    const rows =
      state === undefined
        ? await this.#q('SELECT count(*) AS n FROM dynflow_tasks')
        : await this.#q('SELECT count(*) AS n FROM dynflow_tasks WHERE state = $1', [state]);
    return num(rows[0]?.n ?? 0);
  }

  async update(id: string, patch: TaskPatch, fromStates?: readonly PlanState[]): Promise<TaskRecord | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [id];
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) continue;
      const col = PATCH_COLUMNS[key];
      if (!col) throw new Error(`dynflow store: '${key}' cannot be updated`);
      values.push(col.encode(value));
      sets.push(`${col.column} = $${values.length}`);
    }
    let where = 'id = $1';
    if (fromStates !== undefined) {
      values.push(fromStates);
      where += ` AND state = ANY($${values.length}::text[])`;
    }
    // An empty patch still answers "is it in one of these states?" without writing.
    const sql =
      sets.length > 0
        ? `UPDATE dynflow_tasks SET ${sets.join(', ')} WHERE ${where} RETURNING ${TASK_COLUMNS}`
        : `SELECT ${TASK_COLUMNS} FROM dynflow_tasks WHERE ${where}`;
    const rows = await this.#q(sql, values);
    return rows[0] ? taskFromRow(rows[0]) : undefined;
  }

  async listByState(states: readonly PlanState[], limit = 100_000): Promise<TaskRecord[]> {
    if (states.length === 0) return [];
    const rows = await this.#q(`SELECT ${TASK_COLUMNS} FROM dynflow_tasks WHERE state = ANY($1::text[]) ORDER BY ord LIMIT $2`, [states, limit]);
    return rows.map(taskFromRow);
  }

  async appendOutput(taskId: string, entries: readonly Omit<OutputEntry, 'id'>[], capBytes: number): Promise<void> {
    if (entries.length === 0) return;
    await this.#tx(async (c) => {
      // The row lock orders concurrent appends to one task (sequence numbers and the cap).
      const { rows } = await c.query<{ output_bytes: string; output_seq: number; dropped_output_bytes: string }>(
        'SELECT output_bytes, output_seq, dropped_output_bytes FROM dynflow_tasks WHERE id = $1 FOR UPDATE',
        [taskId],
      );
      if (!rows[0]) throw new Error(`dynflow store: no task ${taskId} to append output to`);
      let stored = num(rows[0].output_bytes);
      let seq = rows[0].output_seq;
      let dropped = num(rows[0].dropped_output_bytes);
      const seqs: number[] = [];
      const types: string[] = [];
      const outputs: Buffer[] = [];
      const stamps: number[] = [];
      for (const e of entries) {
        // Same rule as the sqlite store: fill up to the cap (cutting the entry that crosses it on a
        // character boundary), count the rest as dropped.
        const size = Buffer.byteLength(e.output, 'utf8');
        let text = e.output;
        if (size > capBytes - stored) {
          text = capBytes - stored > 0 ? utf8Prefix(e.output, capBytes - stored) : '';
          dropped += size - Buffer.byteLength(text, 'utf8');
          if (text === '') continue;
        }
        const bytes = Buffer.from(text, 'utf8');
        stored += bytes.length;
        seqs.push(++seq);
        types.push(e.output_type);
        outputs.push(bytes);
        stamps.push(e.timestamp);
      }
      if (seqs.length > 0) {
        await c.query(
          `INSERT INTO dynflow_output (task_id, seq, output_type, output, ts)
           SELECT $1, s, t, o, ts FROM unnest($2::integer[], $3::text[], $4::bytea[], $5::float8[]) AS u(s, t, o, ts)`,
          [taskId, seqs, types, outputs, stamps],
        );
      }
      await c.query('UPDATE dynflow_tasks SET output_bytes = $2, output_seq = $3, dropped_output_bytes = $4 WHERE id = $1', [
        taskId,
        stored,
        seq,
        dropped,
      ]);
    });
  }

  async readOutput(taskId: string, afterSeq = 0): Promise<{ entries: OutputEntry[]; lastSeq: number }> {
    const rows = await this.#q('SELECT seq, output_type, output, ts FROM dynflow_output WHERE task_id = $1 AND seq > $2 ORDER BY seq', [
      taskId,
      afterSeq,
    ]);
    const entries: OutputEntry[] = rows.map((r) => ({
      output_type: r.output_type as OutputEntry['output_type'],
      output: (r.output as Buffer).toString('utf8'),
      timestamp: num(r.ts),
      id: `${taskId}-${num(r.seq)}`,
    }));
    const last = rows.at(-1);
    return { entries, lastSeq: last ? num(last.seq) : afterSeq };
  }

  async putCallback(d: CallbackDelivery): Promise<void> {
    await this.#q(
      `INSERT INTO dynflow_callbacks (task_id, attempts, next_attempt_at, delivered_at, last_error) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (task_id) DO UPDATE SET attempts = EXCLUDED.attempts, next_attempt_at = EXCLUDED.next_attempt_at,
         delivered_at = EXCLUDED.delivered_at, last_error = EXCLUDED.last_error`,
      [d.taskId, d.attempts, d.nextAttemptAt, d.deliveredAt, d.lastError],
    );
  }

  async getCallback(taskId: string): Promise<CallbackDelivery | undefined> {
    const rows = await this.#q('SELECT * FROM dynflow_callbacks WHERE task_id = $1', [taskId]);
    return rows[0] ? callbackFromRow(rows[0]) : undefined;
  }

  async dueCallbacks(now: number, limit: number): Promise<CallbackDelivery[]> {
    const rows = await this.#q(
      'SELECT * FROM dynflow_callbacks WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, task_id LIMIT $2',
      [Number.isFinite(now) ? now : Number.MAX_SAFE_INTEGER, limit],
    );
    return rows.map(callbackFromRow);
  }

  async insertPullJob(job: PullJob): Promise<void> {
    try {
      await this.#q(
        `INSERT INTO dynflow_pull_jobs (uuid, task_id, hostname, effective_user, script, state, created_at, message_id, notified_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [job.uuid, job.taskId, job.hostname, job.effectiveUser, Buffer.from(job.script, 'utf8'), job.state, job.createdAt, job.messageId, job.notifiedAt],
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new Error(`pull job ${job.uuid} exists already`);
      throw err;
    }
  }

  async getPullJob(uuid: string): Promise<PullJob | undefined> {
    const rows = await this.#q('SELECT * FROM dynflow_pull_jobs WHERE uuid = $1', [uuid]);
    return rows[0] ? pullJobFromRow(rows[0]) : undefined;
  }

  async pullJobForTask(taskId: string): Promise<PullJob | undefined> {
    const rows = await this.#q('SELECT * FROM dynflow_pull_jobs WHERE task_id = $1 ORDER BY ord LIMIT 1', [taskId]);
    return rows[0] ? pullJobFromRow(rows[0]) : undefined;
  }

  async pullJobsOf(hostname: string): Promise<string[]> {
    const rows = await this.#q('SELECT uuid FROM dynflow_pull_jobs WHERE hostname = $1 ORDER BY created_at, ord', [hostname]);
    return rows.map((r) => r.uuid as string);
  }

  async updatePullJob(uuid: string, patch: Partial<Pick<PullJob, 'state' | 'notifiedAt'>>): Promise<PullJob | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [uuid];
    if (patch.state !== undefined) {
      values.push(patch.state);
      sets.push(`state = $${values.length}`);
    }
    if (patch.notifiedAt !== undefined) {
      values.push(patch.notifiedAt);
      sets.push(`notified_at = $${values.length}`);
    }
    const sql = sets.length > 0 ? `UPDATE dynflow_pull_jobs SET ${sets.join(', ')} WHERE uuid = $1 RETURNING *` : 'SELECT * FROM dynflow_pull_jobs WHERE uuid = $1';
    const rows = await this.#q(sql, values);
    return rows[0] ? pullJobFromRow(rows[0]) : undefined;
  }

  async deletePullJob(uuid: string): Promise<void> {
    await this.#q('DELETE FROM dynflow_pull_jobs WHERE uuid = $1', [uuid]);
  }

  async pullJobsByState(states: readonly PullJob['state'][], limit = 100_000): Promise<PullJob[]> {
    if (states.length === 0) return [];
    const rows = await this.#q('SELECT * FROM dynflow_pull_jobs WHERE state = ANY($1::text[]) ORDER BY created_at, ord LIMIT $2', [states, limit]);
    return rows.map(pullJobFromRow);
  }

  async deleteStoppedBefore(endedBefore: number): Promise<number> {
    return this.#tx(async (c) => {
      // Host tasks first, then batch parents, so a parent goes once none of its children is left
      // (the second statement sees what the first deleted). A plan whose callback to Foreman is
      // still being retried is kept.
      let deleted = 0;
      for (const kind of ['task', 'batch'] as const) {
        const { rows } = await c.query<{ n: string }>(
          `WITH gone AS (
             DELETE FROM dynflow_tasks t
              WHERE t.state = 'stopped' AND t.ended_at < $1 AND t.kind = $2
                AND NOT EXISTS (SELECT 1 FROM dynflow_callbacks cb
                                 WHERE cb.task_id = t.id AND cb.delivered_at IS NULL AND cb.next_attempt_at IS NOT NULL)
                AND NOT EXISTS (SELECT 1 FROM dynflow_tasks k WHERE k.parent_id = t.id)
             RETURNING t.id
           ), o AS (
             DELETE FROM dynflow_output WHERE task_id IN (SELECT id FROM gone)
           ), cbs AS (
             DELETE FROM dynflow_callbacks WHERE task_id IN (SELECT id FROM gone)
           ), p AS (
             DELETE FROM dynflow_pull_jobs WHERE task_id IN (SELECT id FROM gone)
           )
           SELECT count(*) AS n FROM gone`,
          [endedBefore, kind],
        );
        deleted += num(rows[0]?.n ?? 0);
      }
      return deleted;
    });
  }
}

/** Loaded by the engine (dynamic import) when the dynflow `database_url` setting is set. */
export async function createPostgresStore(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresTaskStore> {
  return new PostgresTaskStore(url, opts);
}
