// One ansible-runner process: started without a shell of ours (the environment file is sourced by
// a fixed `sh` snippet, as the plugin's ansible-runner-environment wrapper does, with the command
// as positional arguments), in its own process group, its `-j` event stream read line by line,
// and stopped with SIGTERM then SIGKILL to it and every process below it (ansible-runner starts
// ansible-playbook in a new session, which a process-group signal alone would miss).

import { spawn } from 'node:child_process';
import { access, readFile, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createInterface } from 'node:readline';
import { isAbsolute, join } from 'node:path';

/** Sources the file named by SMART_PROXY_ANSIBLE_ENVIRONMENT_FILE when it exists, then runs "$@". */
const ENVIRONMENT_WRAPPER = '[ -f "$SMART_PROXY_ANSIBLE_ENVIRONMENT_FILE" ] && . "$SMART_PROXY_ANSIBLE_ENVIRONMENT_FILE"; exec "$@"';

export interface RunnerStart {
  /** ansible-runner (name on PATH or absolute path). */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Record<string, string>;
  /** Sourced first when it exists. */
  readonly environmentFile: string;
  readonly cwd: string;
  onLine(line: string): void;
  onStderr(text: string): void;
}

export interface RunnerProcess {
  readonly pid: number;
  /** Resolves when the process exited and its output was read to the end. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the process and its descendants, SIGKILL after `graceMs` if still there. */
  stop(graceMs: number): Promise<void>;
}

/** The absolute path of `command` on PATH, or undefined. */
export async function findCommand(command: string, path = process.env.PATH ?? ''): Promise<string | undefined> {
  const candidates = isAbsolute(command) || command.includes('/') ? [command] : path.split(':').filter(Boolean).map((d) => join(d, command));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** PIDs of every process below `root` (from /proc), deepest last. */
export async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return [];
  }
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        try {
          const stat = await readFile(`/proc/${n}/stat`, 'utf8');
          // "pid (comm) state ppid …": comm may hold spaces and parentheses.
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          const list = children.get(ppid) ?? [];
          list.push(Number(n));
          children.set(ppid, list);
        } catch {
          /* gone meanwhile */
        }
      }),
  );
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift() as number) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export function startRunner(o: RunnerStart): RunnerProcess {
  const child = spawn('/bin/sh', ['-c', ENVIRONMENT_WRAPPER, 'ansible-runner-environment', o.command, ...o.args], {
    cwd: o.cwd,
    env: { ...o.env, SMART_PROXY_ANSIBLE_ENVIRONMENT_FILE: o.environmentFile },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start /bin/sh for ansible-runner');
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  lines.on('line', (line) => o.onLine(line));
  const stdoutDone = new Promise<void>((resolve) => lines.once('close', resolve));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => o.onStderr(text));
  const stderrDone = new Promise<void>((resolve) => child.stderr.once('close', resolve));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, sig) => resolve({ code, signal: sig }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let running = true;
  const exited = Promise.all([exit, stdoutDone, stderrDone]).then(([r]) => {
    running = false;
    return r;
  });

  return {
    pid,
    exited,
    async stop(graceMs) {
      if (!running) return;
      const below = await descendants(pid);
      // ansible-runner stops ansible-playbook itself on SIGTERM; the processes below get theirs too
      // in case it cannot.
      signal(-pid, 'SIGTERM');
      for (const p of below) signal(p, 'SIGTERM');
      const timer = new Promise<'grace'>((resolve) => setTimeout(() => resolve('grace'), graceMs).unref());
      if ((await Promise.race([exited, timer])) !== 'grace') return;
      const now = new Set([...below, ...(await descendants(pid))]);
      signal(-pid, 'SIGKILL');
      for (const p of now) signal(p, 'SIGKILL');
      await exited;
    },
  };
}
