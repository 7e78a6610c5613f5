// The shapes shared by the dynflow engine, its stores (node:sqlite by default, PostgreSQL for
// replicas), its work queues (in-process, or pg-boss on PostgreSQL) and the operations other modules
// register on it (script registers `ssh`; later plugins add theirs). Spec: remote-execution.md §2.3,
// §6. Everything here is plain data so that both stores can persist it as JSON.

/** Plan state as Foreman reads it (spec §2.3.3). */
export type PlanState = 'pending' | 'scheduled' | 'planning' | 'planned' | 'running' | 'paused' | 'stopped';
export type PlanResult = 'pending' | 'success' | 'warning' | 'error' | 'cancelled';

export const PLAN_STATES: readonly PlanState[] = ['pending', 'scheduled', 'planning', 'planned', 'running', 'paused', 'stopped'];

/** One output entry of a runner (spec §6.2). `id` is stable: Foreman de-duplicates on it. */
export interface OutputEntry {
  readonly output_type: 'stdout' | 'stderr' | 'debug';
  readonly output: string;
  /** Epoch seconds (float). */
  readonly timestamp: number;
  readonly id?: string;
}

/** Foreman's callback reference (spec §2.4 `callback`). */
export interface CallbackRef {
  readonly task_id: string;
  readonly step_id: number;
}

export type ExitStatus = number | 'EXCEPTION';

/**
 * One plan: a batch parent (`kind: 'batch'`) or a host task (`kind: 'task'`). `input` never holds
 * secrets: they are sealed apart (`sealedSecrets`) and never returned by any endpoint.
 */
export interface TaskRecord {
  readonly id: string;
  readonly kind: 'batch' | 'task';
  readonly parentId: string | null;
  /** Operation name (`ssh`, `single`, …). */
  readonly operation: string;
  /** Action class (the plan label), e.g. `Proxy::RemoteExecution::Ssh::Actions::RunScript`. */
  readonly actionClass: string;
  state: PlanState;
  result: PlanResult;
  /** action_input as received plus callback_host, task_id …, without `secrets`. */
  readonly input: Record<string, unknown>;
  /** Secrets sealed with the engine's SecretBox (AES-256-GCM), or null when there were none. */
  sealedSecrets: string | null;
  readonly callback: CallbackRef | null;
  /** Epoch milliseconds. */
  readonly createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitStatus: ExitStatus | null;
  /** Epoch seconds (float), as Foreman reads it. */
  exitStatusTimestamp: number | null;
  /** Extra keys of the runner action's `output` (runner_id for ssh; state for pull …). */
  outputExtra: Record<string, unknown>;
  /** Replica (engine instance id) that is running the task's runner, or null. */
  owner: string | null;
  /** Output bytes dropped because of the cap (reported in the output). */
  droppedOutputBytes: number;
  /**
   * Set by a cancel or timeout that reached a replica other than the runner's owner: the owner
   * notices it (it re-reads its running tasks every few seconds) and aborts the runner.
   */
  abortRequested: AbortReason | null;
}

/** What a new plan is given; everything else starts empty (planned, pending, no output). */
export type NewTask = Pick<TaskRecord, 'id' | 'kind' | 'parentId' | 'operation' | 'actionClass' | 'input' | 'sealedSecrets' | 'callback'> & Partial<TaskRecord>;

/** A plan as stored before anything ran: the one place the starting values are written. */
export function newTaskRecord(task: NewTask): TaskRecord {
  return {
    state: 'planned',
    result: 'pending',
    createdAt: Date.now(),
    startedAt: null,
    endedAt: null,
    exitStatus: null,
    exitStatusTimestamp: null,
    outputExtra: {},
    owner: null,
    droppedOutputBytes: 0,
    abortRequested: null,
    ...task,
  };
}

/** The state of a task's callback to Foreman (spec §2.5, fixed: retried with backoff). */
export interface CallbackDelivery {
  readonly taskId: string;
  attempts: number;
  /** Epoch ms of the next attempt; null once delivered or given up. */
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastError: string | null;
}

/** A pull-mode job (spec §5.3): what a host fetches with its certificate. */
export interface PullJob {
  readonly uuid: string;
  readonly taskId: string;
  /** Host identity: consumer_uuid, else fqdn, else hostname (spec §5.2). */
  readonly hostname: string;
  readonly effectiveUser: string | null;
  readonly script: string;
  /** ready_for_pickup | notified | delivered | running (spec §5.7). */
  state: 'ready_for_pickup' | 'notified' | 'delivered' | 'running';
  /** Epoch ms. */
  readonly createdAt: number;
  /** The MQTT start message id, reused on every resend (spec §5.4). */
  readonly messageId: string;
  notifiedAt: number | null;
}

/**
 * Persistence of plans, output, callbacks and pull jobs. Every method is one transaction. Two
 * implementations: `store/sqlite.ts` (node:sqlite, WAL, the default) and `store/postgres.ts`
 * (PostgreSQL, shared by replicas). Both are tested by the same contract test.
 */
export interface TaskStore {
  /** Creates the tables (migrations) if needed. */
  open(): Promise<void>;
  close(): Promise<void>;

  /** The batch parent and all its children, atomically. A child id that exists already is an error. */
  insertBatch(parent: TaskRecord, children: readonly TaskRecord[]): Promise<void>;
  insertTask(task: TaskRecord): Promise<void>;
  get(id: string): Promise<TaskRecord | undefined>;
  /** Children of a batch parent, in input order. */
  children(parentId: string): Promise<TaskRecord[]>;
  /** How many children of a batch parent are not `stopped` (the parent stops when none is left). */
  countUnfinishedChildren(parentId: string): Promise<number>;
  /**
   * Running tasks owned by `owner` whose `abortRequested` is set (the owner polls this every few
   * seconds to notice a cancel or timeout that reached another replica). Cheap: no inputs.
   */
  abortRequestsFor(owner: string): Promise<Array<{ id: string; reason: AbortReason }>>;
  /** id → {state, result} for the ids that exist. */
  states(ids: readonly string[]): Promise<Map<string, { state: PlanState; result: PlanResult }>>;
  count(state?: PlanState): Promise<number>;
  /**
   * Apply `patch` to the task when its current state is one of `fromStates` (or any state when
   * omitted). Returns the updated record, or undefined when it did not apply (compare-and-set:
   * two replicas never both finish a task).
   */
  update(id: string, patch: Partial<Omit<TaskRecord, 'id' | 'kind' | 'parentId' | 'operation' | 'actionClass' | 'input' | 'callback' | 'createdAt'>>, fromStates?: readonly PlanState[]): Promise<TaskRecord | undefined>;
  /** Tasks in one of `states` (recovery at start, orphan sweeps). */
  listByState(states: readonly PlanState[], limit?: number): Promise<TaskRecord[]>;

  /**
   * Append output entries; entries get ids `<task id>-<seq>` in arrival order. Stops storing once the
   * task's stored output reaches `capBytes`, counting what it dropped (droppedOutputBytes).
   */
  appendOutput(taskId: string, entries: readonly Omit<OutputEntry, 'id'>[], capBytes: number): Promise<void>;
  /** Output entries with seq > afterSeq (all when omitted), in order, with their ids. */
  readOutput(taskId: string, afterSeq?: number): Promise<{ entries: OutputEntry[]; lastSeq: number }>;

  /** Callback bookkeeping (one row per task). */
  putCallback(delivery: CallbackDelivery): Promise<void>;
  getCallback(taskId: string): Promise<CallbackDelivery | undefined>;
  /** Callbacks due at `now` (nextAttemptAt ≤ now), oldest first. */
  dueCallbacks(now: number, limit: number): Promise<CallbackDelivery[]>;

  /** Pull jobs. */
  insertPullJob(job: PullJob): Promise<void>;
  getPullJob(uuid: string): Promise<PullJob | undefined>;
  pullJobForTask(taskId: string): Promise<PullJob | undefined>;
  /** Uuids of `hostname`'s jobs, oldest first (GET /ssh/jobs). */
  pullJobsOf(hostname: string): Promise<string[]>;
  updatePullJob(uuid: string, patch: Partial<Pick<PullJob, 'state' | 'notifiedAt'>>): Promise<PullJob | undefined>;
  deletePullJob(uuid: string): Promise<void>;
  /** Pull jobs in one of `states`, oldest first (the dispatcher resumes them after a restart). */
  pullJobsByState(states: readonly PullJob['state'][], limit?: number): Promise<PullJob[]>;

  /**
   * Delete stopped plans (and their output, callbacks, pull jobs) that ended before `endedBefore`
   * (epoch ms). Paused plans are kept, and so is a plan whose callback is still being retried
   * (a callback row with deliveredAt null and nextAttemptAt not null), and a batch parent while
   * any of its children is kept. Returns the number of plans deleted.
   */
  deleteStoppedBefore(endedBefore: number): Promise<number>;
}

/**
 * Durable work queue: host tasks to run, timers (execution timeout, time to pickup, MQTT resends),
 * callbacks to retry. `queue/local.ts` keeps jobs in the same node:sqlite database and runs them in
 * this process; `queue/pgboss.ts` uses pg-boss on PostgreSQL so replicas share one queue, with job
 * heartbeats so a replica that dies gives its jobs back.
 *
 * Loading (engine, api.ts): with `database_url` the module imports `store/postgres.ts` and calls
 * its `createPostgresStore(url, { log })`, and imports `queue/pgboss.ts` and calls its
 * `createPgBossQueue(url, { log })` (both may return a promise); then `store.open()`, and the
 * engine calls `queue.start()`.
 */
export interface WorkQueue {
  start(): Promise<void>;
  /** Stop taking jobs; wait for running handlers up to the deadline; release connections. */
  stop(deadlineMs: number): Promise<void>;
  /**
   * Enqueue. `singletonKey`: at most one queued job per key (a timer re-armed twice is armed once).
   * `startAfter`: epoch ms. `retryLimit`/`retryDelaySeconds`/`retryBackoff` as pg-boss.
   * `heartbeat`: the job holds a lease while its handler runs; when the replica dies the job is
   * retried elsewhere.
   */
  send(queue: string, data: Record<string, unknown>, opts?: SendOptions): Promise<string>;
  /** Cancel a queued (not running) job by its singletonKey (a timer that is no longer needed). */
  cancelByKey(queue: string, singletonKey: string): Promise<void>;
  /**
   * Run `handler` for each job of `queue`, at most `concurrency` at once in this replica. A handler
   * that throws fails the job (retried per its options). `attempt` counts from 1.
   */
  work(queue: string, concurrency: number, handler: (job: { id: string; data: Record<string, unknown>; attempt: number }) => Promise<void>): Promise<void>;
}

export interface SendOptions {
  singletonKey?: string;
  startAfter?: number;
  retryLimit?: number;
  retryDelaySeconds?: number;
  retryBackoff?: boolean;
  /** Give up (job expires) after this many seconds from creation. */
  expireInSeconds?: number;
  heartbeat?: boolean;
}

/** What an operation's runner may do with its task (given by the engine). */
export interface TaskHandle {
  readonly task: TaskRecord;
  /** The task's secrets (unsealed), only in the process that runs it. */
  secrets(): Record<string, unknown>;
  /** Append output (capped, stored, visible to status calls at once). */
  output(entries: readonly Omit<OutputEntry, 'id'>[]): Promise<void>;
  /** Merge keys into the runner action's output (runner_id, state …). */
  setOutputExtra(extra: Record<string, unknown>): Promise<void>;
  /**
   * Finish the task: exit status (0 = success, else Foreman reports a failure), plan result
   * `success` or `error`, then the callback to Foreman is queued. Idempotent: a second finish
   * (a late exit after a timeout) is ignored. Returns false when the task was already finished.
   */
  finish(exitStatus: ExitStatus, result?: PlanResult): Promise<boolean>;
  /** Aborted when the task is cancelled or times out (the runner then kills the remote process), or at shutdown. */
  readonly signal: AbortSignal;
}

/** Why a running task's signal was aborted. */
export type AbortReason = 'cancelled' | 'timeout' | 'shutdown';

/**
 * A launch operation (spec §2.3.1 `operation`) registered on the engine by a module: script
 * registers `ssh` (and the RunScript action for `single`).
 */
export interface Operation {
  readonly name: string;
  /** Action classes this operation may run (the whitelist: spec §8.5). */
  readonly actionClasses: readonly string[];
  /** Per-host input problems found before anything is stored: `{field, message}` or undefined. */
  validate(actionInput: Record<string, unknown>): { field: string; message: string } | undefined;
  /** Split secrets out of the input (kept sealed, never persisted in clear or returned). */
  readonly secretKeys: readonly string[];
  /**
   * Start the task. Push runs hold the worker until the host finished (bounded by the SSH
   * bulkhead); pull runs store the job, queue the notification and return at once: the task is
   * finished later by the host's exit update (`handle.finish`), from whichever replica receives it.
   */
  run(handle: TaskHandle): Promise<void>;
  /** An external event for the task (POST /dynflow/tasks/:id/update|done, already authenticated). */
  event?(handle: TaskHandle, body: Record<string, unknown>): Promise<void>;
  /**
   * The task was running in a process that stopped (restart, dead replica). Push: finish it with a
   * clear failure; pull: resume waiting for the host.
   */
  recover(handle: TaskHandle): Promise<void>;
  /**
   * Cancel/timeout of a task whose runner is not in this process (another replica, or a pull
   * job waiting for its host). Returns true when something was cancelled.
   */
  cancel?(handle: TaskHandle, reason: AbortReason): Promise<boolean>;
  /** Launched-but-not-yet-run tasks are not counted as running by Foreman's count (spec §2.3.7). */
}

/** The engine other modules see (`ctx.dependency<DynflowEngine>('dynflow')`). */
export interface DynflowEngine {
  registerOperation(op: Operation): void;
  operations(): string[];
  /** The store (pull endpoints read jobs, updates append output). */
  readonly store: TaskStore;
  /** A handle on a task for code outside its runner (pull updates from hosts). */
  handle(taskId: string): Promise<TaskHandle | undefined>;
  /** The work queue, for an operation's own timers and jobs (e.g. MQTT resends). */
  readonly queue: WorkQueue;
  /** This replica's id (owner of the tasks it runs). */
  readonly replicaId: string;
}
