// The `ansible-runner` operation registered on the dynflow engine (spec plugins.md §3.4). The
// engine runs one task per host; Foreman expects one ansible-runner per batch. So the first host
// task of a batch that reaches `run()` leads: it claims the batch's other hosts that no worker
// started yet, lets the ones the engine started at the same moment join (they return at once),
// and runs them all in one ansible-runner. Its events become per-host output and exit statuses;
// each host task then finishes on its own, and the engine sends each host's callback to Foreman.

import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { Logger } from '../../core/logging-types.ts';
import { errorText } from '../../core/errors.ts';
import { run as runCommand } from '../../core/spawn.ts';
import type { AbortReason, DynflowEngine, ExitStatus, Operation, TaskHandle } from '../dynflow/types.ts';
import { EventRouter, type Entry, type RunnerEvent } from './events.ts';
import { LEGACY_PLAYBOOK_ACTION, PLAYBOOK_ACTION, buildInventory, knownHostsNames, tagsOf, validateHostInput, verbosityOf, withoutPasswords, type RunHost } from './inventory.ts';
import type { AnsiblePaths } from './listing.ts';
import { findCommand, startRunner, type RunnerProcess } from './runner.ts';
import { pathExists } from '../../lib/fs/exists.ts';

export const OPERATION_NAME = 'ansible-runner';
/** Prefix of the private run directories (a restarted proxy removes the ones it left). */
export const RUN_DIR_PREFIX = 'foreman-ansible-';
/** Prefix of the short links to a run's artifacts directory (in the system temp dir). */
export const ARTIFACT_LINK_PREFIX = 'foreman-ansible-a-';
/** Marker file of a run directory: the PID of the proxy that owns it. */
export const RUN_MARKER = 'smart-proxy-run.json';

export const MESSAGES = {
  timeout: 'Timeout for execution passed, stopping the job',
  cancelled: 'The job was cancelled, stopping ansible-runner',
  shutdown: 'The proxy is stopping, stopping ansible-runner',
  recovered: 'stopped while this Ansible run was in progress; an ansible-runner run cannot be resumed, so this host may have run part of the playbook',
  noPlay: 'No play of the playbook ran on this host (do the plays target it with hosts: all?)',
} as const;

const CLAIMABLE = ['planned', 'pending', 'scheduled'] as const;
/** How often the output gathered from the event stream is stored (Foreman polls live output). */
const FLUSH_MS = 250;
/** How often a running batch re-reads cancel requests that reached another replica. */
const ABORT_POLL_MS = 3000;

export interface AnsibleOperationOptions {
  readonly engine: DynflowEngine;
  readonly log: Logger;
  /** Parent of the run directories (working_dir, else the system temp dir). */
  readonly workingDir: string | undefined;
  readonly environmentFile: string;
  readonly runnerCommand: string;
  readonly killGraceMs: number;
  readonly gatherMs: number;
  /** The roles and collections paths (the same as the listing routes). */
  paths(): Promise<AnsiblePaths>;
  /** The REX SSH identity (the script module's ssh_identity_key_file). */
  identityKeyFile(): string;
  /** FOREMAN_* variables for the theforeman.foreman callback (the environment file may override them). */
  readonly foremanEnv: Record<string, string>;
  /** known_hosts the ssh client of ansible uses (pruned for first executions). */
  readonly knownHostsFile?: string;
  readonly metrics?: AnsibleMetrics;
}

/** What the operation counts (api.ts registers them on the proxy's registry). */
export interface AnsibleMetrics {
  /** A run ended: finished, cancelled, timeout, shutdown, no_runner or error. */
  runEnded(result: string): void;
  /** An ansible-runner process started / ended. */
  runStarted(): void;
  runStopped(): void;
  /** A host's exit status: 0, 1, 2, 4 or other. */
  hostResult(status: ExitStatus): void;
}

function now(): number {
  return Date.now() / 1000;
}

function debug(text: string): Entry {
  return { output_type: 'debug', output: text, timestamp: now() };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The execution timeout of a host in seconds, or undefined. */
function timeoutOf(input: Record<string, unknown>): number | undefined {
  const raw = input.execution_timeout_interval;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** What a run created on disk. */
interface RunFiles {
  dir?: string;
  artifactLink?: string;
  /** Whether the files were removed (or their passwords, for a kept directory). */
  released?: boolean;
  keep?: boolean;
}

/** The hosts of one batch that run in one ansible-runner. */
class Batch {
  readonly key: string;
  readonly members = new Map<string, TaskHandle>();
  readonly controller = new AbortController();
  private joinWaiters: Array<() => void> = [];

  constructor(key: string) {
    this.key = key;
  }

  add(handle: TaskHandle): void {
    this.members.set(handle.task.id, handle);
    for (const w of this.joinWaiters.splice(0)) w();
  }

  /** Resolves on the next join or after `ms`. */
  nextJoin(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.joinWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  abort(reason: AbortReason): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }
}

export class AnsibleOperation implements Operation {
  readonly name = OPERATION_NAME;
  readonly actionClasses = [PLAYBOOK_ACTION, LEGACY_PLAYBOOK_ACTION];
  // `secrets` is always kept apart by the engine; nothing else of the input is secret.
  readonly secretKeys = [] as const;
  private readonly o: AnsibleOperationOptions;
  /** Batches still taking hosts, by batch parent id. */
  private readonly gathering = new Map<string, Batch>();
  /** The batch of every host task this process runs. */
  private readonly byTask = new Map<string, Batch>();

  constructor(options: AnsibleOperationOptions) {
    this.o = options;
  }

  validate(actionInput: Record<string, unknown>): { field: string; message: string } | undefined {
    return validateHostInput(actionInput);
  }

  async run(handle: TaskHandle): Promise<void> {
    const key = handle.task.parentId ?? handle.task.id;
    const open = this.gathering.get(key);
    if (open) {
      // The leader runs this host with the others; the worker is free again at once.
      open.add(handle);
      this.byTask.set(handle.task.id, open);
      return;
    }
    const batch = new Batch(key);
    this.gathering.set(key, batch);
    batch.add(handle);
    this.byTask.set(handle.task.id, batch);
    try {
      if (handle.task.parentId) await this.gather(batch, handle.task.parentId);
    } finally {
      this.gathering.delete(key);
    }
    try {
      await this.execute(batch, handle);
    } finally {
      for (const id of batch.members.keys()) this.byTask.delete(id);
    }
  }

  /** Claim the batch's hosts no worker took yet; wait briefly for those being started now. */
  private async gather(batch: Batch, parentId: string): Promise<void> {
    const { engine } = this.o;
    const startedAt = Date.now();
    for (const child of await engine.store.children(parentId)) {
      if (batch.members.has(child.id) || !(CLAIMABLE as readonly string[]).includes(child.state)) continue;
      const claimed = await engine.store.update(child.id, { state: 'running', owner: engine.replicaId, startedAt }, CLAIMABLE);
      if (!claimed) continue;
      const h = await engine.handle(child.id);
      if (h) {
        batch.add(h);
        this.byTask.set(child.id, batch);
      }
    }
    // Hosts the engine's workers claimed meanwhile call run() within moments and join.
    const deadline = Date.now() + this.o.gatherMs;
    while (Date.now() < deadline) {
      const expected = (await engine.store.children(parentId)).filter((c) => c.state === 'running' && c.owner === engine.replicaId && !batch.members.has(c.id) && !this.byTask.has(c.id));
      if (expected.length === 0) return;
      await batch.nextJoin(Math.min(50, Math.max(1, deadline - Date.now())));
    }
  }

  /**
   * A host task whose process stopped (restart, dead replica). Its batch's other hosts ran in the
   * same ansible-runner and most of them have no queue job of their own any more (the leader
   * claimed them): they are finished here too, so none stays `running` for ever.
   */
  async recover(handle: TaskHandle): Promise<void> {
    const { engine } = this.o;
    const deadOwner = handle.task.owner;
    await this.recoverOne(handle, deadOwner);
    const parentId = handle.task.parentId;
    if (!parentId || deadOwner === null) return;
    for (const child of await engine.store.children(parentId)) {
      if (child.id === handle.task.id || child.state !== 'running' || child.owner !== deadOwner || this.byTask.has(child.id)) continue;
      const sibling = await engine.handle(child.id);
      if (sibling) await this.recoverOne(sibling, deadOwner);
    }
  }

  /** Tasks recovered by this process (the engine may ask again for one a sibling's sweep finished). */
  private readonly recovered = new Set<string>();

  private async recoverOne(handle: TaskHandle, deadOwner: string | null): Promise<void> {
    const id = handle.task.id;
    if (this.recovered.has(id)) return;
    this.recovered.add(id);
    setTimeout(() => this.recovered.delete(id), 600_000).unref();
    const who = deadOwner && deadOwner !== this.o.engine.replicaId ? `The proxy (replica ${deadOwner})` : 'The proxy';
    await handle.output([debug(`${who} ${MESSAGES.recovered}`)]);
    await handle.finish('EXCEPTION');
  }

  async cancel(handle: TaskHandle, reason: AbortReason): Promise<boolean> {
    const batch = this.byTask.get(handle.task.id);
    if (!batch) return false;
    batch.abort(reason);
    return true;
  }

  /** Run the batch in one ansible-runner and finish every host task. */
  private async execute(batch: Batch, leader: TaskHandle): Promise<void> {
    const { log } = this.o;
    const finished = new Set<string>();
    const finishOne = async (h: TaskHandle, status: ExitStatus, line?: string): Promise<void> => {
      if (finished.has(h.task.id)) return;
      finished.add(h.task.id);
      if (line !== undefined) await h.output([debug(line)]).catch(() => undefined);
      await h.finish(status);
    };
    // One host name once: a second task with the same name cannot have its own inventory entry.
    const hosts = new Map<string, TaskHandle>();
    for (const h of batch.members.values()) {
      const name = String(h.task.input.name);
      if (hosts.has(name)) await finishOne(h, 'EXCEPTION', `Invalid input for this host: name: another host of this batch is also called '${name}'`);
      else hosts.set(name, h);
    }
    const onAbort = (reason: unknown): void => batch.abort((reason as AbortReason | undefined) ?? 'cancelled');
    const detach: Array<() => void> = [];
    for (const h of hosts.values()) {
      const listener = (): void => onAbort(h.signal.reason);
      h.signal.addEventListener('abort', listener, { once: true });
      detach.push(() => h.signal.removeEventListener('abort', listener));
      if (h.signal.aborted) onAbort(h.signal.reason);
    }
    // What the run created on disk, set as soon as it exists (removed whatever happens).
    const files: RunFiles = { keep: leader.task.input.cleanup_working_dirs === false };
    try {
      const result = await this.runBatch(batch, hosts, finishOne, files);
      this.o.metrics?.runEnded(result);
    } catch (err) {
      this.o.metrics?.runEnded('error');
      log.error(`ansible-runner batch of task ${leader.task.id} failed: ${errorText(err)}`, err);
      for (const h of hosts.values()) await finishOne(h, 'EXCEPTION', `Proxy error: ${errorText(err)}`).catch(() => undefined);
    } finally {
      for (const d of detach) d();
      await this.release(files);
    }
  }

  /** Prepare the private directory, run, route the events. */
  private async runBatch(batch: Batch, hosts: Map<string, TaskHandle>, finishOne: (h: TaskHandle, status: ExitStatus, line?: string) => Promise<void>, files: RunFiles): Promise<string> {
    const o = this.o;
    const first = [...hosts.values()][0];
    if (!first) return 'finished';
    const input = first.task.input;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (typeof v === 'string') env[k] = v;
    // The most frequent set-up error (spec §3.5): say what is missing. The environment file may
    // change PATH, so with one the shell's answer (exit 127) is awaited instead.
    const missing = `${o.runnerCommand} was not found on the proxy (PATH=${env.PATH ?? ''}); install ansible-runner (Debian/Ubuntu: python3-ansible-runner, EL: ansible-runner) or set ansible_runner_command in ansible.yml`;
    const found = await findCommand(o.runnerCommand, env.PATH);
    const command = found ?? ((await pathExists(o.environmentFile)) ? o.runnerCommand : undefined);
    if (command === undefined) {
      for (const h of hosts.values()) await finishOne(h, 'EXCEPTION', missing);
      return 'no_runner';
    }
    const runHosts: RunHost[] = [...hosts.entries()].map(([name, h]) => ({ name, input: h.task.input, secrets: h.secrets() }));
    const inventory = buildInventory(runHosts, o.identityKeyFile());
    const secrets = runHosts[0]?.secrets ?? {};
    const passphrase = str(secrets.key_passphrase);

    // A private directory (mkdtemp: mode 0700) holds the only copy of the passwords on disk.
    const base = o.workingDir ?? tmpdir();
    const dir = await mkdtemp(join(base, RUN_DIR_PREFIX));
    files.dir = dir;
    const marker = (extra: Record<string, unknown> = {}): Promise<void> =>
      writeFile(join(dir, RUN_MARKER), JSON.stringify({ pid: process.pid, batch: batch.key, artifactLink: files.artifactLink, ...extra }), { mode: 0o600 });
    await marker();
    for (const sub of ['inventory', 'project', 'env']) await mkdir(join(dir, sub), { mode: 0o700 });
    await writeFile(join(dir, 'inventory', 'hosts.json'), JSON.stringify(inventory), { mode: 0o600, flag: 'wx' });
    await writeFile(join(dir, 'project', 'playbook.yml'), String(input.script).replace(/\r/g, ''), { mode: 0o600, flag: 'wx' });
    if (passphrase !== undefined) {
      // ansible-runner loads env/ssh_key into an ssh-agent and answers ssh-add's prompts from
      // env/passwords (a regex of the prompt → the answer). A wrong passphrase makes ssh-add ask
      // again with another prompt: answered empty, which ends ssh-add (the hosts are then
      // unreachable), where the plugin's single regex sent the wrong one again for ever.
      await symlink(o.identityKeyFile(), join(dir, 'env', 'ssh_key'));
      // ansible-runner only searches the last 100 characters of the output for a prompt, and
      // ssh-add's prompt names the key under the artifacts directory: a short link to that
      // directory keeps the start of the prompt in the window whatever working_dir is (the
      // plugin's runs hung on the prompt with a long working_dir).
      await mkdir(join(dir, 'artifacts'), { mode: 0o700 });
      const link = join(tmpdir(), `${ARTIFACT_LINK_PREFIX}${randomUUID().slice(0, 8)}`);
      await symlink(join(dir, 'artifacts'), link);
      files.artifactLink = link;
      await marker();
      const prompts = { 'Enter passphrase for .*ssh_key_data:': passphrase, 'Bad passphrase, try again for .*ssh_key_data:': '' };
      await writeFile(join(dir, 'env', 'passwords'), toYaml(prompts), { mode: 0o600, flag: 'wx' });
    }
    await this.pruneKnownHosts(runHosts.filter((h) => h.input.first_execution === true).map((h) => inventory.all.hosts[h.name] ?? {}));

    const paths = await o.paths();
    Object.assign(env, o.foremanEnv, {
      // The listing routes and the runs use the same paths (spec §3.5); the environment file,
      // sourced after, may still set its own.
      ANSIBLE_ROLES_PATH: paths.roles.join(':'),
      ANSIBLE_COLLECTIONS_PATH: paths.collections.join(':'),
    });
    if (input.remote_execution_command === true) env.FOREMAN_CALLBACK_DISABLE = '1';
    const args = ['run', dir, '-p', 'playbook.yml', '--ident', randomUUID().slice(0, 8), '-j'];
    if (files.artifactLink !== undefined) args.push('--artifact-dir', files.artifactLink);
    const cmdline = cmdlineOf(input);
    if (cmdline !== '') args.push('--cmdline', cmdline);
    const verbosity = verbosityOf(input.verbosity_level) ?? 0;
    if (verbosity > 0) args.push(`-${'v'.repeat(verbosity)}`);

    const router = new EventRouter(hosts.keys());
    const buffers = new Map<string, Entry[]>([...hosts.keys()].map((n) => [n, []]));
    const chains = new Map<string, Promise<void>>();
    const push = (host: string | undefined, entry: Entry): void => {
      if (host !== undefined) buffers.get(host)?.push(entry);
      else for (const b of buffers.values()) b.push(entry);
    };
    const flush = (): Promise<void> => {
      const writes: Promise<void>[] = [];
      for (const [name, entries] of buffers) {
        if (entries.length === 0) continue;
        const h = hosts.get(name) as TaskHandle;
        const batchOut = entries.splice(0);
        const next = (chains.get(name) ?? Promise.resolve()).then(() => h.output(batchOut));
        chains.set(name, next.catch((err: unknown) => o.log.warn(`storing output of task ${h.task.id}: ${errorText(err)}`)));
        writes.push(next.catch(() => undefined));
      }
      return Promise.all(writes).then(() => undefined);
    };
    const onLine = (line: string): void => {
      if (line.trim() === '') return;
      let event: RunnerEvent;
      try {
        event = JSON.parse(line) as RunnerEvent;
      } catch {
        push(undefined, { output_type: 'stdout', output: `${line}\n`, timestamp: now() });
        return;
      }
      for (const r of router.handle(event)) push(r.host, r.entry);
    };
    let proc: RunnerProcess | undefined;
    const flusher = setInterval(() => void flush(), FLUSH_MS);
    const deadlineS = Math.min(...[...hosts.values()].map((h) => timeoutOf(h.task.input) ?? Infinity));
    const deadline = Number.isFinite(deadlineS) ? setTimeout(() => batch.abort('timeout'), deadlineS * 1000) : undefined;
    const abortPoll = setInterval(() => {
      void o.engine.store
        .abortRequestsFor(o.engine.replicaId)
        .then((requests) => {
          const hit = requests.find((r) => batch.members.has(r.id));
          if (hit) batch.abort(hit.reason);
        })
        .catch(() => undefined);
    }, ABORT_POLL_MS);
    const onAbort = (): void => {
      const reason = batch.controller.signal.reason as AbortReason;
      push(undefined, { output_type: reason === 'timeout' ? 'stderr' : 'debug', output: `${MESSAGES[reason] ?? MESSAGES.cancelled}\n`, timestamp: now() });
      void proc?.stop(o.killGraceMs);
    };
    batch.controller.signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (batch.controller.signal.aborted) {
        onAbort();
      } else {
        o.log.debug(`running ansible-runner for ${hosts.size} hosts in ${dir}`);
        proc = startRunner({
          command,
          args,
          env,
          environmentFile: o.environmentFile,
          cwd: dir,
          onLine,
          onStderr: (text) => push(undefined, { output_type: 'stderr', output: text, timestamp: now() }),
        });
        // A proxy killed now leaves ansible-runner behind: the next start stops it (api.ts).
        o.metrics?.runStarted();
        await marker({ runnerPid: proc.pid });
      }
      const result = proc ? await proc.exited : { code: null, signal: null };
      if (result.code === 127 && found === undefined && !router.sawEvents) push(undefined, debug(missing));
      const aborted = batch.controller.signal.aborted;
      const reason = batch.controller.signal.reason as AbortReason | undefined;
      clearInterval(flusher);
      await flush();
      await Promise.all(chains.values());
      // The passwords leave the disk before Foreman hears that any host is done, so a finished
      // job never has secrets lying beside it (and nothing races the next job's listing).
      if (proc) await proc.stop(0).catch(() => undefined);
      await this.release(files);
      for (const [name, h] of hosts) {
        let status = router.exitStatus(name, { code: result.code, aborted });
        // The proxy is stopping: the run did not fail on its own.
        if (aborted && reason === 'shutdown') status = 'EXCEPTION';
        const note = !aborted && router.processed(name) === false ? MESSAGES.noPlay : undefined;
        o.metrics?.hostResult(status);
        await finishOne(h, status, note);
      }
      return aborted ? (reason ?? 'cancelled') : 'finished';
    } finally {
      clearInterval(flusher);
      clearInterval(abortPoll);
      clearTimeout(deadline);
      batch.controller.signal.removeEventListener('abort', onAbort);
      if (proc) {
        await proc.stop(0).catch(() => undefined);
        o.metrics?.runStopped();
      }
    }
  }

  /** Remove a first-execution host's old keys from known_hosts (spec §3.4 step 2, §3.5). */
  private async pruneKnownHosts(hostVars: readonly Record<string, unknown>[]): Promise<void> {
    const file = this.o.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts');
    if (hostVars.length === 0) return;
    if (!(await pathExists(file))) return;
    const keygen = await findCommand('ssh-keygen');
    if (!keygen) return;
    for (const name of new Set(hostVars.flatMap(knownHostsNames))) {
      const r = await runCommand(keygen, ['-R', name, '-f', file], { timeoutMs: 10_000 }).catch((err: unknown) => ({ code: -1, stderr: errorText(err) }));
      if (r.code !== 0) this.o.log.warn(`could not prune ${name} from ${file}: ${r.stderr.trim()}`);
    }
  }

  /** Remove what the run created, once. */
  private async release(files: RunFiles): Promise<void> {
    if (files.released) return;
    files.released = true;
    if (files.artifactLink !== undefined) await unlink(files.artifactLink).catch(() => undefined);
    if (files.dir !== undefined) await this.cleanup(files.dir, files.keep === true);
  }

  /** Remove the run directory; a kept one (cleanup_working_dirs false) loses its passwords only. */
  private async cleanup(dir: string, keep: boolean): Promise<void> {
    try {
      if (!keep) {
        await rm(dir, { recursive: true, force: true });
        return;
      }
      await unlink(join(dir, 'env', 'passwords')).catch(() => undefined);
      const hostsFile = join(dir, 'inventory', 'hosts.json');
      const inv = JSON.parse(await readFile(hostsFile, 'utf8')) as Parameters<typeof withoutPasswords>[0];
      await writeFile(hostsFile, JSON.stringify(withoutPasswords(inv)), { mode: 0o600 });
      await writeFile(join(dir, RUN_MARKER), JSON.stringify({ kept: true }), { mode: 0o600 });
      this.o.log.info(`kept the run directory ${dir} (cleanup_working_dirs is false); its passwords were removed`);
    } catch (err) {
      this.o.log.warn(`cleaning up ${dir}: ${errorText(err)}`);
    }
  }
}

/** `--cmdline` of ansible-runner: tags, check and diff mode (spec §3.4). */
export function cmdlineOf(input: Record<string, unknown>): string {
  const parts: string[] = [];
  const tags = tagsOf(input.tags);
  if (Array.isArray(tags) && tags.length > 0) parts.push(`${input.tags_flag === 'exclude' ? '--skip-tags' : '--tags'} ${tags.join(',')}`);
  const command = input.remote_execution_command === true;
  if (input.job_check_mode === true || (input.check_mode === true && !command)) parts.push('--check');
  if (input.diff_mode === true) parts.push('--diff');
  return parts.join(' ');
}
