// Loopback SSH "hosts" for the remote-execution push bench: several real sshd daemons, each
// listening on up to 16 addresses in 127.10.0.0/16 (sshd accepts at most 16 listen sockets per
// daemon), one host key and one client key for all, root login with that key only. N bench hosts
// are spread round-robin over the endpoints; every one is a separate SSH connection.
//
// The login user is a system user made for the bench (`rex-bench`, shell /bin/sh, removed again
// at the end): root's own shell start-up files on a developer machine can be arbitrarily slow
// (one here spawns ~100 processes per session), which would measure that machine, not SSH.

import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execFileP, freeTcpPort, requireCommand, startDaemon, stopDaemon, waitForDaemon, type Daemon } from '../../test/lib/procs.ts';

export interface SshEndpoint {
  readonly host: string;
  readonly port: number;
}

export interface SshTargets {
  /** The login user on every endpoint. */
  readonly user: string;
  readonly endpoints: readonly SshEndpoint[];
  /** Client private key file (no passphrase) and its text. */
  readonly keyFile: string;
  readonly privateKey: string;
  /** `<type> <base64>` of the host key every daemon presents. */
  readonly hostPublicKey: string;
  /** Base directory for the remote working dirs (the "hosts" are this machine). */
  readonly remoteDir: string;
  readonly daemons: readonly Daemon[];
  /** CPU seconds the daemons and their reaped per-connection children used so far (host side). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export interface SshTargetOptions {
  readonly dir: string;
  readonly daemons: number;
  readonly addressesPerDaemon: number;
  /** `ed25519` (fast) or `rsa` (what the reference's installer generates). */
  readonly keyType: 'ed25519' | 'rsa';
}

const MAX_LISTEN_SOCKETS = 16;
export const BENCH_USER = 'rex-bench';
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime + cutime + cstime of one process, in seconds (0 once it is gone). */
export function processTreeCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the parenthesised command name (which may hold spaces)
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime is field 14 → rest[11]
    const ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
    return ticks / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

function bannerReceived(endpoint: SshEndpoint): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(endpoint.port, endpoint.host);
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('data', (b: Buffer) => done(b.toString('latin1').startsWith('SSH-2.0')));
  });
}

/** Create the bench user, or re-home one left over from an interrupted run; it is removed at the end. */
async function ensureBenchUser(home: string): Promise<true> {
  const exists = await execFileP('id', ['-u', BENCH_USER]).then(() => true, () => false);
  // password field `*`: no password login, but not "locked" (`!`), which sshd refuses without PAM
  if (exists) await execFileP(requireCommand('usermod'), ['--home', home, '--shell', '/bin/sh', '--password', '*', BENCH_USER]);
  else await execFileP(requireCommand('useradd'), ['--system', '--no-create-home', '--home-dir', home, '--shell', '/bin/sh', '--password', '*', BENCH_USER]);
  return true;
}

export async function startSshTargets(opts: SshTargetOptions): Promise<SshTargets> {
  if (opts.addressesPerDaemon < 1 || opts.addressesPerDaemon > MAX_LISTEN_SOCKETS) {
    throw new Error(`addressesPerDaemon must be 1..${MAX_LISTEN_SOCKETS}, got ${opts.addressesPerDaemon}`);
  }
  if (opts.daemons < 1 || opts.daemons > 250) throw new Error(`daemons must be 1..250, got ${opts.daemons}`);
  const sshd = requireCommand('sshd');
  const keygen = requireCommand('ssh-keygen');
  const { dir } = opts;
  const remoteDir = join(dir, 'remote');
  await mkdir(remoteDir, { recursive: true });
  const createdUser = await ensureBenchUser(dir);
  const { stdout: ids } = await execFileP('id', ['-u', BENCH_USER]);
  const { stdout: gids } = await execFileP('id', ['-g', BENCH_USER]);
  await chown(remoteDir, Number(ids.trim()), Number(gids.trim()));
  await chmod(dir, 0o755); // the user's home (and the way to remoteDir)
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation dir
  const hostKey = join(dir, 'host_key');
  const keyFile = join(dir, 'id_bench');
  await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const keyArgs = opts.keyType === 'rsa' ? ['-t', 'rsa', '-b', '3072', '-m', 'PEM'] : ['-t', 'ed25519'];
  await execFileP(keygen, ['-q', ...keyArgs, '-N', '', '-f', keyFile]);
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, await readFile(`${keyFile}.pub`));
  await chmod(authorizedKeys, 0o644); // sshd reads it as the login user
  // one port on every address: nothing else listens in 127.10.0.0/16
  const port = await freeTcpPort();
  const endpoints: SshEndpoint[] = [];
  const daemons: Daemon[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => stopDaemon(d)));
    if (createdUser) await execFileP(requireCommand('userdel'), [BENCH_USER]).catch(() => undefined);
  };
  try {
    for (let d = 0; d < opts.daemons; d++) {
      const mine: SshEndpoint[] = [];
      for (let a = 1; a <= opts.addressesPerDaemon; a++) mine.push({ host: `127.10.${d}.${a}`, port });
      const config = join(dir, `sshd_${d}.conf`);
      await writeFile(
        config,
        [
          `Port ${port}`,
          ...mine.map((e) => `ListenAddress ${e.host}`),
          `HostKey ${hostKey}`,
          `PidFile ${join(dir, `sshd_${d}.pid`)}`,
          `AuthorizedKeysFile ${authorizedKeys}`,
          'PubkeyAuthentication yes',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'PermitRootLogin no',
          `AllowUsers ${BENCH_USER}`,
          'UsePAM no',
          'StrictModes no',
          'UseDNS no',
          'PrintMotd no',
          'PrintLastLog no',
          'X11Forwarding no',
          // a job opens many connections at once: never drop unauthenticated ones early
          'MaxStartups 2000:100:4000',
          'MaxSessions 64',
          'LoginGraceTime 120',
          'LogLevel ERROR',
          '',
        ].join('\n'),
      );
      await execFileP(sshd, ['-t', '-f', config]);
      const daemon = startDaemon(`sshd_${d}`, sshd, ['-D', '-e', '-f', config], dir);
      daemons.push(daemon);
      endpoints.push(...mine);
    }
    for (let d = 0; d < daemons.length; d++) {
      await waitForDaemon(daemons[d], `sshd ${d} banner`, () => bannerReceived(endpoints[d * opts.addressesPerDaemon]));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const [type, base64] = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
  return {
    user: BENCH_USER,
    endpoints,
    keyFile,
    privateKey: await readFile(keyFile, 'utf8'),
    hostPublicKey: `${type} ${base64}`,
    remoteDir,
    daemons,
    cpuSeconds: () => daemons.reduce((sum, d) => sum + processTreeCpuSeconds(d.pid), 0),
    stop,
  };
}
