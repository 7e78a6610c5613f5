// The `salt` operation on the dynflow engine (spec plugins.md §8.1): Foreman's Salt remote
// execution provider launches a batch with operation `salt`; each host's task runs
// `sudo -n -u <salt_command_user> salt --show-jid [--saltfile=<saltfile>] <minion> state.template_str <script>`
// on the master, without a shell, streaming its output into the task. A run in which Salt reports
// no job id (`jid: <digits>`) did not reach a minion and is reported as exit status 1, as in the
// reference. Cancel: `== TASK ABORTED BY USER ==`, exit 1, SIGTERM (SIGKILL after a grace).

import { spawn } from 'node:child_process';
import { Bulkhead } from '../../core/bulkhead.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { Operation, OutputEntry, TaskHandle } from '../dynflow/types.ts';
import { asSaltUser, proxyPath } from './commands.ts';
import { minionProblem } from './names.ts';
import { pathExists } from '../../lib/fs/exists.ts';

/** What Foreman's RemoteExecutionProvider sends; the reference ran any action class as a salt run. */
export const RUN_SCRIPT_ACTION = 'Proxy::RemoteExecution::Ssh::Actions::RunScript';
export const ABORTED = '== TASK ABORTED BY USER ==';
/** Linux refuses one argv string longer than 128 KiB (MAX_ARG_STRLEN); the script is one. */
export const MAX_SCRIPT_BYTES = 128 * 1024 - 1;
const JID = /jid: ([0-9]+)/;

export interface SaltOperationOptions {
  readonly user: string;
  /** Passed as --saltfile when the file exists at run time (as the reference checks). */
  readonly saltfile: string;
  readonly bulkhead: Bulkhead;
  readonly killGraceMs: number;
  readonly log: Logger;
}

function entry(type: OutputEntry['output_type'], output: string): Omit<OutputEntry, 'id'> {
  return { output_type: type, output, timestamp: Date.now() / 1000 };
}

/** The minion a task targets: `name` (foreman_salt adds it), else `hostname`. */
export function minionOf(input: Record<string, unknown>): unknown {
  return typeof input.name === 'string' && input.name !== '' ? input.name : input.hostname;
}

export class SaltOperation implements Operation {
  readonly name = 'salt';
  readonly actionClasses = [RUN_SCRIPT_ACTION];
  readonly secretKeys = ['secrets'] as const;
  private readonly o: SaltOperationOptions;

  constructor(options: SaltOperationOptions) {
    this.o = options;
  }

  validate(input: Record<string, unknown>): { field: string; message: string } | undefined {
    const target = minionOf(input);
    const problem = minionProblem(target);
    if (problem) return { field: typeof input.name === 'string' && input.name !== '' ? 'name' : 'hostname', message: problem };
    if (typeof input.script !== 'string' || input.script === '') return { field: 'script', message: 'is required (the Salt state template)' };
    if (Buffer.byteLength(input.script) > MAX_SCRIPT_BYTES) return { field: 'script', message: `is longer than ${MAX_SCRIPT_BYTES} bytes, the most one command argument may hold` };
    return undefined;
  }

  async run(handle: TaskHandle): Promise<void> {
    const input = handle.task.input;
    const minion = String(minionOf(input));
    const script = String(input.script).replace(/\r/g, '');
    let chain: Promise<void> = Promise.resolve();
    const write = (type: OutputEntry['output_type'], text: string): void => {
      chain = chain.then(() => handle.output([entry(type, text)]));
    };
    try {
      const status = await this.o.bulkhead.run(async () => {
        const { cmd, args } = await asSaltUser(this.o.user, 'salt');
        const argv = [...args, '--show-jid', ...((await pathExists(this.o.saltfile)) ? [`--saltfile=${this.o.saltfile}`] : []), minion, 'state.template_str', script];
        return this.spawnRun(handle, cmd, argv, write);
      });
      await chain;
      await handle.finish(status);
    } catch (err) {
      this.o.log.error(`salt run of task ${handle.task.id} failed: ${(err as Error).message}`);
      await chain.catch(() => undefined);
      await handle.output([entry('debug', `Proxy error: ${(err as Error).message}`)]).catch(() => undefined);
      await handle.finish('EXCEPTION');
    }
  }

  /** Run salt, streaming its output; resolves with the exit status to report. */
  private spawnRun(handle: TaskHandle, cmd: string, argv: string[], write: (type: OutputEntry['output_type'], text: string) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      if (handle.signal.aborted) return resolve(1);
      let jid: string | undefined;
      // The start of stdout, where salt prints the jid (it may arrive split across chunks).
      let head = '';
      let aborted = false;
      // detached: its own process group, so a kill reaches salt and not only sudo.
      const child = spawn(cmd, argv, { shell: false, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: proxyPath(), LANG: 'C.UTF-8' } });
      let killTimer: NodeJS.Timeout | undefined;
      const killGroup = (signal: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, signal);
        } catch {
          // already gone
        }
      };
      const onAbort = (): void => {
        aborted = true;
        const reason: unknown = handle.signal.reason;
        write('stdout', reason === 'timeout' ? `${ABORTED} (execution timeout)\n` : `${ABORTED}\n`);
        killGroup('SIGTERM');
        killTimer = setTimeout(() => killGroup('SIGKILL'), this.o.killGraceMs);
        killTimer.unref();
      };
      handle.signal.addEventListener('abort', onAbort, { once: true });
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (text: string) => {
        if (jid === undefined && head.length < 65536) {
          head += text;
          jid = JID.exec(head)?.[1];
        }
        write('stdout', text);
      });
      child.stderr.on('data', (text: string) => write('stderr', text));
      child.on('error', (err) => {
        handle.signal.removeEventListener('abort', onAbort);
        reject(err);
      });
      child.on('close', (code) => {
        handle.signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        if (aborted) return resolve(1);
        if (jid === undefined) {
          write('debug', 'Salt reported no job id: the run did not reach the minion');
          return resolve(1);
        }
        resolve(code ?? 1);
      });
    });
  }

  async recover(handle: TaskHandle): Promise<void> {
    await handle.output([entry('debug', 'the proxy stopped while this salt run was in progress; it may have run partly')]);
    await handle.finish('EXCEPTION');
  }
}
