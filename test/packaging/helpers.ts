// Shared by the packaging tests: the demo settings copied with free ports, a proxy started as any
// command (source, single executable, podman) and awaited through its readiness line, a TFTP fetch
// with the real tftp-hpa client, and the single executable built once per test process.

import { spawn, type ChildProcess } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileP, requireCommand } from '../lib/procs.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DEMO_DIR = join(ROOT, 'config/demo');

/** The demo's fixed ports, as config/demo/settings*.yml and the README give them. */
export const DEMO_HTTP_PORT = 8000;
export const DEMO_TFTP_PORT = 6969;

function replaceOnce(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from)) throw new Error(`${file} no longer contains '${from}'; update test/packaging/helpers.ts`);
  return text.replace(from, to);
}

/**
 * config/demo copied to `dest` with its two ports replaced by free ones, so tests can run beside a
 * demo someone started. Nothing else changes: the relative boot tree path comes along.
 */
export async function copyDemo(dest: string, httpPort: number, tftpPort: number): Promise<void> {
  await cp(DEMO_DIR, dest, { recursive: true });
  const settings = join(dest, 'settings.yml');
  await writeFile(settings, replaceOnce(await readFile(settings, 'utf8'), `:http_port: ${DEMO_HTTP_PORT}`, `:http_port: ${httpPort}`, settings));
  const tftp = join(dest, 'settings.d/tftp.yml');
  await writeFile(tftp, replaceOnce(await readFile(tftp, 'utf8'), `:builtin_server_port: ${DEMO_TFTP_PORT}`, `:builtin_server_port: ${tftpPort}`, tftp));
}

export interface Started {
  child: ChildProcess;
  /** Milliseconds from spawn to the readiness line. */
  readyMs: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Spawns `cmd args` with SMART_PROXY_PRINT_READY=1 (passed through `env`) and waits for the
 * `{"ready"…}` line on stdout; logs go to stdout too (log_file STDOUT), all kept for failure messages.
 */
export async function startUntilReady(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Started> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const readyMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${cmd} not ready after ${opts.timeoutMs ?? 30_000} ms:\n${out}`)), opts.timeoutMs ?? 30_000);
      child.stdout.on('data', () => {
        if (!out.includes('{"ready"')) return;
        clearTimeout(timer);
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${cmd} exited with ${code} before it was ready:\n${out}`));
      });
    });
    return { child, readyMs, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * `tftp 127.0.0.1 PORT -c get REMOTE LOCAL` with tftp-hpa; returns the fetched bytes as text.
 * `readmeForm`: exactly the README's command (tftp-hpa's default netascii mode, saved under
 * the remote's name) instead of a binary transfer.
 */
export async function tftpFetch(port: number, remote: string, dir: string, readmeForm = false): Promise<string> {
  const local = join(dir, readmeForm ? basename(remote) : `tftp-${remote.replaceAll('/', '_')}`);
  const args = readmeForm ? ['127.0.0.1', String(port), '-c', 'get', remote, local] : ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', remote, local];
  const { stdout, stderr } = await execFileP(requireCommand('tftp'), args, { cwd: dir, timeout: 30_000 });
  try {
    return await readFile(local, 'utf8');
  } catch {
    // tftp-hpa exits 0 on errors; its message is the useful part
    throw new Error(`tftp get ${remote} from port ${port} failed: ${stdout}${stderr}`);
  }
}

let built: Promise<string> | undefined;

/** Builds the single executable into `dir` the first time it is asked for in this process. */
export function seaExecutable(dir: string): Promise<string> {
  built ??= (async () => {
    const { buildSea } = await import('../../scripts/build-sea.ts');
    return (await buildSea(join(dir, 'smart-proxy'))).executable;
  })();
  return built;
}
