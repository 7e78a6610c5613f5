// The dynflow engine: the task model Foreman's remote execution talks to (spec remote-execution.md
// §2.3, §6), built on a TaskStore and a WorkQueue instead of Dynflow's actor world. Other modules
// register Operations on it (script registers `ssh`); the engine launches batches, runs each host
// task through the durable queue (`dynflow.run`), arms its execution timeout as a durable timer
// (`dynflow.timeout`), cancels, recovers tasks interrupted by a restart or a dead replica, sends the
// completion callback to Foreman with retries (`dynflow.callback`) and deletes old plans.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../../core/logging-types.ts';
import { errorText } from '../../core/errors.ts';
import type { SecretBox } from './secret-box.ts';
import type {
  AbortReason,
  CallbackRef,
  DynflowEngine,
  ExitStatus,
  Operation,
  OutputEntry,
  PlanResult,
  PlanState,
  TaskHandle,
  TaskRecord,
  TaskStore,
  WorkQueue,
} from './types.ts';
import { newTaskRecord } from './types.ts';

export const RUN_QUEUE = 'dynflow.run';
export const TIMEOUT_QUEUE = 'dynflow.timeout';
export const CALLBACK_QUEUE = 'dynflow.callback';

/** The base operation (spec §2.3.1): one plan of any registered action class. */
export const SINGLE_OPERATION = 'single';
export const BATCH_ACTION_CLASS = 'Proxy::Dynflow::Action::Batch';
export const CALLBACK_ACTION_CLASS = 'Proxy::Dynflow::Callback::Action';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Tasks not yet finished: what a cancel, timeout or finish may act on. */
const LIVE_STATES: readonly PlanState[] = ['pending', 'scheduled', 'planning', 'planned', 'running', 'paused'];
/** Tasks no worker has claimed. */
const NOT_STARTED_STATES: readonly PlanState[] = ['pending', 'scheduled', 'planning', 'planned', 'paused'];

/** The callback body of spec §2.5. */
export interface CallbackBody {
  callback: CallbackRef;
  data: Record<string, unknown>;
}

/** Sends one callback to Foreman; resolves with the HTTP status, rejects on a connection failure. */
export type CallbackSender = (body: CallbackBody, signal: AbortSignal) => Promise<number>;

export interface EngineOptions {
  store: TaskStore;
  queue: WorkQueue;
  secretBox: SecretBox;
  log: Logger;
  /** This replica's id; default `<hostname>-<random>` (new per process). */
  replicaId?: string;
  /** Output kept per task; the rest is counted and reported. */
  outputLimitBytes: number;
  /** Host tasks run at once by this replica. */
  maxRunningTasks: number;
  /** How long a callback is retried. */
  callbackRetryHours: number;
  /** Stopped plans older than this are deleted (also the cleaner's period). */
  cleanerAgeSeconds: number;
  /** Undefined when foreman_url is not set: callbacks are then recorded as undeliverable. */
  sendCallback?: CallbackSender;
  /**
   * The store is this process's own (sqlite): every `running` task found at start was interrupted
   * by the previous run. With a shared store (replicas) the queue's heartbeat finds them instead.
   */
  recoverAllAtStart: boolean;
  /** How often the owner re-reads abort requests of its running tasks. */
  abortPollMs?: number;
  /** How long a task whose operation is not registered yet waits for it after start. */
  operationGraceMs?: number;
  /** First callback retry delay; doubles per attempt up to `callbackMaxDelayMs`. */
  callbackFirstDelayMs?: number;
  callbackMaxDelayMs?: number;
}

/** A launch problem that names the field (answered 400). */
export class LaunchError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'LaunchError';
    this.field = field;
  }
}

export class UnknownOperationError extends Error {
  constructor(name: string) {
    super(`Unknown operation '${name}' requested.`);
    this.name = 'UnknownOperationError';
  }
}

export class TaskConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskConflictError';
  }
}

export interface LaunchContext {
  /** callback_host when the first input has no proxy_url: `http[s]://<host>` of the request. */
  callbackHost: string;
  requestId?: string;
}

/** One key of a batch launch, as Foreman sends it. */
export interface LaunchItem {
  action_class: string;
  action_input: Record<string, unknown>;
}

/** Per-host launch result (our extension key of the launch answer). */
export type HostLaunchResult = { result: 'success' } | { result: 'error'; field: string; message: string } | { result: 'existing' };

export interface BatchLaunchResult {
  parentId: string;
  hosts: Record<string, HostLaunchResult>;
}

interface ActiveTask {
  readonly controller: AbortController;
  readonly operation: Operation;
}

const NEVER_ABORTED = new AbortController().signal;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Hosts handled between two turns of the event loop in a large launch. */
const YIELD_EVERY = 100;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function nowSeconds(): number {
  return Date.now() / 1000;
}

/** The timeout in seconds from `execution_timeout_interval`, or undefined. */
export function executionTimeout(input: Record<string, unknown>): number | undefined {
  const raw = input.execution_timeout_interval;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

export class Engine implements DynflowEngine {
  readonly store: TaskStore;
  readonly queue: WorkQueue;
  readonly replicaId: string;
  readonly secretBox: SecretBox;
  private readonly options: EngineOptions;
  private readonly log: Logger;
  private readonly operationsByName = new Map<string, Operation>();
  private readonly waitingForOperation = new Map<string, Array<(op: Operation | undefined) => void>>();
  /** Host tasks whose runner (or recovery) is in this process. */
  private readonly active = new Map<string, ActiveTask>();
  private readonly recovering = new Set<string>();
  private abortPoll: NodeJS.Timeout | undefined;
  private cleaner: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping = false;
  private graceOver = false;
  private readonly background = new Set<Promise<unknown>>();
  private readonly shutdown = new AbortController();

  constructor(options: EngineOptions) {
    this.options = options;
    this.store = options.store;
    this.queue = options.queue;
    this.secretBox = options.secretBox;
    this.log = options.log;
    this.replicaId = options.replicaId ?? `${hostname()}-${randomUUID().slice(0, 8)}`;
  }

  // ---- operations ----------------------------------------------------------------------------

  registerOperation(op: Operation): void {
    if (op.name === SINGLE_OPERATION) throw new Error(`'${SINGLE_OPERATION}' is the engine's own operation`);
    if (this.operationsByName.has(op.name)) throw new Error(`operation '${op.name}' is already registered`);
    this.operationsByName.set(op.name, op);
    for (const resolve of this.waitingForOperation.get(op.name) ?? []) resolve(op);
    this.waitingForOperation.delete(op.name);
  }

  /** Registered operation names in registration order, `single` first (spec §2.3.8). */
  operations(): string[] {
    return [SINGLE_OPERATION, ...this.operationsByName.keys()];
  }

  /** The operation whose whitelist holds `actionClass` (spec §8.5: no other class may run). */
  operationForActionClass(actionClass: string): Operation | undefined {
    for (const op of this.operationsByName.values()) if (op.actionClasses.includes(actionClass)) return op;
    return undefined;
  }

  private knownActionClasses(): string[] {
    return [...this.operationsByName.values()].flatMap((op) => op.actionClasses);
  }

  /**
   * The operation named `name`; right after start it may not be registered yet (modules are
   * created in parallel), so a task waits for it until the grace period ends.
   */
  private async operationNamed(name: string): Promise<Operation | undefined> {
    const op = this.operationsByName.get(name);
    if (op || this.graceOver) return op;
    return new Promise((resolve) => {
      const list = this.waitingForOperation.get(name) ?? [];
      list.push(resolve);
      this.waitingForOperation.set(name, list);
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.graceTimer = setTimeout(() => {
      this.graceOver = true;
      for (const list of this.waitingForOperation.values()) for (const resolve of list) resolve(undefined);
      this.waitingForOperation.clear();
    }, this.options.operationGraceMs ?? 60_000);
    this.graceTimer.unref();
    await this.queue.start();
    await this.queue.work(RUN_QUEUE, this.options.maxRunningTasks, (job) => this.runJob(String(job.data.taskId)));
    await this.queue.work(TIMEOUT_QUEUE, 8, async (job) => {
      await this.abort(String(job.data.taskId), 'timeout');
    });
    await this.queue.work(CALLBACK_QUEUE, 16, (job) => this.callbackJob(String(job.data.taskId)));

    if (this.options.recoverAllAtStart) {
      for (const task of await this.store.listByState(['running'])) {
        if (task.kind === 'task') this.track(this.recover(task));
      }
    }
    // Launched tasks whose run job was lost (a crash between storing and queueing): queue again;
    // the singleton key keeps a job that does exist from being doubled.
    for (const task of await this.store.listByState(['planned'])) {
      if (task.kind === 'task') await this.queueRun(task.id);
    }
    for (const cb of await this.store.dueCallbacks(Number.POSITIVE_INFINITY, 100_000)) {
      await this.queue.send(CALLBACK_QUEUE, { taskId: cb.taskId }, { singletonKey: `callback:${cb.taskId}`, startAfter: cb.nextAttemptAt ?? Date.now() });
    }
    const period = Math.max(1, this.options.cleanerAgeSeconds) * 1000;
    this.cleaner = setInterval(() => this.track(this.clean()), Math.min(period, MAX_INTERVAL_MS));
    this.cleaner.unref();
  }

  /** Stop: runners are aborted (`shutdown`), the queue waits for them until the deadline. */
  async close(deadlineMs = Date.now() + 10_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.cleaner);
    clearTimeout(this.graceTimer);
    clearTimeout(this.abortPoll);
    this.shutdown.abort();
    for (const a of this.active.values()) a.controller.abort('shutdown' satisfies AbortReason);
    if (this.started) await this.queue.stop(deadlineMs);
    await Promise.race([Promise.allSettled([...this.background]), new Promise((r) => setTimeout(r, Math.max(0, deadlineMs - Date.now())).unref())]);
    await this.store.close();
  }

  private track<T>(p: Promise<T>): void {
    const guarded = p.catch((err: unknown) => this.log.error(errorText(err), err));
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  // ---- launch --------------------------------------------------------------------------------

  /** Split secrets out of an action input: the clean input and the secrets (or undefined). */
  private splitSecrets(op: Operation | undefined, actionInput: Record<string, unknown>): { input: Record<string, unknown>; secrets: Record<string, unknown> | undefined } {
    const input: Record<string, unknown> = { ...actionInput };
    const secrets: Record<string, unknown> = {};
    if (isObject(input.secrets)) Object.assign(secrets, input.secrets);
    // `secrets` never stays in the input, whatever its shape.
    delete input.secrets;
    for (const key of op?.secretKeys ?? []) {
      if (key in input) {
        secrets[key] = input[key];
        delete input[key];
      }
    }
    for (const [k, v] of Object.entries(secrets)) if (v === null || v === undefined || v === '') delete secrets[k];
    return { input, secrets: Object.keys(secrets).length > 0 ? secrets : undefined };
  }

  private callbackOf(actionInput: Record<string, unknown>): CallbackRef | null {
    const cb = actionInput.callback;
    if (!isObject(cb)) return null;
    const taskId = cb.task_id;
    const stepId = typeof cb.step_id === 'string' && /^\d+$/.test(cb.step_id) ? Number(cb.step_id) : cb.step_id;
    if (typeof taskId !== 'string' || typeof stepId !== 'number') return null;
    return { task_id: taskId, step_id: stepId };
  }

  /** Check the shape of one launch item; throws LaunchError naming `field`. */
  private checkItem(field: string, item: unknown, op?: Operation): { op: Operation; item: LaunchItem } {
    if (!isObject(item)) throw new LaunchError(field, 'must be an object with action_class and action_input');
    const cls = item.action_class;
    if (typeof cls !== 'string' || cls === '') throw new LaunchError(`${field}.action_class`, 'is required (a string)');
    // Operations may share an action class (Foreman's Salt provider sends the SSH RunScript class
    // with operation `salt`): a named operation decides; without one the first that lists it does.
    const owner = op ? (op.actionClasses.includes(cls) ? op : undefined) : this.operationForActionClass(cls);
    if (!owner) {
      const allowed = op ? op.actionClasses : this.knownActionClasses();
      throw new LaunchError(`${field}.action_class`, `'${cls}' is not an action this proxy runs${op ? ` for operation '${op.name}'` : ''} (allowed: ${allowed.join(', ') || 'none'})`);
    }
    const input = item.action_input;
    if (!isObject(input)) throw new LaunchError(`${field}.action_input`, 'is required (an object)');
    return { op: owner, item: { action_class: cls, action_input: input } };
  }

  private newTask(id: string, parentId: string | null, op: Operation, item: LaunchItem, callbackHost: string, requestId: string | undefined): { task: TaskRecord; problem: { field: string; message: string } | undefined } {
    const { input, secrets } = this.splitSecrets(op, item.action_input);
    const callback = this.callbackOf(item.action_input);
    const fullInput: Record<string, unknown> = {
      ...input,
      callback_host: typeof input.proxy_url === 'string' && input.proxy_url !== '' ? input.proxy_url : callbackHost,
      ...(callback ? { task_id: callback.task_id } : {}),
      ...(requestId ? { current_request_id: requestId } : {}),
    };
    let problem: { field: string; message: string } | undefined;
    try {
      problem = op.validate(item.action_input);
    } catch (err) {
      problem = { field: 'action_input', message: errorText(err) };
    }
    const task = newTaskRecord({
      id,
      kind: 'task',
      parentId,
      operation: op.name,
      actionClass: item.action_class,
      input: fullInput,
      sealedSecrets: secrets && !problem ? this.secretBox.seal(secrets, id) : null,
      callback,
    });
    if (problem) {
      // Invalid host: the task exists and is finished at once, so Foreman gets a final state.
      const now = Date.now();
      Object.assign(task, { state: 'stopped', result: 'error', startedAt: now, endedAt: now, exitStatus: 'EXCEPTION', exitStatusTimestamp: now / 1000 });
    }
    return { task, problem };
  }

  /** `single` (and the legacy POST /tasks): one plan with a random id. */
  async launchSingle(input: unknown, ctx: LaunchContext): Promise<string> {
    if (!isObject(input)) throw new LaunchError('input', 'is required (an object with action_class and action_input)');
    const { op, item } = this.checkItem('input', input);
    const id = randomUUID();
    const { task, problem } = this.newTask(id, null, op, item, ctx.callbackHost, ctx.requestId);
    await this.store.insertTask(task);
    await this.afterInsert(task, problem);
    return id;
  }

  /** A batch launch (`ssh` and every other registered operation). */
  async launchBatch(operationName: string, input: unknown, ctx: LaunchContext): Promise<BatchLaunchResult> {
    const op = this.operationsByName.get(operationName);
    if (!op) throw new UnknownOperationError(operationName);
    if (!isObject(input)) throw new LaunchError('input', 'is required (an object: task UUID → {action_class, action_input})');
    const keys = Object.keys(input);
    const items: Array<{ id: string; item: LaunchItem }> = [];
    for (const key of keys) {
      if (!UUID.test(key)) throw new LaunchError(`input.${key}`, 'the key must be a task UUID');
      items.push({ id: key, item: this.checkItem(`input.${key}`, input[key], op).item });
    }
    const ids = items.map((i) => i.id);
    if (new Set(ids).size !== ids.length) throw new LaunchError('input', 'a task UUID appears twice');
    // A launch Foreman retried after a lost answer: the tasks it already created stay as they are.
    const existing = await this.store.states(ids);
    const first = items[0]?.item.action_input;
    const callbackHost = first && typeof first.proxy_url === 'string' && first.proxy_url !== '' ? first.proxy_url : ctx.callbackHost;
    const parentId = randomUUID();
    const hosts: Record<string, HostLaunchResult> = {};
    const children: Array<{ task: TaskRecord; problem: { field: string; message: string } | undefined }> = [];
    for (const [i, { id, item }] of items.entries()) {
      if (i > 0 && i % YIELD_EVERY === 0) await yieldToEventLoop();
      if (existing.has(id)) {
        hosts[id] = { result: 'existing' };
        continue;
      }
      const made = this.newTask(id, parentId, op, item, callbackHost, ctx.requestId);
      children.push(made);
      hosts[id] = made.problem ? { result: 'error', field: `input.${id}.action_input.${made.problem.field}`, message: made.problem.message } : { result: 'success' };
    }
    const now = Date.now();
    const unfinished = children.some((c) => c.task.state !== 'stopped');
    const parent = newTaskRecord({
      id: parentId,
      kind: 'batch',
      parentId: null,
      operation: op.name,
      actionClass: BATCH_ACTION_CLASS,
      input: { operation: op.name, count: items.length, callback_host: callbackHost },
      sealedSecrets: null,
      callback: null,
      state: unfinished ? 'running' : 'stopped',
      result: unfinished ? 'pending' : 'success',
      createdAt: now,
      startedAt: now,
      endedAt: unfinished ? null : now,
    });
    try {
      await this.store.insertBatch(
        parent,
        children.map((c) => c.task),
      );
    } catch (err) {
      // Another launch with the same ids won the race between our check and our insert.
      const again = await this.store.states(children.map((c) => c.task.id));
      if (again.size > 0) throw new TaskConflictError(`task ids already in use: ${[...again.keys()].join(', ')}`);
      throw err;
    }
    // In slices, letting other requests in between: the SQLite store and queue are synchronous.
    for (let i = 0; i < children.length; i += YIELD_EVERY) {
      if (i > 0) await yieldToEventLoop();
      await Promise.all(children.slice(i, i + YIELD_EVERY).map((c) => this.afterInsert(c.task, c.problem)));
    }
    return { parentId, hosts };
  }

  /** After storing a task: queue its run, or finish an invalid one (output + callback). */
  private async afterInsert(task: TaskRecord, problem: { field: string; message: string } | undefined): Promise<void> {
    if (!problem) {
      await this.queueRun(task.id);
      return;
    }
    await this.store.appendOutput(task.id, [{ output_type: 'debug', output: `Invalid input for this host: ${problem.field}: ${problem.message}`, timestamp: nowSeconds() }], Number.MAX_SAFE_INTEGER);
    await this.afterFinish(task);
  }

  private async queueRun(taskId: string): Promise<void> {
    // The retry serves replicas: when the replica running the job dies, the job's heartbeat lapses
    // and another replica takes it over (and recovers the task).
    await this.queue.send(RUN_QUEUE, { taskId }, { singletonKey: `run:${taskId}`, heartbeat: true, retryLimit: 3, retryDelaySeconds: 5 });
  }

  // ---- running -------------------------------------------------------------------------------

  private async runJob(taskId: string): Promise<void> {
    const task = await this.store.get(taskId);
    if (!task || task.kind !== 'task' || task.state === 'stopped') return;
    if (this.active.has(taskId)) return;
    if (task.state === 'running') {
      // Running elsewhere: a previous process of this proxy, or a replica that died (its job came
      // back to us). A task this process owns is already in hand.
      if (task.owner !== this.replicaId) await this.recover(task);
      return;
    }
    const op = await this.operationNamed(task.operation);
    if (!op) {
      await this.failUnavailable(task);
      return;
    }
    const now = Date.now();
    const claimed = await this.store.update(taskId, { state: 'running', owner: this.replicaId, startedAt: now }, ['planned', 'pending', 'scheduled']);
    if (!claimed) return; // cancelled meanwhile, or another replica took it
    const timeout = executionTimeout(claimed.input);
    if (timeout !== undefined) {
      await this.queue.send(TIMEOUT_QUEUE, { taskId }, { singletonKey: `timeout:${taskId}`, startAfter: now + timeout * 1000 });
    }
    const handle = this.makeHandle(claimed, op, true);
    try {
      await op.run(handle);
    } catch (err) {
      await handle.output([{ output_type: 'debug', output: `Runner error: ${errorText(err)}`, timestamp: nowSeconds() }]);
      await handle.finish('EXCEPTION', 'error');
    } finally {
      // Push runs finish inside run(); pull runs return at once and are finished later by an
      // event (on any replica). Either way there is no runner here any more.
      this.active.delete(taskId);
    }
  }

  private async failUnavailable(task: TaskRecord): Promise<void> {
    await this.finishTask(task.id, 'EXCEPTION', 'error', { finalLine: `The operation '${task.operation}' is not available on this proxy (is its module enabled?)` });
  }

  /** A running task whose runner is gone (restart, dead replica): the operation decides. */
  private async recover(task: TaskRecord): Promise<void> {
    // Checked and marked synchronously: the start-up sweep and the task's requeued run job may
    // both ask for the same task.
    if (this.active.has(task.id) || this.recovering.has(task.id)) return;
    this.recovering.add(task.id);
    try {
      await this.recoverOnce(task);
    } finally {
      this.recovering.delete(task.id);
    }
  }

  private async recoverOnce(task: TaskRecord): Promise<void> {
    const claimed = await this.store.update(task.id, { owner: this.replicaId }, ['running']);
    if (!claimed) return;
    const op = await this.operationNamed(task.operation);
    if (!op) {
      await this.failUnavailable(claimed);
      return;
    }
    // The operation sees who ran the task before (its recovery message names that replica), not
    // this replica, which has just claimed it.
    const handle = this.makeHandle({ ...claimed, owner: task.owner }, op, true);
    this.log.info(`recovering task ${task.id} (${task.operation}) after it was interrupted on ${task.owner ?? 'an earlier run'}`);
    try {
      await op.recover(handle);
    } catch (err) {
      await handle.output([{ output_type: 'debug', output: `Recovery after a proxy restart failed: ${errorText(err)}`, timestamp: nowSeconds() }]);
      await handle.finish('EXCEPTION', 'error');
    } finally {
      this.active.delete(task.id);
    }
  }

  /** A handle; `local` registers this process as the task's runner (abortable here). */
  private makeHandle(task: TaskRecord, op: Operation, local: boolean): TaskHandle {
    let signal = NEVER_ABORTED;
    if (local) {
      const controller = new AbortController();
      this.active.set(task.id, { controller, operation: op });
      signal = controller.signal;
      this.armAbortPoll();
    } else {
      const mine = this.active.get(task.id);
      if (mine) signal = mine.controller.signal;
    }
    return {
      task,
      signal,
      secrets: () => (task.sealedSecrets === null ? {} : this.secretBox.open(task.sealedSecrets, task.id)),
      output: (entries) => this.store.appendOutput(task.id, entries, this.options.outputLimitBytes),
      setOutputExtra: async (extra) => {
        const current = (await this.store.get(task.id))?.outputExtra ?? {};
        await this.store.update(task.id, { outputExtra: { ...current, ...extra } });
      },
      finish: (exitStatus, result) => this.finishTask(task.id, exitStatus, result),
    };
  }

  /** A handle for code outside the runner (pull updates, events), or undefined for unknown ids. */
  async handle(taskId: string): Promise<TaskHandle | undefined> {
    const task = await this.store.get(taskId);
    if (!task || task.kind !== 'task') return undefined;
    const op = this.operationsByName.get(task.operation);
    if (!op) return undefined;
    return this.makeHandle(task, op, false);
  }

  /**
   * Finish a task (compare-and-set: the first finish wins, a late exit after a timeout is
   * ignored), then queue its callback and stop its parent when it was the last child.
   */
  async finishTask(taskId: string, exitStatus: ExitStatus, result?: PlanResult, how: { fromStates?: readonly PlanState[]; finalLine?: string } = {}): Promise<boolean> {
    const now = Date.now();
    const finalResult: PlanResult = result ?? (exitStatus === 0 ? 'success' : 'error');
    const done = await this.store.update(
      taskId,
      { state: 'stopped', result: finalResult, exitStatus, exitStatusTimestamp: now / 1000, endedAt: now, abortRequested: null },
      how.fromStates ?? LIVE_STATES,
    );
    if (!done) return false;
    this.active.delete(taskId);
    if (how.finalLine !== undefined) {
      // The engine's own notes are never cut by the output cap.
      await this.store.appendOutput(taskId, [{ output_type: 'debug', output: how.finalLine, timestamp: now / 1000 }], Number.MAX_SAFE_INTEGER);
    }
    if (done.droppedOutputBytes > 0) {
      await this.store.appendOutput(
        taskId,
        [{ output_type: 'debug', output: `Output limit of ${this.options.outputLimitBytes} bytes reached: ${done.droppedOutputBytes} bytes of output were dropped.`, timestamp: now / 1000 }],
        Number.MAX_SAFE_INTEGER,
      );
    }
    await this.queue.cancelByKey(TIMEOUT_QUEUE, `timeout:${taskId}`);
    const job = await this.store.pullJobForTask(taskId);
    if (job) await this.store.deletePullJob(job.uuid);
    await this.afterFinish(done);
    return true;
  }

  /** Callback and parent bookkeeping of a stopped task. */
  private async afterFinish(task: TaskRecord): Promise<void> {
    if (task.callback) {
      await this.store.putCallback({ taskId: task.id, attempts: 0, nextAttemptAt: Date.now(), deliveredAt: null, lastError: null });
      await this.queue.send(CALLBACK_QUEUE, { taskId: task.id }, { singletonKey: `callback:${task.id}` });
    }
    if (task.parentId && (await this.store.countUnfinishedChildren(task.parentId)) === 0) {
      const now = Date.now();
      await this.store.update(task.parentId, { state: 'stopped', result: 'success', endedAt: now }, LIVE_STATES);
    }
  }

  // ---- cancel and timeout --------------------------------------------------------------------

  /**
   * Cancel (or time out) a task; a batch parent cancels its children. Returns how many tasks a
   * cancel reached (the `canceled_steps_count`), or undefined for an unknown id.
   */
  async cancel(taskId: string, reason: AbortReason = 'cancelled'): Promise<number | undefined> {
    const task = await this.store.get(taskId);
    if (!task) return undefined;
    if (task.kind === 'batch') {
      let count = 0;
      for (const child of await this.store.children(taskId)) count += (await this.abortTask(child, reason)) ? 1 : 0;
      return count;
    }
    return (await this.abortTask(task, reason)) ? 1 : 0;
  }

  /** The timeout job's entry point. */
  async abort(taskId: string, reason: AbortReason): Promise<boolean> {
    const task = await this.store.get(taskId);
    return task ? this.abortTask(task, reason) : false;
  }

  private async abortTask(task: TaskRecord, reason: AbortReason): Promise<boolean> {
    if (task.state === 'stopped') return false;
    if (task.state !== 'running') {
      // Not started yet: it never will. The compare-and-set only applies while no worker claimed
      // the task; if one just did, the task is cancelled as a running one.
      const text = reason === 'timeout' ? 'Execution timeout exceeded before the task started' : 'The task was cancelled before it started';
      if (await this.finishTask(task.id, 'EXCEPTION', 'error', { fromStates: NOT_STARTED_STATES, finalLine: text })) return true;
      const fresh = await this.store.get(task.id);
      return fresh?.state === 'running' ? this.abortTask(fresh, reason) : false;
    }
    // The runner is in this process: its signal stops it (it kills the remote process, then finishes).
    const local = this.active.get(task.id);
    if (local) {
      if (!local.controller.signal.aborted) local.controller.abort(reason);
      return true;
    }
    // No runner here: a pull job waiting for its host, or a runner in another replica. The
    // operation cancels what it can reach (a job not yet delivered); otherwise the owner notices
    // the request on its next poll.
    const op = this.operationsByName.get(task.operation);
    if (op?.cancel && (await op.cancel(this.makeHandle(task, op, false), reason))) return true;
    if (task.owner === null || task.owner === this.replicaId) return false;
    return (await this.store.update(task.id, { abortRequested: reason }, ['running'])) !== undefined;
  }

  /** While this process runs tasks, re-read abort requests that reached other replicas. */
  private armAbortPoll(): void {
    if (this.abortPoll || this.stopping) return;
    this.abortPoll = setTimeout(() => {
      this.abortPoll = undefined;
      this.track(this.pollAborts());
    }, this.options.abortPollMs ?? 3000);
    this.abortPoll.unref();
  }

  private async pollAborts(): Promise<void> {
    if (this.active.size === 0 || this.stopping) return;
    for (const { id, reason } of await this.store.abortRequestsFor(this.replicaId)) {
      const local = this.active.get(id);
      if (local && !local.controller.signal.aborted) local.controller.abort(reason);
    }
    this.armAbortPoll();
  }

  // ---- events --------------------------------------------------------------------------------

  /** POST /tasks/:id/update|done (already authenticated). false: unknown task. */
  async event(taskId: string, body: Record<string, unknown>): Promise<'delivered' | 'unknown' | 'unsupported'> {
    const handle = await this.handle(taskId);
    if (!handle) return 'unknown';
    const op = this.operationsByName.get(handle.task.operation);
    if (!op?.event) return 'unsupported';
    await op.event(handle, body);
    return 'delivered';
  }

  // ---- status --------------------------------------------------------------------------------

  /** The runner action's `output` (spec §6.2), assembled from the store. */
  async runnerOutput(task: TaskRecord, afterSeq = 0): Promise<Record<string, unknown>> {
    const { entries } = await this.store.readOutput(task.id, afterSeq);
    const out: Record<string, unknown> = { ...task.outputExtra, result: entries };
    if (task.state === 'stopped' && task.exitStatus !== null) {
      out.exit_status = task.exitStatus;
      out.exit_status_timestamp = task.exitStatusTimestamp;
    }
    return out;
  }

  // ---- callbacks -----------------------------------------------------------------------------

  /** The callback body (spec §2.5): the runner output with the exit status. */
  async callbackBody(task: TaskRecord): Promise<CallbackBody | undefined> {
    if (!task.callback) return undefined;
    return { callback: task.callback, data: await this.runnerOutput(task) };
  }

  private nextDelay(attempts: number): number {
    const first = this.options.callbackFirstDelayMs ?? 5000;
    const max = this.options.callbackMaxDelayMs ?? 15 * 60_000;
    const base = Math.min(max, first * 2 ** Math.max(0, attempts - 1));
    // ±10 % so that callbacks that failed together do not retry in lockstep.
    return Math.round(base * (0.9 + Math.random() * 0.2));
  }

  private async callbackJob(taskId: string): Promise<void> {
    const delivery = await this.store.getCallback(taskId);
    if (!delivery || delivery.deliveredAt !== null || delivery.nextAttemptAt === null) return;
    const task = await this.store.get(taskId);
    const body = task && (await this.callbackBody(task));
    if (!task || !body) {
      await this.store.putCallback({ ...delivery, nextAttemptAt: null, lastError: 'the task is gone' });
      return;
    }
    const attempts = delivery.attempts + 1;
    let failure: string;
    if (!this.options.sendCallback) {
      failure = 'foreman_url is not set';
      this.log.warn(`cannot send the callback of task ${taskId}: ${failure}; Foreman learns the result from its status poll`);
      await this.store.putCallback({ taskId, attempts, nextAttemptAt: null, deliveredAt: null, lastError: failure });
      return;
    }
    try {
      const status = await this.options.sendCallback(body, this.shutdown.signal);
      if (status === 200) {
        await this.store.putCallback({ taskId, attempts, nextAttemptAt: null, deliveredAt: Date.now(), lastError: null });
        this.log.debug(`callback of task ${taskId} delivered (attempt ${attempts})`);
        return;
      }
      failure = `Foreman answered HTTP ${status}`;
    } catch (err) {
      if (this.stopping) return; // the row stays due: the next start sends it
      failure = errorText(err);
    }
    const giveUpAt = (task.endedAt ?? task.createdAt) + this.options.callbackRetryHours * 3_600_000;
    const next = Date.now() + this.nextDelay(attempts);
    if (next > giveUpAt) {
      this.log.error(`giving up the callback of task ${taskId} after ${attempts} attempts (${failure}); Foreman learns the result from its status poll`);
      await this.store.putCallback({ taskId, attempts, nextAttemptAt: null, deliveredAt: null, lastError: failure });
      return;
    }
    this.log.warn(`callback of task ${taskId} failed (attempt ${attempts}: ${failure}); retrying in ${Math.round((next - Date.now()) / 1000)} s`);
    await this.store.putCallback({ taskId, attempts, nextAttemptAt: next, deliveredAt: null, lastError: failure });
    await this.queue.send(CALLBACK_QUEUE, { taskId }, { singletonKey: `callback:${taskId}`, startAfter: next });
  }

  // ---- cleaner -------------------------------------------------------------------------------

  /** Delete stopped plans older than the cleaner age (spec §6.5); never one still calling back. */
  async clean(): Promise<number> {
    const deleted = await this.store.deleteStoppedBefore(Date.now() - this.options.cleanerAgeSeconds * 1000);
    if (deleted > 0) this.log.debug(`deleted ${deleted} stopped plans`);
    return deleted;
  }

  /** Output entries for tests and tools. */
  async outputOf(taskId: string): Promise<OutputEntry[]> {
    return (await this.store.readOutput(taskId)).entries;
  }
}

/** setInterval's longest period. */
const MAX_INTERVAL_MS = 2 ** 31 - 1;
