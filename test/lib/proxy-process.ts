// Runs the whole proxy binary (src/main.ts under the pinned Node) as a child process and waits for
// its readiness line, so tests exercise the real CLI, settings loading, listeners and signals.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = `${ROOT}src/main.ts`;

export interface ProxyProcess {
  child: ChildProcess;
  pid: number;
  listeners: { name: string; addresses: { host: string; port: number }[] }[];
  stdout(): string;
  stderr(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export interface ProxyExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion (for `check`, `--version`, and start-up failures). */
export async function runProxyCli(args: string[], timeoutMs = 20_000): Promise<ProxyExit> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export async function startProxyProcess(args: string[], timeoutMs = 20_000): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SMART_PROXY_PRINT_READY: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const ready = new Promise<ProxyProcess['listeners']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy not ready after ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{"ready"')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { ready: ProxyProcess['listeners'] }).ready);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`proxy exited with ${code} before it was ready: ${stderr}`));
    });
  });
  const listeners = await ready;
  return {
    child,
    pid: child.pid as number,
    listeners,
    stdout: () => stdout,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

/** Port of the named listener's first address. */
export function portOf(p: ProxyProcess, name: string): number {
  const l = p.listeners.find((x) => x.name === name);
  if (!l) throw new Error(`no listener '${name}'`);
  return l.addresses[0].port;
}
