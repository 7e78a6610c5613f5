// The `ssh` operation registered on the dynflow engine (spec remote-execution.md §2.3.1, §4, §5).
// Push mode runs each host's script through the in-process SSH runner and holds the engine's worker
// until the host finished (the runner's bulkhead bounds how many connect at once). Pull modes store
// a PullJob for the host to fetch, hand it to the MQTT dispatcher (pull-mqtt) and return at once:
// the host's exit update finishes the task later (./pull-jobs.ts), from whichever replica gets it.

import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logging-types.ts';
import type { AbortReason, DynflowEngine, Operation, OutputEntry, PullJob, TaskHandle } from '../dynflow/types.ts';
import type { EffectiveUserMethod, SshCredentials, SshRunner } from '../../lib/ssh/types.ts';
import type { NotificationDispatcher, Publisher } from './pull/types.ts';
import { buildCancelMessage } from './pull/messages.ts';
import type { ScriptMode } from './module.ts';
import { asInteger, validateActionInput } from './validate.ts';

export const RUN_SCRIPT_ACTION = 'Proxy::RemoteExecution::Ssh::Actions::RunScript';
export const SECRET_KEYS = ['secrets'] as const;

/** Work-queue names of the operation's durable timers. */
export const PICKUP_DEADLINE_QUEUE = 'script.pickup_deadline';
export const CANCEL_GRACE_QUEUE = 'script.cancel_grace';

export const MESSAGES = {
  notPickedUp: 'The job was not picked up in time',
  timeout: 'Execution timeout exceeded',
  cancelled: 'The job was cancelled by the user',
  viaMqtt: ', notifying the host over MQTT',
  noMqtt: ', however the job was triggered without MQTT and cannot be stopped',
  pushTimeout: 'Timeout for execution passed, trying to stop the job',
} as const;

export interface ScriptOperationOptions {
  readonly mode: ScriptMode;
  readonly engine: DynflowEngine;
  readonly log: Logger;
  /** Push: the module's runner (created on first use). */
  runner(): Promise<SshRunner>;
  /** Push: the proxy's private key text, or undefined when there is none. */
  privateKey(): Promise<string | undefined>;
  readonly defaults: { readonly remoteWorkingDir: string; readonly cleanup: boolean };
  /** pull-mqtt only, once the module started (undefined before, and in the other modes). */
  dispatcher(): NotificationDispatcher | undefined;
  publisher(): Publisher | undefined;
  /** Pull: seconds to wait for the exit report of a cancelled, already fetched job. */
  readonly cancelGraceSeconds: number;
}

function now(): number {
  return Date.now() / 1000;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function entry(type: OutputEntry['output_type'], output: string): Omit<OutputEntry, 'id'> {
  return { output_type: type, output, timestamp: now() };
}

/** Host identity in pull modes (spec §5.2): consumer_uuid, else fqdn, else hostname. */
export function pullHostId(input: Record<string, unknown>): string {
  const names = (input.alternative_names ?? {}) as Record<string, unknown>;
  return str(names.consumer_uuid) ?? str(names.fqdn) ?? String(input.hostname);
}

/** The proxy URL pull hosts use (the task's proxy_url, else its callback_host), without a trailing `/`. */
export function proxyUrlOf(input: Record<string, unknown>): string {
  return (str(input.proxy_url) ?? str(input.callback_host) ?? '').replace(/\/+$/, '');
}

export class ScriptOperation implements Operation {
  readonly name = 'ssh';
  readonly actionClasses = [RUN_SCRIPT_ACTION];
  readonly secretKeys = SECRET_KEYS;
  private readonly o: ScriptOperationOptions;

  constructor(options: ScriptOperationOptions) {
    this.o = options;
  }

  validate(actionInput: Record<string, unknown>): { field: string; message: string } | undefined {
    return validateActionInput(actionInput);
  }

  async run(handle: TaskHandle): Promise<void> {
    if (this.o.mode === 'ssh') return this.runPush(handle);
    return this.runPull(handle);
  }

  // ---- push ----------------------------------------------------------------------------------

  private async runPush(handle: TaskHandle): Promise<void> {
    const input = handle.task.input;
    const secrets = handle.secrets();
    const secret = (key: string): string | undefined => {
      const all = (secrets.secrets ?? {}) as Record<string, unknown>;
      return str(all[key]);
    };
    // Output is stored strictly in arrival order: each write waits for the one before.
    let chain: Promise<void> = Promise.resolve();
    const write = (type: OutputEntry['output_type'], text: string): Promise<void> => {
      chain = chain.then(() => handle.output([entry(type, text)]));
      return chain;
    };
    const onAbort = (): void => {
      const reason: unknown = handle.signal.reason;
      if (reason === 'timeout') void write('debug', MESSAGES.pushTimeout).catch(() => undefined);
    };
    handle.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const credentials: SshCredentials = {
        privateKey: await this.o.privateKey(),
        passphrase: secret('key_passphrase'),
        password: secret('ssh_password'),
      };
      const cleanup = typeof input.cleanup_working_dirs === 'boolean' ? input.cleanup_working_dirs : this.o.defaults.cleanup;
      const runner = await this.o.runner();
      const result = await runner.run(
        { host: String(input.hostname), port: asInteger(input.ssh_port) ?? 22, user: str(input.ssh_user) ?? 'root' },
        credentials,
        {
          script: String(input.script),
          effectiveUser: str(input.effective_user),
          effectiveUserMethod: (str(input.effective_user_method) ?? 'sudo') as EffectiveUserMethod,
          effectiveUserPassword: secret('effective_user_password'),
          remoteWorkingDir: str(input.remote_working_dir) ?? this.o.defaults.remoteWorkingDir,
          cleanup,
          hostPublicKey: str(input.host_public_key),
          firstExecution: input.first_execution === true,
          signal: handle.signal,
          onOutput: (type, text) => write(type, text),
          onStart: (runnerId) => {
            chain = chain.then(() => handle.setOutputExtra({ runner_id: runnerId }));
          },
        },
      );
      await chain;
      await handle.finish(result.exitStatus);
    } catch (err) {
      // The runner reports failures as EXCEPTION itself; this is a bug or a store failure.
      this.o.log.error(`ssh run of task ${handle.task.id} failed: ${(err as Error).message}`, err);
      await chain.catch(() => undefined);
      await handle.output([entry('debug', `Proxy error: ${(err as Error).message}`)]).catch(() => undefined);
      await handle.finish('EXCEPTION');
    } finally {
      handle.signal.removeEventListener('abort', onAbort);
    }
  }

  // ---- pull ----------------------------------------------------------------------------------

  private async runPull(handle: TaskHandle): Promise<void> {
    const { engine } = this.o;
    const task = handle.task;
    // A retried run (the worker died after storing the job) resumes the stored job.
    const existing = await engine.store.pullJobForTask(task.id);
    if (existing) return this.resumePull(handle, existing);
    const input = task.input;
    const job: PullJob = {
      uuid: randomUUID(),
      taskId: task.id,
      hostname: pullHostId(input),
      effectiveUser: str(input.effective_user) ?? null,
      script: String(input.script).replace(/\r/g, ''),
      state: 'ready_for_pickup',
      createdAt: Date.now(),
      messageId: randomUUID(),
      notifiedAt: null,
    };
    await engine.store.insertPullJob(job);
    await handle.setOutputExtra({ state: 'ready_for_pickup', job_uuid: job.uuid });
    const pickup = asInteger(input.time_to_pickup);
    if (pickup !== undefined && pickup > 0) {
      await engine.queue.send(PICKUP_DEADLINE_QUEUE, { taskId: task.id, jobUuid: job.uuid }, { singletonKey: `pickup:${job.uuid}`, startAfter: Date.now() + pickup * 1000 });
    }
    this.o.dispatcher()?.add(job.uuid);
  }

  private async resumePull(_handle: TaskHandle, job: PullJob): Promise<void> {
    const d = this.o.dispatcher();
    if (!d) return;
    // A job the host already fetched is not notified again; it holds its rate-limit slot until the task stops.
    if (job.state === 'delivered' || job.state === 'running') d.picked(job.uuid);
    else d.add(job.uuid);
  }

  async recover(handle: TaskHandle): Promise<void> {
    if (this.o.mode !== 'ssh') return this.runPull(handle);
    const owner = handle.task.owner;
    const who = owner && owner !== this.o.engine.replicaId ? `the proxy (replica ${owner})` : 'the proxy';
    await handle.output([entry('debug', `${who} stopped while this script ran; it may have run partly`)]);
    await handle.finish('EXCEPTION');
  }

  async cancel(handle: TaskHandle, reason: AbortReason): Promise<boolean> {
    if (this.o.mode === 'ssh') return false;
    const job = await this.o.engine.store.pullJobForTask(handle.task.id);
    if (!job) return false;
    const message = reason === 'timeout' ? MESSAGES.timeout : MESSAGES.cancelled;
    return this.cancelPull(handle, job, message);
  }

  /** Cancel a pull job (spec §5.7, with a grace timeout for jobs the host already has: §8.8). */
  async cancelPull(handle: TaskHandle, job: PullJob, message: string): Promise<boolean> {
    const { engine } = this.o;
    if (job.state === 'ready_for_pickup' || job.state === 'notified') {
      await this.forget(job);
      await handle.output([entry('debug', message)]);
      await handle.finish('EXCEPTION');
      return true;
    }
    const publisher = this.o.publisher();
    if (publisher) {
      await handle.output([entry('debug', message + MESSAGES.viaMqtt)]);
      try {
        await publisher.publish(job.hostname, buildCancelMessage({ jobUuid: job.uuid, proxyUrl: proxyUrlOf(handle.task.input) }));
      } catch (err) {
        await handle.output([entry('debug', `Could not send the cancel message over MQTT: ${(err as Error).message}`)]);
      }
    } else {
      await handle.output([entry('debug', message + MESSAGES.noMqtt)]);
    }
    await engine.queue.send(
      CANCEL_GRACE_QUEUE,
      { taskId: handle.task.id, jobUuid: job.uuid },
      { singletonKey: `cancel-grace:${job.uuid}`, startAfter: Date.now() + this.o.cancelGraceSeconds * 1000 },
    );
    return true;
  }

  /** The task ended: the job row goes, its timers and its dispatcher slot too. */
  async forget(job: PullJob): Promise<void> {
    const { engine } = this.o;
    await engine.store.deletePullJob(job.uuid);
    this.o.dispatcher()?.done(job.uuid);
    await Promise.all([engine.queue.cancelByKey(PICKUP_DEADLINE_QUEUE, `pickup:${job.uuid}`), engine.queue.cancelByKey(CANCEL_GRACE_QUEUE, `cancel-grace:${job.uuid}`)]);
  }

  /** After a (re)start: every stored job waits for its host again (pull-mqtt: notified again). */
  async resumePullJobs(): Promise<void> {
    const d = this.o.dispatcher();
    if (!d) return;
    for (const job of await this.o.engine.store.pullJobsByState(['ready_for_pickup', 'notified', 'delivered', 'running'])) {
      if (job.state === 'delivered' || job.state === 'running') d.picked(job.uuid);
      else d.add(job.uuid);
    }
  }

  /** Workers of the operation's durable timers (registered once per replica). */
  async startTimers(): Promise<void> {
    const { engine } = this.o;
    await engine.queue.work(PICKUP_DEADLINE_QUEUE, 4, async ({ data }) => {
      const job = await engine.store.getPullJob(String(data.jobUuid));
      if (!job || (job.state !== 'ready_for_pickup' && job.state !== 'notified')) return;
      const handle = await engine.handle(job.taskId);
      if (!handle || handle.task.state === 'stopped') return this.forget(job);
      await this.cancelPull(handle, job, MESSAGES.notPickedUp);
    });
    await engine.queue.work(CANCEL_GRACE_QUEUE, 4, async ({ data }) => {
      const job = await engine.store.getPullJob(String(data.jobUuid));
      const handle = await engine.handle(String(data.taskId));
      if (handle && handle.task.state !== 'stopped') {
        await handle.output([entry('debug', `The host did not report the end of the cancelled job within ${this.o.cancelGraceSeconds} seconds; the task is ended without it`)]);
        await handle.finish('EXCEPTION');
      }
      if (job) await this.forget(job);
    });
  }
}
