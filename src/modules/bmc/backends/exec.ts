// Running a BMC tool: through core/spawn (no shell, deadline), turning a non-zero exit, a timeout
// or a missing binary into a `BmcError.failed` whose message says which tool and why.

import { run, SpawnError, type RunResult } from '../../../core/spawn.ts';
import type { Deadline } from './deadline.ts';
import { BmcError } from '../errors.ts';

export interface ExecOptions {
  deadline: Deadline;
  env?: Record<string, string>;
  /** Accept these exit codes as success as long as stdout is non-empty. */
  lenientExit?: boolean;
}

export async function execTool(label: string, cmd: string, args: readonly string[], opts: ExecOptions): Promise<RunResult> {
  let res: RunResult;
  const timeoutMs = opts.deadline.next(label);
  try {
    res = await run(cmd, args, { timeoutMs, env: opts.env, maxOutputBytes: 256 * 1024 });
  } catch (err) {
    if (err instanceof SpawnError) throw BmcError.failed(`${label}: ${err.message}`);
    throw err;
  }
  if (res.timedOut) throw opts.deadline.expired(label);
  if (res.code !== 0 && !(opts.lenientExit && res.stdout.trim() !== '')) {
    const why = (res.stderr.trim() || res.stdout.trim() || `exit status ${res.code ?? res.signal}`).split('\n').slice(-3).join(' ');
    throw BmcError.failed(`${label}: ${why}`);
  }
  return res;
}
