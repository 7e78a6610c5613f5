// A real libvirtd for tests, isolated from the host: it runs as root inside a network namespace
// made for the run (so the bridge and the dnsmasq it starts never touch the host's interfaces) and
// a private mount namespace in which its fixed system paths (/etc/libvirt, /run, /var/lib, /var/cache,
// /var/log) are bind mounts of directories under a temp dir. /etc/passwd and /etc/group are bound
// to copies that add the users Debian's package would create (the QEMU driver refuses to start
// without `libvirt-qemu`), since the package's postinst did not run here. Clients reach it
// through its socket in the temp dir: `qemu:///system?socket=<dir>/sock/libvirt-sock`.

import { copyFile, mkdir, readFile, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { deleteNamespaces, ip } from '../lib/netns.ts';
import { alive, execFileP, removeDir, requireCommand, sleep, startDaemon, stopDaemon, tempDir, waitForDaemon, type Daemon } from '../lib/procs.ts';

export interface LibvirtLab {
  dir: string;
  /** The network namespace libvirtd (and the network's dnsmasq) run in. */
  ns: string;
  /** Connection URI for virsh / the proxy's `url` setting. */
  url: string;
  daemon: Daemon;
  /** Run virsh against this libvirtd; rejects with virsh's stderr on failure. */
  virsh(args: readonly string[], timeoutMs?: number): Promise<string>;
  /** PIDs of the network namespace's processes (libvirtd, dnsmasq, clients). */
  pids(): Promise<number[]>;
  /** Everything the lab created, removed (processes by PID, namespaces, the temp dir). */
  stop(): Promise<void>;
}

const EXTRA_USERS = [
  'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin',
  'libvirt-dnsmasq:x:64056:64056:Libvirt Dnsmasq:/var/lib/libvirt/dnsmasq:/usr/sbin/nologin',
];
const EXTRA_GROUPS = ['libvirt-qemu:x:64055:', 'libvirt-dnsmasq:x:64056:', 'kvm:x:64057:', 'libvirt:x:64058:'];

export async function startLibvirtd(): Promise<LibvirtLab> {
  const libvirtd = requireCommand('libvirtd');
  requireCommand('virsh');
  requireCommand('dnsmasq');
  const dir = await tempDir('lv');
  const ns = `splv-${randomBytes(3).toString('hex')}`;
  const namespaces: string[] = [];
  let daemon: Daemon | undefined;
  const url = `qemu:///system?socket=${join(dir, 'sock', 'libvirt-sock')}`;

  const virsh = async (args: readonly string[], timeoutMs = 15_000): Promise<string> => {
    try {
      const { stdout } = await execFileP('virsh', ['--quiet', '--connect', url, ...args], { timeout: timeoutMs, env: { ...process.env, TZ: 'UTC' } });
      return stdout;
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`virsh ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
    }
  };
  const pids = async (): Promise<number[]> => {
    const { stdout } = await execFileP('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
    return stdout.split('\n').filter((l) => l.trim() !== '').map(Number);
  };
  const stop = async (): Promise<void> => {
    // Networks outlive libvirtd (their dnsmasq keeps running): destroy them first, then stop
    // libvirtd, then whatever the namespace still holds (all of it started by this lab).
    if (daemon && !daemon.exited) {
      const names = (await virsh(['net-list', '--name'], 5000).catch(() => '')).split('\n').map((s) => s.trim()).filter(Boolean);
      for (const n of names) await virsh(['net-destroy', n], 5000).catch(() => undefined);
    }
    await stopDaemon(daemon);
    if (namespaces.length > 0) {
      for (const pid of await pids()) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone already */
        }
      }
      for (let i = 0; i < 50 && (await pids()).some(alive); i++) await sleep(100);
    }
    await deleteNamespaces(namespaces);
    await removeDir(dir);
  };

  try {
    for (const d of ['sock', 'etc', 'run', 'varlib', 'cache', 'log']) await mkdir(join(dir, d), { recursive: true });
    await writeFile(
      join(dir, 'libvirtd.conf'),
      [
        `unix_sock_dir = "${join(dir, 'sock')}"`,
        'unix_sock_rw_perms = "0700"',
        'auth_unix_rw = "none"',
        'auth_unix_ro = "none"',
        // Warnings and errors to the log file (stderr of the daemon).
        'log_outputs = "3:stderr"',
      ].join('\n') + '\n',
    );
    await writeFile(join(dir, 'etc', 'qemu.conf'), 'user = "root"\ngroup = "root"\n');
    await copyFile('/etc/passwd', join(dir, 'passwd'));
    await copyFile('/etc/group', join(dir, 'group'));
    const passwd = await readFile(join(dir, 'passwd'), 'utf8');
    const group = await readFile(join(dir, 'group'), 'utf8');
    const missing = (file: string, lines: string[]): string[] => lines.filter((l) => !file.split('\n').some((x) => x.startsWith(`${l.split(':')[0]}:`)));
    const newUsers = missing(passwd, EXTRA_USERS);
    const newGroups = missing(group, EXTRA_GROUPS);
    if (newUsers.length > 0) await appendFile(join(dir, 'passwd'), `${passwd.endsWith('\n') ? '' : '\n'}${newUsers.join('\n')}\n`);
    if (newGroups.length > 0) await appendFile(join(dir, 'group'), `${group.endsWith('\n') ? '' : '\n'}${newGroups.join('\n')}\n`);
    // Runs inside the private mount namespace; `exec` keeps one PID from `ip netns exec` to libvirtd.
    const script = [
      'set -e',
      `mount --bind ${join(dir, 'etc')} /etc/libvirt`,
      `mount --bind ${join(dir, 'run')} /run`,
      `mount --bind ${join(dir, 'varlib')} /var/lib`,
      `mount --bind ${join(dir, 'cache')} /var/cache`,
      `mount --bind ${join(dir, 'log')} /var/log`,
      `mount --bind ${join(dir, 'passwd')} /etc/passwd`,
      `mount --bind ${join(dir, 'group')} /etc/group`,
      `exec ${libvirtd} -f ${join(dir, 'libvirtd.conf')}`,
    ].join('\n');
    await writeFile(join(dir, 'inner.sh'), `${script}\n`);

    await ip(['netns', 'add', ns]);
    namespaces.push(ns);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    daemon = startDaemon('libvirtd', 'ip', ['netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'sh', join(dir, 'inner.sh')], dir);
    const d = daemon;
    await waitForDaemon(d, 'libvirtd to answer', async () => (await virsh(['net-list', '--all'], 3000), true), 30_000, 200);
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, ns, url, daemon: daemon!, virsh, pids, stop };
}

/** Define a network from XML and start it (libvirt creates the bridge and runs its dnsmasq). */
export async function startNetwork(lab: LibvirtLab, name: string, xml: string): Promise<void> {
  const file = join(lab.dir, `${name}.xml`);
  await writeFile(file, xml);
  await lab.virsh(['net-define', file]);
  await lab.virsh(['net-start', name]);
}

/**
 * A client namespace whose veth end is a port of the network's bridge, for a real DHCP client.
 * Pushes the namespace onto `created`.
 */
export async function attachClient(lab: LibvirtLab, bridge: string, clientNs: string, created: string[]): Promise<string> {
  const clientIf = 'eth0';
  const hostIf = `vc${randomBytes(3).toString('hex')}`;
  await ip(['netns', 'add', clientNs]);
  created.push(clientNs);
  await ip(['-n', clientNs, 'link', 'set', 'lo', 'up']);
  await ip(['-n', lab.ns, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', clientIf, 'netns', clientNs]);
  await ip(['-n', lab.ns, 'link', 'set', hostIf, 'master', bridge]);
  await ip(['-n', lab.ns, 'link', 'set', hostIf, 'up']);
  return clientIf;
}
