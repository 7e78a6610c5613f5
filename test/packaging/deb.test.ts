// The foreman-proxy .deb: built by scripts/build-deb.ts from a one-file executable made here
// (scripts/build-sea.ts), checked with dpkg-deb, then installed, run, upgraded, removed and purged
// with the real dpkg and maintainer scripts in a throw-away root.
//
// The root: an overlay of this Debian 12 machine's own root file system (upper layer on a tmpfs in
// a private mount namespace, made with util-linux `unshare`/`mount`), entered with `chroot`. dpkg,
// adduser, deb-systemd-helper and the package database are Debian's, so dependency checks,
// conffile handling and the maintainer scripts run for real; nothing reaches the host, and it
// takes no download. What it does not prove: a fresh minimal Debian (the Depends are already
// installed here; a missing one would still fail `dpkg -i`), and systemd as PID 1 starting the unit
// (there is none on CI): the unit is checked with `systemd-analyze verify` inside the root, and
// the installed program is started with the unit's own ExecStart and User under a stand-in notify
// socket that checks the sender's PID.
//
// SMART_PROXY_SEA=/path/to/smart-proxy skips the executable build (about 20 s) when developing.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileP, freeTcpPort, removeDir, requireCommand, startDaemon, stopDaemon, tempDir, waitFor, type Daemon } from '../lib/procs.ts';
import { buildDeb } from '../../scripts/build-deb.ts';
import { startNotifyStandIn, type NotifyRecord } from './notify-standin.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROOT_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };

/** A private mount namespace holding an overlay of / at `<dir>/root`. */
class OverlayRoot {
  readonly root: string;
  private readonly holder: Daemon;
  private constructor(holder: Daemon, dir: string) {
    this.holder = holder;
    this.root = join(dir, 'root');
  }

  static async create(dir: string): Promise<OverlayRoot> {
    requireCommand('unshare');
    requireCommand('nsenter');
    // --kill-child: stopping the holder (by PID) ends the namespace and with it every mount below.
    const holder = startDaemon('overlay-ns', 'unshare', ['--mount', '--propagation', 'private', '--fork', '--kill-child', '--', 'sleep', 'infinity'], dir);
    const self = new OverlayRoot(holder, dir);
    const ownNs = await readlink('/proc/self/ns/mnt');
    await waitFor('the private mount namespace', async () => (await readlink(`/proc/${holder.pid}/ns/mnt`)) !== ownNs, 10_000, 20);
    await self.inNamespace(
      [
        'set -e',
        `mkdir -p ${dir}/layer ${dir}/root`,
        `mount -t tmpfs -o size=2g tmpfs ${dir}/layer`,
        `mkdir -p ${dir}/layer/upper ${dir}/layer/work`,
        `mount -t overlay overlay -o lowerdir=/,upperdir=${dir}/layer/upper,workdir=${dir}/layer/work ${dir}/root`,
        `mount -t proc proc ${dir}/root/proc`,
        `mount --rbind /dev ${dir}/root/dev`,
        `mount --rbind /sys ${dir}/root/sys`,
      ].join('\n'),
    );
    return self;
  }

  private inNamespace(script: string): Promise<{ stdout: string; stderr: string }> {
    return execFileP('nsenter', ['-t', String(this.holder.pid), '-m', '--', '/bin/sh', '-c', script], { env: CHROOT_ENV }).catch(
      (err: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`${script}\n failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      },
    );
  }

  /** Bind-mounts a host directory into the root (a unix socket is reachable only through a bind). */
  async bind(hostDir: string, inside: string): Promise<void> {
    await this.inNamespace(`mkdir -p ${this.root}${inside} && mount --bind ${hostDir} ${this.root}${inside}`);
  }

  /** Copies a host file into the root. */
  async copyIn(hostFile: string, inside: string): Promise<void> {
    await this.inNamespace(`cp ${hostFile} ${this.root}${inside}`);
  }

  /** Runs a shell command chrooted in the root; rejects with its output on a non-zero exit. */
  sh(command: string): Promise<{ stdout: string; stderr: string }> {
    return this.inNamespace(`exec chroot ${this.root} /bin/sh -c '${command.replaceAll("'", "'\\''")}'`);
  }

  /** Same, resolving with the exit code instead of rejecting. */
  async status(command: string): Promise<number> {
    try {
      await this.sh(command);
      return 0;
    } catch {
      return 1;
    }
  }

  /** Starts argv chrooted in the root; every step execs, so the child's PID is the program's. */
  spawn(argv: string[], env: Record<string, string>): ChildProcess {
    return spawn('nsenter', ['-t', String(this.holder.pid), '-m', '--', 'chroot', this.root, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...CHROOT_ENV, ...env },
    });
  }

  async close(): Promise<void> {
    await stopDaemon(this.holder);
  }
}

const seaBuild: { dir?: string; executable?: Promise<string> } = {};

/** The one-file executable, built once for the file's tests (into a temp dir removed at the end). */
function seaExecutable(): Promise<string> {
  if (process.env.SMART_PROXY_SEA) return Promise.resolve(process.env.SMART_PROXY_SEA);
  seaBuild.executable ??= (async () => {
    seaBuild.dir = await tempDir('sea');
    const out = join(seaBuild.dir, 'smart-proxy');
    await execFileP(process.execPath, [join(ROOT, 'scripts/build-sea.ts'), out], { cwd: ROOT, timeout: 300_000, maxBuffer: 1 << 24 });
    return out;
  })();
  return seaBuild.executable;
}

after(async () => {
  if (seaBuild.dir) await removeDir(seaBuild.dir);
});

function unitValue(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

const withLine = (records: NotifyRecord[], line: string): NotifyRecord[] => records.filter((r) => r.lines.includes(line));

test('foreman-proxy .deb: contents, install, start under a stand-in systemd, upgrade keeping edited settings, remove, purge', async (t) => {
  requireCommand('dpkg-deb');
  const dir = await tempDir('deb');
  await chmod(dir, 0o755);
  const running: { chroot?: OverlayRoot; proxy?: ChildProcess } = {};
  const standInDir = join(dir, 'notify');
  t.after(async () => {
    const { proxy, chroot } = running;
    if (proxy && proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGKILL');
      await once(proxy, 'exit');
    }
    await chroot?.close();
    await removeDir(dir);
  });

  const executable = await seaExecutable();
  const debs = join(dir, 'debs');
  const v1 = await buildDeb({ executable, outDir: debs, version: '3.13.0-1', compression: 'zstd' });
  const v2 = await buildDeb({ executable, outDir: debs, version: '3.13.0-2', compression: 'zstd' });
  // v3: the maintainer changed settings.yml too, so dpkg must choose between two edits.
  const v3 = await buildDeb({
    executable,
    outDir: debs,
    version: '3.13.0-3',
    compression: 'zstd',
    editSettingsYml: (s) => `${s}\n# changed in 3.13.0-3\n`,
  });

  await t.test('dpkg-deb --info and --contents: metadata, conffiles, layout', async () => {
    const info = (await execFileP('dpkg-deb', ['--info', v1])).stdout;
    assert.match(info, /^ Package: foreman-proxy$/m);
    assert.match(info, /^ Version: 3\.13\.0-1$/m);
    assert.match(info, /^ Depends: adduser, libc6 \(>= 2\.28\), libgcc-s1, libstdc\+\+6$/m);
    for (const script of ['postinst', 'prerm', 'postrm', 'conffiles', 'control']) assert.match(info, new RegExp(` ${script}\\b`));
    const conffiles = (await execFileP('sh', ['-c', `dpkg-deb --ctrl-tarfile ${v1} | tar -xOf - ./conffiles`])).stdout.split('\n').filter(Boolean);
    assert.ok(conffiles.includes('/etc/foreman-proxy/settings.yml'));
    assert.ok(conffiles.includes('/etc/foreman-proxy/settings.d/logs.yml'));
    assert.ok(conffiles.includes('/etc/logrotate.d/foreman-proxy'));
    const moduleFiles = (await readdir(join(ROOT, 'config/settings.d'))).filter((f) => f.endsWith('.yml'));
    assert.deepEqual(
      conffiles.filter((c) => c.startsWith('/etc/foreman-proxy/settings.d/')).sort(),
      moduleFiles.map((f) => `/etc/foreman-proxy/settings.d/${f}`).sort(),
    );

    const contents = (await execFileP('dpkg-deb', ['--contents', v1], { maxBuffer: 1 << 22 })).stdout;
    const entry = (path: string): string => {
      const line = contents.split('\n').find((l) => l.endsWith(` .${path}`));
      assert.ok(line, `${path} in the package:\n${contents}`);
      return line;
    };
    assert.match(entry('/usr/sbin/smart-proxy'), /^-rwxr-xr-x root\/root /);
    assert.match(entry('/usr/libexec/foreman-proxy/notify-socket-exec'), /^-rwxr-xr-x root\/root /);
    assert.match(entry('/lib/systemd/system/foreman-proxy.service'), /^-rw-r--r-- root\/root /);
    assert.match(entry('/etc/foreman-proxy/settings.yml'), /^-rw-r----- root\/root /);
    assert.match(entry('/etc/foreman-proxy/settings.d/'), /^drwxr-x--- root\/root /);
    assert.match(entry('/etc/logrotate.d/foreman-proxy'), /^-rw-r--r-- root\/root /);
    entry('/usr/share/foreman-proxy/systemd/low-port.conf');
    // No state or log directories in the archive: postinst makes them with their owner.
    assert.doesNotMatch(contents, /\.\/var\//);
  });

  const root = await OverlayRoot.create(dir);
  running.chroot = root;
  await root.copyIn(v1, '/root/');
  await root.copyIn(v2, '/root/');
  await root.copyIn(v3, '/root/');
  const base = (p: string): string => `/root/${p.split('/').pop()}`;

  await t.test('install: user, group, directories, permissions, enabled unit', async () => {
    // The root starts as a copy of this machine: make sure nothing of an earlier foreman-proxy (a
    // log another test left in /var/log/foreman-proxy, say) decides the outcome.
    await root.sh('rm -rf /etc/foreman-proxy /var/log/foreman-proxy /var/lib/foreman-proxy');
    assert.equal(await root.status('getent passwd foreman-proxy || dpkg-query -W foreman-proxy'), 1, 'no foreman-proxy before the install');
    await root.sh(`dpkg -i ${base(v1)}`);
    const user = (await root.sh('getent passwd foreman-proxy')).stdout.trim().split(':');
    assert.equal(user[5], '/usr/share/foreman-proxy');
    assert.equal(user[6], '/usr/sbin/nologin');
    assert.ok(Number(user[2]) < 1000, `a system user: uid ${user[2]}`);
    const modes = (await root.sh('stat -c "%n %U:%G %a" /var/log/foreman-proxy /var/lib/foreman-proxy /etc/foreman-proxy /etc/foreman-proxy/settings.d /etc/foreman-proxy/settings.yml /etc/foreman-proxy/settings.d/logs.yml')).stdout;
    assert.equal(
      modes,
      [
        '/var/log/foreman-proxy foreman-proxy:foreman-proxy 750',
        '/var/lib/foreman-proxy foreman-proxy:foreman-proxy 750',
        '/etc/foreman-proxy root:foreman-proxy 750',
        '/etc/foreman-proxy/settings.d root:foreman-proxy 750',
        '/etc/foreman-proxy/settings.yml root:foreman-proxy 640',
        '/etc/foreman-proxy/settings.d/logs.yml root:foreman-proxy 640',
        '',
      ].join('\n'),
    );
    // deb-systemd-helper enabled it as systemctl would have (WantedBy=multi-user.target).
    assert.equal(await root.status('test -L /etc/systemd/system/multi-user.target.wants/foreman-proxy.service'), 0);
    assert.equal((await root.sh('smart-proxy --version')).stdout.trim(), '3.13.0');
  });

  await t.test('systemd-analyze verify passes on the installed unit, with and without the low-port drop-in', async () => {
    await root.sh('systemd-analyze verify --man=no /lib/systemd/system/foreman-proxy.service');
    await root.sh('mkdir -p /etc/systemd/system/foreman-proxy.service.d && cp /usr/share/foreman-proxy/systemd/low-port.conf /etc/systemd/system/foreman-proxy.service.d/');
    await root.sh('systemd-analyze verify --man=no /lib/systemd/system/foreman-proxy.service');
    const caps = (await root.sh('systemctl cat foreman-proxy.service 2>/dev/null || cat /lib/systemd/system/foreman-proxy.service /etc/systemd/system/foreman-proxy.service.d/low-port.conf')).stdout;
    assert.match(caps, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    await root.sh('rm -r /etc/systemd/system/foreman-proxy.service.d');
    // The hardening as systemd scores it (0 best, 10 worst; 3.3 when written): fails above 4.0.
    await root.sh('systemd-analyze security --offline=yes --threshold=40 /lib/systemd/system/foreman-proxy.service >/dev/null');
    // A unit that is wrong must fail, or the check above proves nothing.
    await root.sh("sed 's|^ExecStart=/usr/libexec/foreman-proxy/notify-socket-exec|ExecStart=/usr/libexec/foreman-proxy/missing|' /lib/systemd/system/foreman-proxy.service > /tmp/broken.service");
    assert.notEqual(await root.status('systemd-analyze verify --man=no /tmp/broken.service'), 0, 'a unit whose program is missing must fail verify');
  });

  await t.test('logrotate reads the shipped file', { skip: (await root.status('command -v logrotate')) === 0 ? false : 'logrotate is not installed (test/deps/packaging.apt)' }, async () => {
    // --debug: parse and plan only, nothing rotated; a bad directive is an "error:" line.
    const { stdout, stderr } = await root.sh('logrotate --debug --state /tmp/logrotate.state /etc/logrotate.d/foreman-proxy');
    assert.doesNotMatch(stdout + stderr, /^error:/m);
    assert.match(stdout + stderr, /rotating pattern: \/var\/log\/foreman-proxy\/\*\.log/);
  });

  const port = await freeTcpPort();
  await t.test('the administrator edits settings.yml (the port), which the proxy serves', async () => {
    await root.sh(`sed -i 's/^:http_port: 8000$/:http_port: ${port}/' /etc/foreman-proxy/settings.yml && grep -q '^:http_port: ${port}$' /etc/foreman-proxy/settings.yml`);
    const check = await root.sh('setpriv --reuid=foreman-proxy --regid=foreman-proxy --init-groups -- smart-proxy check --settings /etc/foreman-proxy');
    assert.match(check.stdout, /settings OK/);
  });

  await t.test('starts as the unit says under a stand-in systemd: READY/WATCHDOG/STOPPING from the main PID, USR1 reopens the log, TERM stops', async (st) => {
    requireCommand('python3');
    const unit = (await root.sh('cat /lib/systemd/system/foreman-proxy.service')).stdout;
    const [execStart] = unitValue(unit, 'ExecStart');
    const [user] = unitValue(unit, 'User');
    assert.deepEqual(unitValue(unit, 'NotifyAccess'), ['main']);
    const [usec] = unitValue(unit, 'WatchdogSec');
    assert.equal(usec, '30s');
    await mkdir(standInDir, { mode: 0o755 });
    const standIn = await startNotifyStandIn(standInDir);
    st.after(() => standIn.stop());
    await chmod(standIn.socketPath, 0o777);
    await root.bind(standInDir, '/run/notify-standin');

    const proxy = root.spawn(['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--', ...execStart.split(' ')], {
      NOTIFY_SOCKET: '/run/notify-standin/notify.sock',
      // Shorter than the unit's 30 s so that pings show within the test.
      WATCHDOG_USEC: '400000',
    });
    running.proxy = proxy;
    // A failed step must not leave it running: purge could not delete a user that has a process.
    st.after(async () => {
      if (proxy.exitCode !== null || proxy.signalCode !== null) return;
      const gone = once(proxy, 'exit');
      proxy.kill('SIGKILL');
      await gone;
    });
    let output = '';
    proxy.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    proxy.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    const pid = proxy.pid as number;
    await waitFor('READY=1', () => withLine(standIn.records(), 'READY=1').length > 0, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${output}`);
    });
    assert.equal((await fetch(`http://127.0.0.1:${port}/features`)).status, 200);
    await waitFor('two WATCHDOG=1', () => withLine(standIn.records(), 'WATCHDOG=1').length >= 2, 10_000);

    await root.sh('mv /var/log/foreman-proxy/proxy.log /var/log/foreman-proxy/proxy.log.1');
    proxy.kill('SIGUSR1');
    await waitFor('the reopened log', async () => (await root.sh('cat /var/log/foreman-proxy/proxy.log 2>/dev/null || true')).stdout.includes('Reopened log file'));
    assert.equal((await root.sh('stat -c %U /var/log/foreman-proxy/proxy.log')).stdout.trim(), 'foreman-proxy');

    const exited = once(proxy, 'exit') as Promise<[number | null]>;
    proxy.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, output);
    const records = standIn.records();
    assert.equal(withLine(records, 'STOPPING=1').length, 1);
    assert.deepEqual([...new Set(records.map((r) => r.pid))], [pid], 'every message from the main PID');
  });

  await t.test('upgrade to a version with the same conffiles: the edited settings.yml stays, silently', async () => {
    await root.sh(`dpkg -i ${base(v2)} </dev/null`);
    assert.match((await root.sh('dpkg-query -W -f "\\${Version}" foreman-proxy')).stdout, /^3\.13\.0-2$/);
    await root.sh(`grep -q '^:http_port: ${port}$' /etc/foreman-proxy/settings.yml`);
    assert.equal(await root.status('ls /etc/foreman-proxy/settings.yml.dpkg-*'), 1);
    assert.match((await root.sh('stat -c "%U:%G %a" /etc/foreman-proxy/settings.yml')).stdout, /^root:foreman-proxy 640/);
  });

  await t.test('upgrade to a version whose settings.yml changed too: with --force-confold, what apt does non-interactively, the edit stays and the new file lands beside it', async () => {
    await root.sh(`dpkg -i --force-confdef --force-confold ${base(v3)} </dev/null`);
    await root.sh(`grep -q '^:http_port: ${port}$' /etc/foreman-proxy/settings.yml`);
    await root.sh("grep -q '^# changed in 3.13.0-3$' /etc/foreman-proxy/settings.yml.dpkg-dist");
  });

  await t.test('remove keeps the settings, logs, state and user; purge deletes them', async () => {
    await root.sh('echo state > /var/lib/foreman-proxy/tokens.yml');
    await root.sh('dpkg --remove foreman-proxy');
    assert.equal(await root.status('test -e /usr/sbin/smart-proxy'), 1);
    await root.sh(`grep -q '^:http_port: ${port}$' /etc/foreman-proxy/settings.yml`);
    await root.sh('test -f /var/lib/foreman-proxy/tokens.yml && test -d /var/log/foreman-proxy && getent passwd foreman-proxy');
    assert.match((await root.sh('dpkg-query -W -f "\\${db:Status-Abbrev}" foreman-proxy')).stdout, /^rc/);

    await root.sh('dpkg --purge foreman-proxy');
    for (const gone of ['/etc/foreman-proxy', '/var/log/foreman-proxy', '/var/lib/foreman-proxy', '/etc/logrotate.d/foreman-proxy', '/etc/systemd/system/multi-user.target.wants/foreman-proxy.service']) {
      assert.equal(await root.status(`test -e ${gone} || test -L ${gone}`), 1, `${gone} after purge`);
    }
    assert.equal(await root.status('getent passwd foreman-proxy'), 1, 'the user after purge');
    assert.equal(await root.status('getent group foreman-proxy'), 1, 'the group after purge');
    assert.equal(await root.status('dpkg-query -W foreman-proxy'), 1, 'the package in the dpkg database after purge');
  });
});

test('fresh Debian 12 made with mmdebstrap: apt resolves the Depends, postinst makes the user, the executable runs without Node, purge leaves nothing', async (t) => {
  requireCommand('mmdebstrap');
  const dir = await tempDir('deb');
  t.after(() => removeDir(dir));
  const executable = await seaExecutable();
  const deb = await buildDeb({ executable, outDir: join(dir, 'debs'), version: '3.13.0-1', compression: 'zstd' });
  const fresh = join(dir, 'fresh');
  // The Essential set only (no apt-installed extras); the package itself is installed by apt from
  // its path (the hook bind-mounts it), so apt has to find adduser, libstdc++6 … from Depends.
  await execFileP(
    'mmdebstrap',
    ['--quiet', '--variant=essential', '--mode=root', '--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount', `--include=${deb}`, 'bookworm', fresh],
    { timeout: 180_000, maxBuffer: 1 << 24 },
  ).catch((err: Error & { stderr?: string }) => {
    throw new Error(`mmdebstrap failed (it needs the Debian mirror): ${err.stderr ?? err.message}`);
  });
  const inFresh = async (command: string): Promise<string> =>
    (await execFileP('chroot', [fresh, '/bin/sh', '-c', command], { env: CHROOT_ENV })).stdout;
  const status = (command: string): Promise<number> => inFresh(command).then(() => 0, () => 1);

  const installed = await inFresh("dpkg-query -W -f '${Package} ${Status}\\n' foreman-proxy adduser libstdc++6");
  // adduser and libstdc++6 are not Essential: apt installed them because Depends names them.
  for (const pkg of ['foreman-proxy', 'adduser', 'libstdc\\+\\+6']) assert.match(installed, new RegExp(`^${pkg} install ok installed$`, 'm'));
  assert.equal(await status('command -v node || ls /usr/lib/node_modules'), 1, 'no Node in the fresh root');
  assert.match(await inFresh('getent passwd foreman-proxy'), /^foreman-proxy:x:\d+:\d+:[^:]*:\/usr\/share\/foreman-proxy:\/usr\/sbin\/nologin$/m);
  assert.equal(await inFresh('stat -c "%U:%G %a" /var/log/foreman-proxy /var/lib/foreman-proxy'), 'foreman-proxy:foreman-proxy 750\nforeman-proxy:foreman-proxy 750\n');
  assert.equal((await inFresh('smart-proxy --version')).trim(), '3.13.0');
  assert.match(await inFresh('setpriv --reuid=foreman-proxy --regid=foreman-proxy --init-groups -- smart-proxy check --settings /etc/foreman-proxy'), /settings OK/);

  await inFresh('dpkg --purge foreman-proxy');
  for (const gone of ['/usr/sbin/smart-proxy', '/etc/foreman-proxy', '/var/log/foreman-proxy', '/var/lib/foreman-proxy', '/etc/systemd/system/multi-user.target.wants/foreman-proxy.service']) {
    assert.equal(await status(`test -e ${gone} || test -L ${gone}`), 1, `${gone} after purge`);
  }
  assert.equal(await status('getent passwd foreman-proxy || getent group foreman-proxy'), 1, 'user and group after purge');
});

test('build-deb refuses a missing or non-ELF executable with a clear message', async (t) => {
  const dir = await tempDir('deb');
  t.after(() => removeDir(dir));
  const script = join(ROOT, 'scripts/build-deb.ts');
  const missing = await execFileP(process.execPath, [script, '--executable', join(dir, 'nope'), '--out', dir]).then(
    () => assert.fail('build-deb succeeded without an executable'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /the one-file executable .*nope does not exist; build it first: node scripts\/build-sea\.ts /);
  await execFileP('sh', ['-c', `printf '#!/bin/sh\\n' > ${dir}/placeholder && chmod +x ${dir}/placeholder`]);
  const placeholder = await execFileP(process.execPath, [script, '--executable', join(dir, 'placeholder'), '--out', dir]).then(
    () => assert.fail('build-deb accepted a shell script'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.match(placeholder.stderr, /is not an ELF executable/);
});
