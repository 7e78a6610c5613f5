// What pull hosts do with their jobs (spec remote-execution.md §5.6, §5.7): list, fetch, report
// output and exit, fetch the cancel URL. Every call names the host by its certificate CN; a job of
// another host is answered exactly like a missing one. Kept apart from the routes so it can be
// tested without TLS.

import type { DynflowEngine, PullJob } from '../dynflow/types.ts';
import { ScriptError } from './errors.ts';
import { PICKUP_DEADLINE_QUEUE, type ScriptOperation } from './operation.ts';
import { parseUpdate, UpdateError } from './pull-updates.ts';
import type { NotificationDispatcher } from './pull/types.ts';

export interface PullJobsDeps {
  readonly engine: DynflowEngine;
  readonly operation: ScriptOperation;
  dispatcher(): NotificationDispatcher | undefined;
}

export class PullJobs {
  private readonly d: PullJobsDeps;

  constructor(deps: PullJobsDeps) {
    this.d = deps;
  }

  private async own(hostId: string, uuid: string): Promise<PullJob> {
    const job = await this.d.engine.store.getPullJob(uuid);
    // Host identities are DNS names or UUIDs: compared without regard to case.
    if (!job || job.hostname.toLowerCase() !== hostId.toLowerCase()) throw ScriptError.job_not_found('');
    return job;
  }

  /** Uuids of the host's jobs, oldest first. */
  async list(hostId: string): Promise<string[]> {
    const exact = await this.d.engine.store.pullJobsOf(hostId);
    if (exact.length > 0 || hostId === hostId.toLowerCase()) return exact;
    return this.d.engine.store.pullJobsOf(hostId.toLowerCase());
  }

  /** The job's script; the job becomes `delivered` and holds its rate-limit slot until it ends. */
  async fetch(hostId: string, uuid: string): Promise<{ script: string; effectiveUser: string | null }> {
    const { engine } = this.d;
    const job = await this.own(hostId, uuid);
    if (job.state === 'ready_for_pickup' || job.state === 'notified') {
      await engine.store.updatePullJob(uuid, { state: 'delivered' });
      const handle = await engine.handle(job.taskId);
      await handle?.setOutputExtra({ state: 'delivered' });
      await engine.queue.cancelByKey(PICKUP_DEADLINE_QUEUE, `pickup:${uuid}`);
    }
    this.d.dispatcher()?.picked(uuid);
    return { script: job.script, effectiveUser: job.effectiveUser };
  }

  /** Apply one update body; a body that is not one of the accepted shapes is refused whole (400). */
  async update(hostId: string, uuid: string, body: unknown): Promise<void> {
    const { engine } = this.d;
    const job = await this.own(hostId, uuid);
    let parsed;
    try {
      parsed = parseUpdate(body);
    } catch (err) {
      if (err instanceof UpdateError) throw ScriptError.invalid_update(err.message);
      throw err;
    }
    const handle = await engine.handle(job.taskId);
    if (!handle || handle.task.state === 'stopped') {
      await this.d.operation.forget(job);
      throw ScriptError.job_finished(`the task of job ${uuid} has already ended`);
    }
    if (parsed.output.length > 0) await handle.output(parsed.output);
    if (job.state !== 'running') {
      await engine.store.updatePullJob(uuid, { state: 'running' });
      await handle.setOutputExtra({ state: 'running' });
    }
    if (parsed.exitCode !== undefined) {
      await handle.finish(parsed.exitCode);
      await this.d.operation.forget(job);
    }
  }

  /** GET …/cancel only has to answer (the agent fetches the cancel message's content). */
  async cancel(hostId: string, uuid: string): Promise<void> {
    await this.own(hostId, uuid);
  }
}
