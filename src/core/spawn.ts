// The one way the proxy runs external commands: never through a shell, always with a deadline,
// output capped, secrets passed through the environment or stdin (never argv).

import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Extra environment (merged over a minimal PATH/LANG environment, not the proxy's own). */
  env?: Record<string, string>;
  /** Written to stdin, then stdin is closed. */
  input?: string | Uint8Array;
  /** Kill the process (TERM, then KILL after 2 s) when it runs longer than this. */
  timeoutMs: number;
  signal?: AbortSignal;
  cwd?: string;
  /** Bytes kept of each of stdout and stderr (default 1 MiB); the rest is dropped. */
  maxOutputBytes?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export class SpawnError extends Error {
  readonly command: string;
  constructor(command: string, message: string) {
    super(message);
    this.name = 'SpawnError';
    this.command = command;
  }
}

const BASE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
  LC_ALL: 'C',
};

/** Run `cmd args…` and collect its output. Rejects only when the command cannot be started. */
export function run(cmd: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const max = options.maxOutputBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      shell: false,
      cwd: options.cwd,
      env: { ...BASE_ENV, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      signal: options.signal,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
      killTimer.unref();
    }, options.timeoutMs);

    child.stdout.on('data', (b: Buffer) => {
      if (outLen < max) out.push(b.subarray(0, max - outLen));
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < max) err.push(b.subarray(0, max - errLen));
      errLen += b.length;
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      const reason = e.code === 'ENOENT' ? 'command not found' : e.message;
      reject(new SpawnError(cmd, `${cmd}: ${reason}`));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      resolve({
        code,
        signal: sig,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    child.stdin.on('error', () => undefined); // the command may exit without reading stdin
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
