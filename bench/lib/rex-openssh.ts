// The reference proxy's way of running a script on one host (spec remote-execution.md §4), as a
// baseline: one OpenSSH process tree per host — a ControlMaster connection, then a short-lived
// `ssh` client over the control socket for each step (auth probe, mkdir, preflight upload/run/rm,
// uploads of script, wrapper and output file, the run with a terminal, rm -rf, -O exit), and
// `ssh-keygen -y` checking the key first: 13 processes per host. Our own approximation of the
// reference's behaviour, not its code.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../../test/lib/procs.ts';

export interface OpenSshConfig {
  readonly user: string;
  readonly keyFile: string;
  readonly knownHostsFile: string;
  /** Local directory holding the control sockets. */
  readonly socketDir: string;
  /** Remote base directory (the run uses <dir>/foreman-ssh-cmd-<runner id>). */
  readonly remoteWorkingDir: string;
  readonly script: string;
  readonly connectTimeoutMs: number;
}

export interface HostResult {
  readonly exitStatus: number | 'EXCEPTION';
  readonly stdout: string;
  readonly processes: number;
  readonly error?: string;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** PIDs of the ssh processes alive now: killed if this process exits early, so none outlives it. */
const live = new Set<number>();
process.on('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function track(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  live.add(pid);
  child.once('exit', () => live.delete(pid));
}

function run(cmd: string, args: readonly string[], stdin?: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    track(child);
    // a client that dies before reading its input (connection refused …) reports it by its exit code
    child.stdin?.on('error', () => undefined);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

// The two-stage wrapper of spec §4.7, written for this bench.
const WRAPPER = `#!/bin/sh
if [ "$1" != inner ]; then
  if unshare --fork --kill-child true >/dev/null 2>&1; then exec unshare --fork --kill-child "$0" inner; fi
  exec "$0" inner
fi
d=$(dirname "$0")
echo $$ > "$d/pid"
( "$d/script" < /dev/null; echo $? > "$d/exit_code" ) | tee "$d/output"
c=$(cat "$d/exit_code" 2>/dev/null)
exit \${c:-1}
`;

export async function runOpenSshHost(host: string, port: number, cfg: OpenSshConfig): Promise<HostResult> {
  const runnerId = randomUUID();
  const socket = join(cfg.socketDir, runnerId);
  const dir = `${cfg.remoteWorkingDir}/foreman-ssh-cmd-${runnerId}`;
  let processes = 0;
  const masterOptions = [
    '-o', `User=${cfg.user}`,
    '-o', `Port=${port}`,
    '-o', `IdentityFile=${cfg.keyFile}`,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `UserKnownHostsFile=${cfg.knownHostsFile}`,
    '-o', 'LogLevel=error',
    '-o', `ControlPath=${socket}`,
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=3',
    '-o', `ConnectTimeout=${Math.ceil(cfg.connectTimeoutMs / 1000)}`,
    '-o', 'PreferredAuthentications=publickey',
    '-o', 'NumberOfPasswordPrompts=0',
  ];
  const ssh = (command: string, stdin?: string, tty = false): Promise<Ran> => {
    processes++;
    return run('ssh', ['-o', `ControlPath=${socket}`, '-o', 'LogLevel=quiet', ...(tty ? ['-tt'] : []), host, command], stdin);
  };
  const must = async (what: string, command: string, stdin?: string): Promise<void> => {
    const r = await ssh(command, stdin);
    if (r.code !== 0) throw new Error(`${what}: exit ${r.code}: ${r.stderr.trim()}`);
  };
  const upload = (name: string, content: string, mode: string): Promise<void> =>
    must(`upload ${name}`, `tee ${dir}/${name} >/dev/null && chmod ${mode} ${dir}/${name}`, content);

  processes++;
  const keyCheck = await run('ssh-keygen', ['-y', '-f', cfg.keyFile]);
  if (keyCheck.code !== 0) return { exitStatus: 'EXCEPTION', stdout: '', processes, error: `ssh-keygen -y: ${keyCheck.stderr}` };

  // The reference lets its first `ssh … true` become a persisting master (ControlPersist=yes), which
  // daemonises away from the proxy; here the master stays a child (-N, foreground) so that its CPU
  // and memory are counted, and the auth probe `true` runs over it.
  processes++;
  const master = spawn('ssh', [...masterOptions, '-M', '-N', '-o', 'ControlPersist=no', host], { stdio: ['ignore', 'ignore', 'pipe'] });
  track(master);
  let masterErr = '';
  master.stderr.setEncoding('utf8').on('data', (s: string) => (masterErr += s));
  const masterClosed = new Promise<void>((resolve) => master.once('close', () => resolve()));
  let masterGone = false;
  void masterClosed.then(() => (masterGone = true));
  try {
    const until = Date.now() + cfg.connectTimeoutMs;
    for (;;) {
      if (masterGone) throw new Error(`master connection failed: ${masterErr.trim()}`);
      if (await access(socket).then(() => true, () => false)) break;
      if (Date.now() > until) throw new Error('master connection timed out');
      await sleep(5);
    }
    await must('auth probe', 'true');
    await must('mkdir', `mkdir -p ${dir}`);
    // preflight: can a script be executed there?
    await upload('script', '#!/bin/sh\nexec true\n', '0500');
    await must('preflight', `${dir}/script`);
    await must('preflight cleanup', `rm ${dir}/script`);
    await upload('script', cfg.script.replace(/\r/g, ''), '0500');
    await upload('script-wrapper', WRAPPER, '0500');
    await upload('output', '', '0600');
    const main = await ssh(`${dir}/script-wrapper`, '', true);
    const cleanup = await ssh(`rm -rf ${dir}`);
    return {
      exitStatus: main.code ?? 'EXCEPTION',
      stdout: main.stdout,
      processes,
      error: cleanup.code === 0 ? undefined : `cleanup: exit ${cleanup.code}`,
    };
  } catch (err) {
    return { exitStatus: 'EXCEPTION', stdout: '', processes, error: (err as Error).message };
  } finally {
    if (!masterGone) {
      processes++;
      await run('ssh', ['-o', `ControlPath=${socket}`, '-O', 'exit', host]).catch(() => undefined);
      const stopped = await Promise.race([masterClosed.then(() => true), sleep(2000).then(() => false)]);
      if (!stopped) master.kill('SIGKILL');
      await masterClosed;
    }
  }
}
