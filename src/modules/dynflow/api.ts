// The running dynflow module: opens the task store and work queue (SQLite by default, PostgreSQL
// + pg-boss for replicas), builds the engine that other modules receive as `exports`, and serves
// the /dynflow task API (spec remote-execution.md §2.3).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { readFile } from 'node:fs/promises';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { Static } from '../../core/settings/schema.ts';
import { foremanTlsFiles } from '../../lib/http/foreman.ts';
import { createHttpClient, type HttpClient } from '../../lib/http/client.ts';
import { DEFAULT_DATABASE, type DYNFLOW_SETTINGS } from './module.ts';
import { DynflowError } from './errors.ts';
import {
  BATCH_ACTION_CLASS,
  CALLBACK_ACTION_CLASS,
  Engine,
  LaunchError,
  SINGLE_OPERATION,
  TaskConflictError,
  UnknownOperationError,
  type CallbackSender,
  type LaunchContext,
} from './engine.ts';
import { SecretBox } from './secret-box.ts';
import { SqliteTaskStore } from './store/sqlite.ts';
import { LocalWorkQueue } from './queue/local.ts';
import { PLAN_STATES, type PlanState, type TaskRecord, type TaskStore, type WorkQueue } from './types.ts';

export type DynflowSettings = Static<typeof DYNFLOW_SETTINGS>;

/** Callbacks are small; Foreman answers at once ({"message":"processing"}). */
const CALLBACK_TIMEOUT_MS = 60_000;

interface Backend {
  store: TaskStore;
  queue: WorkQueue;
  /** The store is this process's own: every running task at start was interrupted. */
  ownStore: boolean;
  describe: string;
}

async function openBackend(settings: DynflowSettings, log: Logger): Promise<Backend> {
  const url = process.env.DYNFLOW_DB_CONN_STRING || settings.database_url;
  if (url) {
    // Loaded only when configured: the PostgreSQL store and the pg-boss queue.
    let storeModule: { createPostgresStore: (url: string, o: { log: Logger }) => TaskStore | Promise<TaskStore> };
    let queueModule: { createPgBossQueue: (url: string, o: { log: Logger }) => WorkQueue | Promise<WorkQueue> };
    try {
      storeModule = (await import('./store/postgres.ts')) as unknown as typeof storeModule;
      queueModule = (await import('./queue/pgboss.ts')) as unknown as typeof queueModule;
    } catch (err) {
      throw new Error(`database_url is set but the PostgreSQL task store or pg-boss queue cannot be loaded: ${(err as Error).message}`, { cause: err });
    }
    if (typeof storeModule.createPostgresStore !== 'function' || typeof queueModule.createPgBossQueue !== 'function') {
      throw new Error('database_url is set but this build has no PostgreSQL task store / pg-boss queue (createPostgresStore, createPgBossQueue)');
    }
    const store = await storeModule.createPostgresStore(url, { log });
    await store.open();
    const queue = await queueModule.createPgBossQueue(url, { log });
    return { store, queue, ownStore: false, describe: 'PostgreSQL (shared by replicas)' };
  }
  const path = settings.database && settings.database.trim() !== '' ? settings.database : DEFAULT_DATABASE;
  const store = new SqliteTaskStore({ path });
  await store.open();
  const queue = new LocalWorkQueue(store.database, {
    onError: (queueName, jobId, err, willRetry) => log.error(`job ${jobId} of ${queueName} failed${willRetry ? ' (will retry)' : ''}: ${(err as Error)?.message ?? String(err)}`, err),
  });
  return { store, queue, ownStore: true, describe: path === ':memory:' ? 'SQLite in memory (lost on restart)' : `SQLite ${path}` };
}

/**
 * The callback sender (spec §2.5, fixed §8.5): client certificate foreman_ssl_* falling back to
 * ssl_*, and the server always verified (foreman_ssl_ca, else ssl_ca_file, else the system CAs).
 */
async function callbackSender(ctx: ModuleContext<DynflowSettings>): Promise<{ send: CallbackSender; client: HttpClient } | undefined> {
  const g = ctx.global;
  if (g.foremanUrl === null || g.foremanUrl === '') return undefined;
  const files = foremanTlsFiles(g);
  const read = async (f: { path: string; setting: string } | undefined): Promise<Buffer | undefined> => {
    if (!f) return undefined;
    try {
      return await readFile(f.path);
    } catch (err) {
      throw new Error(`cannot read ${f.setting} '${f.path}' for callbacks to Foreman: ${(err as Error).message}`, { cause: err });
    }
  };
  const [ca, cert, key] = await Promise.all([read(files.caFile), read(files.certFile), read(files.keyFile)]);
  const client = createHttpClient({
    baseUrl: g.foremanUrl,
    verify: true,
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    timeoutMs: CALLBACK_TIMEOUT_MS,
    connections: 8,
  });
  const send: CallbackSender = async (body, signal) => {
    const res = await client.request({
      method: 'POST',
      // Absolute: a path part of foreman_url is replaced, as the reference does.
      path: '/foreman_tasks/api/tasks/callback',
      headers: { 'content-type': 'application/json', accept: 'application/json,version=2' },
      body: JSON.stringify(body),
      signal,
    });
    await res.dump();
    return res.status;
  };
  return { send, client };
}

export async function dynflowModule(ctx: ModuleContext<DynflowSettings>): Promise<ModuleInstance> {
  const s = ctx.settings;
  const secretBox = s.secrets_key_file ? await SecretBox.fromFile(s.secrets_key_file) : SecretBox.ephemeral();
  const sender = await callbackSender(ctx);
  const backend = await openBackend(s, ctx.log);
  const engine = new Engine({
    store: backend.store,
    queue: backend.queue,
    secretBox,
    log: ctx.log,
    outputLimitBytes: s.output_limit_bytes,
    maxRunningTasks: s.max_running_tasks,
    callbackRetryHours: s.callback_retry_hours,
    cleanerAgeSeconds: s.execution_plan_cleaner_age,
    recoverAllAtStart: backend.ownStore,
    ...(sender ? { sendCallback: sender.send } : {}),
  });
  ctx.log.info(`tasks in ${backend.describe}; replica ${engine.replicaId}`);
  if (!secretBox.persistent && backend.describe !== 'SQLite in memory (lost on restart)') {
    ctx.log.warn('secrets_key_file is not set: secrets of tasks interrupted by a restart cannot be recovered');
  }
  return {
    exports: engine,
    capabilities: () => [...engine.operations()].sort(),
    start: () => engine.start(),
    routes: (app) => dynflowRoutes(app, engine),
    async close() {
      await engine.close();
      await sender?.client.close();
    },
  };
}

// ---- HTTP ----------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The body as JSON whatever the content type (as the reference); bad JSON is a 400 (§8.10). */
function jsonBody(request: FastifyRequest, { emptyIs }: { emptyIs: Record<string, unknown> | undefined }): Record<string, unknown> {
  const raw = request.body;
  const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : typeof raw === 'string' ? raw : '';
  if (text.trim() === '') {
    if (emptyIs) return emptyIs;
    throw DynflowError.invalid_request('the request body is empty; a JSON object is required');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw DynflowError.invalid_request(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw DynflowError.invalid_request('the request body must be a JSON object');
  return parsed;
}

function json(reply: FastifyReply, body: unknown, status = 200): FastifyReply {
  // A Buffer keeps fastify from appending `; charset=utf-8` to the reference's content type.
  return reply.code(status).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

/** `http[s]://` + the first X-Forwarded-For, else Host (spec §2.3.1). */
function requestOrigin(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  const host = first || request.headers.host || 'localhost';
  return `${request.protocol}://${host}`;
}

function launchContext(request: FastifyRequest): LaunchContext {
  return { callbackHost: requestOrigin(request), requestId: String(request.id) };
}

/** Engine launch errors → table errors (status and a message naming the field). */
async function launching<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof LaunchError) throw DynflowError.invalid_request(err.message);
    if (err instanceof UnknownOperationError) throw DynflowError.unknown_operation(err.message);
    if (err instanceof TaskConflictError) throw DynflowError.conflict(err.message);
    throw err;
  }
}

/** Dynflow's time format: UTC `YYYY-MM-DD HH:MM:SS.mmm`. */
export function dynflowTime(ms: number | null): string | null {
  if (ms === null) return null;
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

/** The status of one plan (spec §2.3.3), output assembled from the store, never secrets. */
export async function planStatus(engine: Engine, task: TaskRecord, outputAfter = 0): Promise<Record<string, unknown>> {
  const endOrNow = task.endedAt ?? Date.now();
  const realTime = task.startedAt === null ? 0 : (endOrNow - task.startedAt) / 1000;
  const history: Array<Record<string, unknown>> = [];
  if (task.startedAt !== null) history.push({ time: Math.floor(task.startedAt / 1000), name: 'start execution', world_id: task.owner ?? engine.replicaId });
  if (task.endedAt !== null) history.push({ time: Math.floor(task.endedAt / 1000), name: 'finish execution', world_id: task.owner ?? engine.replicaId });
  let actions: Array<Record<string, unknown>>;
  let stepIds: number[];
  if (task.kind === 'batch') {
    stepIds = [1, 2];
    actions = [
      {
        class: BATCH_ACTION_CLASS,
        execution_plan_id: task.id,
        id: 1,
        plan_step_id: 1,
        run_step_id: 2,
        finalize_step_id: null,
        caller_execution_plan_id: null,
        caller_action_id: null,
        input: task.input,
        output: {},
      },
    ];
  } else {
    // One runner action whose class is the launched action class: Foreman finds it either by that
    // class or by `input.task_id`, and reads its `output`.
    stepIds = task.callback ? [1, 2, 3, 4, 5] : [1, 2, 3];
    actions = [
      {
        class: task.actionClass,
        execution_plan_id: task.id,
        id: 1,
        plan_step_id: 1,
        run_step_id: 2,
        finalize_step_id: 3,
        caller_execution_plan_id: task.parentId,
        caller_action_id: task.parentId ? 1 : null,
        input: task.input,
        output: await engine.runnerOutput(task, outputAfter),
      },
    ];
    if (task.callback) {
      actions.push({
        class: CALLBACK_ACTION_CLASS,
        execution_plan_id: task.id,
        id: 2,
        plan_step_id: 4,
        run_step_id: 5,
        finalize_step_id: null,
        caller_execution_plan_id: null,
        caller_action_id: null,
        input: { callback: task.callback },
        output: {},
      });
    }
  }
  return {
    id: task.id,
    class: 'Dynflow::ExecutionPlan',
    label: task.kind === 'batch' ? BATCH_ACTION_CLASS : task.actionClass,
    state: task.state,
    result: task.result,
    root_plan_step_id: 1,
    run_flow: {},
    finalize_flow: {},
    step_ids: stepIds,
    started_at: dynflowTime(task.startedAt),
    ended_at: dynflowTime(task.endedAt),
    execution_time: realTime,
    real_time: realTime,
    execution_history: history,
    actions,
  };
}

function taskIds(body: Record<string, unknown>): string[] {
  const ids = body.task_ids;
  if (ids === undefined || ids === null) return [];
  if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) throw DynflowError.invalid_request("'task_ids' must be an array of task UUIDs");
  return ids as string[];
}

/** update/done come from remote helpers: only a verified client certificate may send them (§8.5). */
function requireClientCertificate(request: FastifyRequest): void {
  const socket = request.raw.socket as Partial<TLSSocket>;
  const cert = socket.encrypted && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  if (!cert || Object.keys(cert).length === 0 || socket.authorized !== true) {
    throw DynflowError.forbidden('task events require HTTPS with a client certificate that the proxy trusts');
  }
}

export function dynflowRoutes(app: FastifyInstance, engine: Engine): void {
  // The reference reads every /dynflow body as JSON whatever its Content-Type: take it raw.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const launch = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const body = jsonBody(request, { emptyIs: undefined });
    const operation = body.operation;
    if (typeof operation !== 'string' || operation === '') throw DynflowError.invalid_request("operation: is required (a string, e.g. 'ssh')");
    if (operation === SINGLE_OPERATION) {
      const taskId = await launching(() => engine.launchSingle(body.input, launchContext(request)));
      return json(reply, { result: 'success', task_id: taskId });
    }
    const result = await launching(() => engine.launchBatch(operation, body.input, launchContext(request)));
    // `parent` is what Foreman reads; `tasks` (our extension) says what became of each host.
    return json(reply, { parent: { result: 'success', task_id: result.parentId }, tasks: result.hosts });
  };
  // The app ignores a trailing slash: this also serves `/tasks/launch/`.
  app.post('/tasks/launch', launch);

  const legacy = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const body = jsonBody(request, { emptyIs: undefined });
    if (typeof body.action_name !== 'string') throw DynflowError.invalid_request('action_name: is required (a string)');
    const taskId = await launching(() => engine.launchSingle({ action_class: body.action_name, action_input: body.action_input }, launchContext(request)));
    return json(reply, { task_id: taskId });
  };
  app.post('/tasks', legacy);

  app.get<{ Params: { id: string }; Querystring: { output_after?: string } }>('/tasks/:id/status', async (request, reply) => {
    const task = await engine.store.get(request.params.id);
    if (!task) return json(reply, {}, 404);
    const after = request.query.output_after;
    let outputAfter = 0;
    if (after !== undefined) {
      if (!/^\d+$/.test(after)) throw DynflowError.invalid_request('output_after: must be a whole number (the last output entry sequence seen)');
      outputAfter = Number(after);
    }
    return json(reply, await planStatus(engine, task, outputAfter));
  });

  app.post('/tasks/status', async (request, reply) => {
    const ids = taskIds(jsonBody(request, { emptyIs: {} }));
    const states = await engine.store.states(ids);
    const out: Record<string, { state: PlanState; result: string }> = {};
    for (const [id, st] of states) out[id] = st;
    return json(reply, out);
  });

  app.post('/tasks/statuses', async (request, reply) => {
    const ids = taskIds(jsonBody(request, { emptyIs: {} }));
    if (ids.length === 0) throw DynflowError.unprocessable("'task_ids' needs to be provided and be a non-empty array of task UUIDs");
    const out: Record<string, unknown> = {};
    for (const id of ids) {
      const task = await engine.store.get(id);
      if (task) out[id] = await planStatus(engine, task);
    }
    return json(reply, out);
  });

  app.post<{ Params: { id: string } }>('/tasks/:id/cancel', async (request, reply) => {
    const count = await engine.cancel(request.params.id, 'cancelled');
    if (count === undefined) throw DynflowError.not_found(`no task ${request.params.id}`);
    return json(reply, { task_id: request.params.id, canceled_steps_count: count });
  });

  app.get<{ Querystring: { state?: string } }>('/tasks/count', async (request, reply) => {
    const state = request.query.state;
    if (state === undefined || state === '') return json(reply, { count: await engine.store.count(), state: 'all' });
    const known = (PLAN_STATES as readonly string[]).includes(state);
    return json(reply, { count: known ? await engine.store.count(state as PlanState) : 0, state });
  });

  app.get('/tasks/operations', async (_request, reply) => json(reply, engine.operations()));

  const event = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<FastifyReply> => {
    requireClientCertificate(request);
    const body = jsonBody(request, { emptyIs: {} });
    const outcome = await engine.event(request.params.id, body);
    if (outcome === 'unknown') throw DynflowError.not_found(`no task ${request.params.id}`);
    if (outcome === 'unsupported') throw DynflowError.invalid_request(`the operation of task ${request.params.id} takes no events`);
    return json(reply, {});
  };
  app.post('/tasks/:id/update', event);
  app.post('/tasks/:id/done', event);
}
