// The default TaskStore: one node:sqlite database file in WAL mode (spec remote-execution.md §8.1:
// tasks survive a restart). node:sqlite is synchronous, so every method is a handful of small
// prepared statements in one transaction; nothing here scans a table on a request path except the
// cleaner's indexed delete. The same database file also holds the local work queue
// (queue/local.ts), which uses `database` below.

import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { callbackFromRow, pullJobFromRow, taskFromRow, type ColumnDecoders } from './rows.ts';
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

type Row = Record<string, SQLInputValue>;
type TaskPatch = Parameters<TaskStore['update']>[1];

/** Schema migrations, applied in order; `PRAGMA user_version` records how many ran. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE tasks (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     parent_id TEXT,
     child_index INTEGER NOT NULL DEFAULT 0,
     operation TEXT NOT NULL,
     action_class TEXT NOT NULL,
     state TEXT NOT NULL,
     result TEXT NOT NULL,
     input TEXT NOT NULL,
     sealed_secrets TEXT,
     callback TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     ended_at INTEGER,
     exit_status TEXT,
     exit_status_timestamp REAL,
     output_extra TEXT NOT NULL DEFAULT '{}',
     owner TEXT,
     dropped_output_bytes INTEGER NOT NULL DEFAULT 0,
     abort_requested TEXT,
     output_bytes INTEGER NOT NULL DEFAULT 0,
     output_seq INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX tasks_parent ON tasks (parent_id, child_index) WHERE parent_id IS NOT NULL;
   CREATE INDEX tasks_state ON tasks (state, ended_at);
   CREATE INDEX tasks_abort ON tasks (owner) WHERE abort_requested IS NOT NULL;
   CREATE TABLE task_output (
     task_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     output_type TEXT NOT NULL,
     output TEXT NOT NULL,
     timestamp REAL NOT NULL,
     PRIMARY KEY (task_id, seq)
   ) WITHOUT ROWID;
   CREATE TABLE callbacks (
     task_id TEXT PRIMARY KEY,
     attempts INTEGER NOT NULL,
     next_attempt_at INTEGER,
     delivered_at INTEGER,
     last_error TEXT
   );
   CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
   CREATE TABLE pull_jobs (
     uuid TEXT PRIMARY KEY,
     task_id TEXT NOT NULL,
     hostname TEXT NOT NULL,
     effective_user TEXT,
     script TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     message_id TEXT NOT NULL,
     notified_at INTEGER
   );
   CREATE INDEX pull_jobs_task ON pull_jobs (task_id);
   CREATE INDEX pull_jobs_host ON pull_jobs (hostname, created_at);
   CREATE INDEX pull_jobs_state ON pull_jobs (state, created_at);`,
  // Counting a batch's unfinished children from the index alone (each child finishing asks).
  `CREATE INDEX tasks_parent_state ON tasks (parent_id, state) WHERE parent_id IS NOT NULL;`,
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

/** TaskRecord field → column, for the fields `update` may patch. */
const PATCHABLE: Record<string, { column: string; encode: (v: unknown) => SQLInputValue }> = {
  state: { column: 'state', encode: (v) => v as string },
  result: { column: 'result', encode: (v) => v as string },
  sealedSecrets: { column: 'sealed_secrets', encode: (v) => (v ?? null) as string | null },
  startedAt: { column: 'started_at', encode: (v) => (v ?? null) as number | null },
  endedAt: { column: 'ended_at', encode: (v) => (v ?? null) as number | null },
  exitStatus: { column: 'exit_status', encode: (v) => (v === null || v === undefined ? null : JSON.stringify(v)) },
  exitStatusTimestamp: { column: 'exit_status_timestamp', encode: (v) => (v ?? null) as number | null },
  outputExtra: { column: 'output_extra', encode: (v) => JSON.stringify(v ?? {}) },
  owner: { column: 'owner', encode: (v) => (v ?? null) as string | null },
  droppedOutputBytes: { column: 'dropped_output_bytes', encode: (v) => v as number },
  abortRequested: { column: 'abort_requested', encode: (v) => (v ?? null) as string | null },
};

// node:sqlite hands JSON columns back as text.
const SQLITE_COLUMNS: ColumnDecoders = {
  json: (v) => (v === null || v === undefined ? null : JSON.parse(v as string)),
  text: (v) => v as string,
};
const toTask = (r: Row): TaskRecord => taskFromRow(r, SQLITE_COLUMNS);
const toPullJob = (r: Row): PullJob => pullJobFromRow(r, SQLITE_COLUMNS);
const toCallback = (r: Row): CallbackDelivery => callbackFromRow(r);

/** The longest prefix of `text` that fits in `bytes` UTF-8 bytes, never splitting a character. */
export function utf8Prefix(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let end = bytes;
  // Step back over continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

export interface SqliteStoreOptions {
  /** File path, or `:memory:` for a volatile database. */
  path: string;
}

export class SqliteTaskStore implements TaskStore {
  private readonly path: string;
  private db: DatabaseSync | undefined;
  private readonly statements = new Map<string, StatementSync>();

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
  }

  /** The open database (the local work queue keeps its jobs in it). */
  get database(): DatabaseSync {
    if (!this.db) throw new Error('the task database is not open');
    return this.db;
  }

  async open(): Promise<void> {
    if (this.db) return;
    if (this.path !== ':memory:') await mkdir(dirname(this.path), { recursive: true, mode: 0o750 });
    const db = new DatabaseSync(this.path);
    try {
      db.exec('PRAGMA journal_mode = WAL');
      // WAL + NORMAL: a commit survives a process crash; only an OS crash can lose the last ones.
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA foreign_keys = OFF');
      db.exec('PRAGMA busy_timeout = 5000');
      const version = Number((db.prepare('PRAGMA user_version').get() as Row).user_version);
      if (version > MIGRATIONS.length) {
        throw new Error(`the task database ${this.path} has schema version ${version}, newer than this proxy knows (${MIGRATIONS.length})`);
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        db.exec('BEGIN IMMEDIATE');
        try {
          db.exec(MIGRATIONS[v] as string);
          db.exec(`PRAGMA user_version = ${v + 1}`);
          db.exec('COMMIT');
        } catch (err) {
          db.exec('ROLLBACK');
          throw err;
        }
      }
    } catch (err) {
      db.close();
      throw new Error(`cannot open the task database ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    this.db = db;
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.db?.close();
    this.db = undefined;
  }

  private stmt(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.database.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Run `fn` in one IMMEDIATE transaction (all of it, or nothing). */
  transaction<T>(fn: () => T): T {
    const db = this.database;
    db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn();
      db.exec('COMMIT');
      return out;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  private insertRow(t: TaskRecord, childIndex: number): void {
    this.stmt(
      `INSERT INTO tasks (id, kind, parent_id, child_index, operation, action_class, state, result, input, sealed_secrets, callback,
         created_at, started_at, ended_at, exit_status, exit_status_timestamp, output_extra, owner, dropped_output_bytes, abort_requested)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      t.id,
      t.kind,
      t.parentId,
      childIndex,
      t.operation,
      t.actionClass,
      t.state,
      t.result,
      JSON.stringify(t.input),
      t.sealedSecrets,
      t.callback === null ? null : JSON.stringify(t.callback),
      t.createdAt,
      t.startedAt,
      t.endedAt,
      t.exitStatus === null ? null : JSON.stringify(t.exitStatus),
      t.exitStatusTimestamp,
      JSON.stringify(t.outputExtra),
      t.owner,
      t.droppedOutputBytes,
      t.abortRequested,
    );
  }

  async insertBatch(parent: TaskRecord, children: readonly TaskRecord[]): Promise<void> {
    this.transaction(() => {
      this.insertRow(parent, 0);
      children.forEach((c, i) => this.insertRow(c, i));
    });
  }

  async insertTask(task: TaskRecord): Promise<void> {
    this.insertRow(task, 0);
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const r = this.stmt('SELECT * FROM tasks WHERE id = ?').get(id) as Row | undefined;
    return r ? toTask(r) : undefined;
  }

  async children(parentId: string): Promise<TaskRecord[]> {
    return (this.stmt('SELECT * FROM tasks WHERE parent_id = ? ORDER BY child_index').all(parentId) as Row[]).map(toTask);
  }

  async countUnfinishedChildren(parentId: string): Promise<number> {
    const r = this.stmt("SELECT COUNT(*) AS n FROM tasks WHERE parent_id = ? AND state <> 'stopped'").get(parentId) as Row;
    return Number(r.n);
  }

  async abortRequestsFor(owner: string): Promise<Array<{ id: string; reason: AbortReason }>> {
    const rows = this.stmt("SELECT id, abort_requested FROM tasks WHERE owner = ? AND abort_requested IS NOT NULL AND state = 'running'").all(owner) as Row[];
    return rows.map((r) => ({ id: r.id as string, reason: r.abort_requested as AbortReason }));
  }

  async states(ids: readonly string[]): Promise<Map<string, { state: PlanState; result: PlanResult }>> {
    const out = new Map<string, { state: PlanState; result: PlanResult }>();
    const one = this.stmt('SELECT state, result FROM tasks WHERE id = ?');
    for (const id of ids) {
      const r = one.get(id) as Row | undefined;
      if (r) out.set(id, { state: r.state as PlanState, result: r.result as PlanResult });
    }
    return out;
  }

  async count(state?: PlanState): Promise<number> {
    const r = (state === undefined ? this.stmt('SELECT COUNT(*) AS n FROM tasks').get() : this.stmt('SELECT COUNT(*) AS n FROM tasks WHERE state = ?').get(state)) as Row;
    return Number(r.n);
  }

  async update(id: string, patch: TaskPatch, fromStates?: readonly PlanState[]): Promise<TaskRecord | undefined> {
    const sets: string[] = [];
    const values: SQLInputValue[] = [];
    for (const [key, value] of Object.entries(patch)) {
      const col = PATCHABLE[key];
      if (!col) throw new Error(`TaskStore.update: '${key}' cannot be changed`);
      sets.push(`${col.column} = ?`);
      values.push(col.encode(value));
    }
    if (sets.length === 0) return fromStates ? this.getIn(id, fromStates) : this.get(id);
    const guard = fromStates ? ` AND state IN (${fromStates.map(() => '?').join(', ')})` : '';
    const r = this.stmt(`UPDATE tasks SET ${sets.join(', ')} WHERE id = ?${guard} RETURNING *`).get(...values, id, ...(fromStates ?? [])) as Row | undefined;
    return r ? toTask(r) : undefined;
  }

  private async getIn(id: string, states: readonly PlanState[]): Promise<TaskRecord | undefined> {
    const t = await this.get(id);
    return t && states.includes(t.state) ? t : undefined;
  }

  async listByState(states: readonly PlanState[], limit = 100_000): Promise<TaskRecord[]> {
    if (states.length === 0) return [];
    const rows = this.stmt(`SELECT * FROM tasks WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY created_at, child_index LIMIT ?`).all(...states, limit) as Row[];
    return rows.map(toTask);
  }

  async appendOutput(taskId: string, entries: readonly Omit<OutputEntry, 'id'>[], capBytes: number): Promise<void> {
    if (entries.length === 0) return;
    this.transaction(() => {
      const r = this.stmt('SELECT output_bytes, output_seq, dropped_output_bytes FROM tasks WHERE id = ?').get(taskId) as Row | undefined;
      if (!r) throw new Error(`no task ${taskId}`);
      let bytes = Number(r.output_bytes);
      let seq = Number(r.output_seq);
      let dropped = Number(r.dropped_output_bytes);
      const insert = this.stmt('INSERT INTO task_output (task_id, seq, output_type, output, timestamp) VALUES (?, ?, ?, ?, ?)');
      for (const e of entries) {
        const size = Buffer.byteLength(e.output, 'utf8');
        const room = capBytes - bytes;
        let text = e.output;
        if (size > room) {
          text = room > 0 ? utf8Prefix(e.output, room) : '';
          dropped += size - Buffer.byteLength(text, 'utf8');
          if (text === '') continue;
        }
        seq++;
        bytes += Buffer.byteLength(text, 'utf8');
        insert.run(taskId, seq, e.output_type, text, e.timestamp);
      }
      this.stmt('UPDATE tasks SET output_bytes = ?, output_seq = ?, dropped_output_bytes = ? WHERE id = ?').run(bytes, seq, dropped, taskId);
    });
  }

  async readOutput(taskId: string, afterSeq = 0): Promise<{ entries: OutputEntry[]; lastSeq: number }> {
    const rows = this.stmt('SELECT seq, output_type, output, timestamp FROM task_output WHERE task_id = ? AND seq > ? ORDER BY seq').all(taskId, afterSeq) as Row[];
    const entries = rows.map((r) => ({
      output_type: r.output_type as OutputEntry['output_type'],
      output: r.output as string,
      timestamp: Number(r.timestamp),
      id: `${taskId}-${Number(r.seq)}`,
    }));
    const lastSeq = rows.length > 0 ? Number((rows[rows.length - 1] as Row).seq) : afterSeq;
    return { entries, lastSeq };
  }

  async putCallback(d: CallbackDelivery): Promise<void> {
    this.stmt(
      `INSERT INTO callbacks (task_id, attempts, next_attempt_at, delivered_at, last_error) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (task_id) DO UPDATE SET attempts = excluded.attempts, next_attempt_at = excluded.next_attempt_at,
         delivered_at = excluded.delivered_at, last_error = excluded.last_error`,
    ).run(d.taskId, d.attempts, d.nextAttemptAt, d.deliveredAt, d.lastError);
  }

  async getCallback(taskId: string): Promise<CallbackDelivery | undefined> {
    const r = this.stmt('SELECT * FROM callbacks WHERE task_id = ?').get(taskId) as Row | undefined;
    return r ? toCallback(r) : undefined;
  }

  async dueCallbacks(now: number, limit: number): Promise<CallbackDelivery[]> {
    const rows = this.stmt('SELECT * FROM callbacks WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?').all(
      Number.isFinite(now) ? now : Number.MAX_SAFE_INTEGER,
      limit,
    ) as Row[];
    return rows.map(toCallback);
  }

  async insertPullJob(job: PullJob): Promise<void> {
    this.stmt(
      'INSERT INTO pull_jobs (uuid, task_id, hostname, effective_user, script, state, created_at, message_id, notified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(job.uuid, job.taskId, job.hostname, job.effectiveUser, job.script, job.state, job.createdAt, job.messageId, job.notifiedAt);
  }

  async getPullJob(uuid: string): Promise<PullJob | undefined> {
    const r = this.stmt('SELECT * FROM pull_jobs WHERE uuid = ?').get(uuid) as Row | undefined;
    return r ? toPullJob(r) : undefined;
  }

  async pullJobForTask(taskId: string): Promise<PullJob | undefined> {
    const r = this.stmt('SELECT * FROM pull_jobs WHERE task_id = ? ORDER BY created_at LIMIT 1').get(taskId) as Row | undefined;
    return r ? toPullJob(r) : undefined;
  }

  async pullJobsOf(hostname: string): Promise<string[]> {
    return (this.stmt('SELECT uuid FROM pull_jobs WHERE hostname = ? ORDER BY created_at, rowid').all(hostname) as Row[]).map((r) => r.uuid as string);
  }

  async updatePullJob(uuid: string, patch: Partial<Pick<PullJob, 'state' | 'notifiedAt'>>): Promise<PullJob | undefined> {
    const sets: string[] = [];
    const values: SQLInputValue[] = [];
    if (patch.state !== undefined) {
      sets.push('state = ?');
      values.push(patch.state);
    }
    if (patch.notifiedAt !== undefined) {
      sets.push('notified_at = ?');
      values.push(patch.notifiedAt);
    }
    if (sets.length === 0) return this.getPullJob(uuid);
    const r = this.stmt(`UPDATE pull_jobs SET ${sets.join(', ')} WHERE uuid = ? RETURNING *`).get(...values, uuid) as Row | undefined;
    return r ? toPullJob(r) : undefined;
  }

  async deletePullJob(uuid: string): Promise<void> {
    this.stmt('DELETE FROM pull_jobs WHERE uuid = ?').run(uuid);
  }

  async pullJobsByState(states: readonly PullJob['state'][], limit = 100_000): Promise<PullJob[]> {
    if (states.length === 0) return [];
    const rows = this.stmt(`SELECT * FROM pull_jobs WHERE state IN (${states.map(() => '?').join(', ')}) ORDER BY created_at, rowid LIMIT ?`).all(...states, limit) as Row[];
    return rows.map(toPullJob);
  }

  async deleteStoppedBefore(endedBefore: number): Promise<number> {
    return this.transaction(() => {
      // Host tasks first (a parent is only deleted once none of its children is left), never one
      // whose callback to Foreman is still being retried.
      const doomed = `SELECT t.id FROM tasks t
        WHERE t.state = 'stopped' AND t.ended_at < ? AND t.kind = ?
          AND NOT EXISTS (SELECT 1 FROM callbacks c WHERE c.task_id = t.id AND c.delivered_at IS NULL AND c.next_attempt_at IS NOT NULL)
          AND NOT EXISTS (SELECT 1 FROM tasks k WHERE k.parent_id = t.id)`;
      let deleted = 0;
      for (const kind of ['task', 'batch'] as const) {
        const ids = (this.stmt(doomed).all(endedBefore, kind) as Row[]).map((r) => r.id as string);
        for (const id of ids) {
          this.stmt('DELETE FROM task_output WHERE task_id = ?').run(id);
          this.stmt('DELETE FROM callbacks WHERE task_id = ?').run(id);
          this.stmt('DELETE FROM pull_jobs WHERE task_id = ?').run(id);
          this.stmt('DELETE FROM tasks WHERE id = ?').run(id);
        }
        deleted += ids.length;
      }
      return deleted;
    });
  }
}
