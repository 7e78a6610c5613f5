// A real OpenSSH server for the SSH runner's tests: sshd on loopback (one or several 127.x
// addresses, a free port) with its own host key, per-user authorized_keys, password login, and
// throw-away local users created with useradd (unique `rx<random>` names):
//
//   nopw   — logs in with the test key; sudo without password (NOPASSWD)
//   pw     — logs in with the key or its password; sudo asks for its password
//   target — the effective user to switch to; has a password (for `su`)
//
// plus a sudoers drop-in under /etc/sudoers.d and a `dzdo` stand-in (Centrify's tool is not in
// Debian) on the PATH sshd gives sessions. stop() removes all of it: users (userdel -r), their
// leftover processes (by PID), the sudoers file, the temp dir. Needs root.

import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execFileP, freeTcpPort, removeDir, requireCommand, startDaemon, stopDaemon, tempDir, waitForDaemon, type Daemon } from './procs.ts';
import { connect } from 'node:net';

export interface TestUser {
  readonly name: string;
  readonly password: string;
}

export interface Sshd {
  readonly port: number;
  /** The addresses sshd listens on (the first is `host`). */
  readonly addresses: readonly string[];
  readonly host: string;
  readonly dir: string;
  /** Remote working base dir (mode 1777) for runs. */
  readonly workDir: string;
  /** `ssh-ed25519 <base64>` of sshd's host key. */
  readonly hostKey: string;
  /** Private key text accepted for `nopw` and `pw`. */
  readonly clientKey: string;
  /** The same kind of key, protected by `clientKeyPassphrase`. */
  readonly encryptedClientKey: string;
  readonly clientKeyPassphrase: string;
  readonly users: { readonly nopw: TestUser; readonly pw: TestUser; readonly target: TestUser };
  log(): string;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], stdin?: string): Promise<void> {
  // stdin carries secrets (chpasswd) so they never show in argv
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err}`))));
    child.stdin.end(stdin ?? '');
  });
}

const DZDO_STANDIN = `#!/bin/sh
# Test stand-in for Centrify's dzdo (not packaged in Debian): prompts "Password:" on the terminal
# the way dzdo does, then switches user through sudo, which checks that password for real.
if [ "$1" != -u ] || [ $# -lt 3 ]; then echo "dzdo stand-in: usage: dzdo -u USER COMMAND..." >&2; exit 2; fi
user=$2
shift 2
printf 'Password:' > /dev/tty
IFS= read -r pw < /dev/tty
printf '\\n' > /dev/tty
printf '%s\\n' "$pw" | sudo -S -k -p '' -u "$user" -- "$@"
`;

async function pidsOf(user: string): Promise<number[]> {
  try {
    const { stdout } = await execFileP(requireCommand('pgrep'), ['-u', user]);
    return stdout.split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

export async function startSshd(options: { addresses?: string[] } = {}): Promise<Sshd> {
  const sshdBin = requireCommand('sshd');
  const keygen = requireCommand('ssh-keygen');
  const useradd = requireCommand('useradd');
  const userdel = requireCommand('userdel');
  const chpasswd = requireCommand('chpasswd');
  const visudo = requireCommand('visudo');
  requireCommand('sudo');
  requireCommand('setfacl');

  const addresses = options.addresses ?? ['127.0.0.1'];
  const dir = await tempDir('rx-sshd');
  await chmod(dir, 0o755); // the test users must reach their authorized_keys and the dzdo stand-in
  const tag = randomBytes(3).toString('hex');
  const names = { nopw: `rx${tag}n`, pw: `rx${tag}p`, target: `rx${tag}t` };
  const users = {
    nopw: { name: names.nopw, password: `Nopw-${randomBytes(6).toString('hex')}` },
    pw: { name: names.pw, password: `Pw'$(x)-${randomBytes(6).toString('hex')}` },
    target: { name: names.target, password: `Tg;${randomBytes(6).toString('hex')}` },
  };
  const sudoersFile = `/etc/sudoers.d/rxtest-${tag}`;
  const created: string[] = [];
  let sshd: Daemon | undefined;

  const stop = async (): Promise<void> => {
    await stopDaemon(sshd);
    for (const name of created) {
      // leftovers of runs (a test that failed mid-way), stopped by PID
      for (const pid of await pidsOf(name)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await run(userdel, ['-r', '-f', name]).catch(() => undefined);
    }
    await rm(sudoersFile, { force: true });
    await removeDir(dir);
  };

  try {
    for (const user of Object.values(users)) {
      await run(useradd, ['-m', '-s', '/bin/sh', user.name]);
      created.push(user.name);
      await run(chpasswd, [], `${user.name}:${user.password}\n`);
    }
    const sudoers = [
      `Defaults:${names.pw} !lecture`,
      `${names.nopw} ALL=(ALL:ALL) NOPASSWD: ALL`,
      `${names.pw} ALL=(ALL:ALL) ALL`,
      '',
    ].join('\n');
    const sudoersTmp = join(dir, 'sudoers');
    await writeFile(sudoersTmp, sudoers, { mode: 0o440 });
    await execFileP(visudo, ['-c', '-q', '-f', sudoersTmp]);
    await writeFile(sudoersFile, sudoers, { mode: 0o440 });

    await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'rx-test', '-f', join(dir, 'id_plain')]);
    const clientKeyPassphrase = `pass ${randomBytes(4).toString('hex')}`;
    await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', clientKeyPassphrase, '-C', 'rx-test-enc', '-f', join(dir, 'id_enc')]);
    const pubKeys = (await readFile(join(dir, 'id_plain.pub'), 'utf8')) + (await readFile(join(dir, 'id_enc.pub'), 'utf8'));
    await mkdir(join(dir, 'authorized_keys'), { mode: 0o755 });
    for (const name of [names.nopw, names.pw]) await writeFile(join(dir, 'authorized_keys', name), pubKeys, { mode: 0o644 });

    await mkdir(join(dir, 'bin'), { mode: 0o755 });
    await writeFile(join(dir, 'bin', 'dzdo'), DZDO_STANDIN, { mode: 0o755 });
    const workDir = join(dir, 'work');
    await mkdir(workDir);
    await chmod(workDir, 0o1777);

    const port = await freeTcpPort(addresses[0]);
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation dir
    await writeFile(
      join(dir, 'sshd_config'),
      [
        `Port ${port}`,
        ...addresses.map((a) => `ListenAddress ${a}`),
        `HostKey ${join(dir, 'host_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}/%u`,
        `AllowUsers ${Object.values(names).join(' ')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin no',
        'UsePAM no',
        'StrictModes no',
        'MaxStartups 200',
        'MaxSessions 50',
        `SetEnv PATH=${join(dir, 'bin')}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
        'LogLevel VERBOSE',
        'UseDNS no',
        '',
      ].join('\n'),
    );
    await execFileP(sshdBin, ['-t', '-f', join(dir, 'sshd_config')]);
    sshd = startDaemon('sshd', sshdBin, ['-D', '-e', '-f', join(dir, 'sshd_config')], dir);
    const daemon = sshd;
    await waitForDaemon(daemon, 'sshd to answer', () => banner(addresses[0] as string, port));
    const hostKey = (await readFile(join(dir, 'host_key.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    return {
      port,
      addresses,
      host: addresses[0] as string,
      dir,
      workDir,
      hostKey,
      clientKey: await readFile(join(dir, 'id_plain'), 'utf8'),
      encryptedClientKey: await readFile(join(dir, 'id_enc'), 'utf8'),
      clientKeyPassphrase,
      users,
      log: () => daemon.log(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** True once something on host:port sends an SSH identification line. */
function banner(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('data', (d: Buffer) => done(d.toString('latin1').startsWith('SSH-')));
  });
}
