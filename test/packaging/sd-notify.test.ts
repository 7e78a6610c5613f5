// The proxy under a stand-in for systemd (a datagram socket that records each message with the
// sender's PID from the kernel's credentials): READY=1 after the listeners are up, WATCHDOG=1
// pings, STOPPING=1 on TERM — all from the main PID when the proxy is started through
// packaging/debian/notify-socket-exec, as the packaged unit (NotifyAccess=main) does. Also: USR1
// reopens the log file, and what happens without the launcher.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort, removeDir, requireCommand, tempDir, waitFor } from '../lib/procs.ts';
import { notifyConfigFrom, NotifyConfigError } from '../../src/core/sd-notify.ts';
import { startNotifyStandIn, type NotifyRecord } from './notify-standin.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER = join(ROOT, 'packaging/debian/notify-socket-exec');
const MAIN = join(ROOT, 'src/main.ts');

async function writeSettings(dir: string, port: number): Promise<string> {
  const settings = join(dir, 'etc');
  await mkdir(join(settings, 'settings.d'), { recursive: true });
  await writeFile(
    join(settings, 'settings.yml'),
    `---\n:bind_host: ['127.0.0.1']\n:http_port: ${port}\n:log_file: ${join(dir, 'proxy.log')}\n:log_level: INFO\n`,
  );
  await writeFile(join(settings, 'settings.d/logs.yml'), '---\n:enabled: true\n');
  return settings;
}

interface Started {
  child: ChildProcess;
  pid: number;
  output(): string;
}

function startProxy(argv: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  child.stdout?.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (output += b.toString()));
  return { child, pid: child.pid as number, output: () => output };
}

async function stopProxy(p: Started | undefined): Promise<number | null> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return p?.child.exitCode ?? null;
  const exited = once(p.child, 'exit') as Promise<[number | null]>;
  p.child.kill('SIGTERM');
  const [code] = await exited;
  return code;
}

/** The packaged service runs as an unprivileged user; so do these proxies (nobody). As root a
 * process may put another PID in its credentials (CAP_SYS_ADMIN), which would hide the problem
 * this file is about. */
const NOBODY = 65534;
function asServiceUser(argv: string[]): string[] {
  return [requireCommand('setpriv'), `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...argv];
}

/** A temp dir the unprivileged proxy can use: its log file and the stand-in's socket live there. */
async function sharedTempDir(): Promise<string> {
  const dir = await tempDir('sdn');
  await chmod(dir, 0o755);
  return dir;
}

async function openStandInToServiceUser(socketPath: string, dir: string): Promise<void> {
  await chmod(socketPath, 0o777);
  await chown(dir, NOBODY, NOBODY);
}

const has = (records: NotifyRecord[], line: string): NotifyRecord[] => records.filter((r) => r.lines.includes(line));

test('stand-in systemd, unprivileged proxy through notify-socket-exec: READY, WATCHDOG and STOPPING come from the main PID; USR1 reopens the log; TERM stops', async (t) => {
  const dir = await sharedTempDir();
  const standIn = await startNotifyStandIn(dir);
  await openStandInToServiceUser(standIn.socketPath, dir);
  const running: { proxy?: Started } = {};
  t.after(async () => {
    await stopProxy(running.proxy);
    await standIn.stop();
    await removeDir(dir);
  });
  const port = await freeTcpPort();
  const settings = await writeSettings(dir, port);
  // `exec` keeps the shell's PID through perl and node, so $$ is the proxy's PID: WATCHDOG_PID
  // names the main process as systemd sets it.
  const proxy = startProxy(
    asServiceUser(['/bin/sh', '-c', 'WATCHDOG_PID=$$ exec "$@"', 'sh', requireCommand('perl'), LAUNCHER, process.execPath, MAIN, '--settings', settings]),
    { NOTIFY_SOCKET: standIn.socketPath, WATCHDOG_USEC: '400000' },
  );
  running.proxy = proxy;
  const mainPid = proxy.pid;

  await waitFor('READY=1', () => has(standIn.records(), 'READY=1').length > 0, 20_000);
  // Readiness means serving: the listener answers the moment READY=1 has arrived.
  const features = await fetch(`http://127.0.0.1:${port}/features`);
  assert.equal(features.status, 200);
  const ready = has(standIn.records(), 'READY=1');
  assert.equal(ready.length, 1);
  assert.equal(ready[0].pid, mainPid, 'READY=1 must be sent by the main process');
  assert.ok(ready[0].lines.some((l) => l.startsWith('STATUS=Serving ') && l.includes(`127.0.0.1:${port}`)), ready[0].lines.join('|'));

  await waitFor('two WATCHDOG=1 pings', () => has(standIn.records(), 'WATCHDOG=1').length >= 2, 10_000);
  for (const ping of has(standIn.records(), 'WATCHDOG=1')) assert.equal(ping.pid, mainPid, 'WATCHDOG=1 must come from the main process');

  // logrotate's move-then-USR1: the proxy writes on in a new file of the same name.
  const log = join(dir, 'proxy.log');
  await rename(log, `${log}.1`);
  proxy.child.kill('SIGUSR1');
  await waitFor('a new proxy.log after USR1', async () => existsSync(log) && (await readFile(log, 'utf8')).includes('Reopened log file'));
  assert.ok((await readFile(`${log}.1`, 'utf8')).includes('launched'), 'the rotated file keeps the old lines');

  const code = await stopProxy(proxy);
  assert.equal(code, 0, proxy.output());
  const records = standIn.records();
  const stopping = has(records, 'STOPPING=1');
  assert.equal(stopping.length, 1);
  assert.equal(stopping[0].pid, mainPid, 'STOPPING=1 must come from the main process');
  assert.ok(records.indexOf(stopping[0]) > records.indexOf(ready[0]), 'STOPPING=1 after READY=1');
  // Every message of the run was the main process's: nothing a NotifyAccess=main unit would drop.
  assert.deepEqual([...new Set(records.map((r) => r.pid))], [mainPid]);
  // The notify variables were taken out of the environment (children do not inherit them).
  assert.doesNotMatch(proxy.output(), /sd_notify/);
});

test('stand-in systemd, unprivileged proxy without the launcher (hand-written unit): messages come from a systemd-notify child, not the main PID, and the proxy warns', async (t) => {
  requireCommand('systemd-notify');
  const dir = await sharedTempDir();
  const standIn = await startNotifyStandIn(dir);
  await openStandInToServiceUser(standIn.socketPath, dir);
  const running: { proxy?: Started } = {};
  t.after(async () => {
    await stopProxy(running.proxy);
    await standIn.stop();
    await removeDir(dir);
  });
  const settings = await writeSettings(dir, await freeTcpPort());
  const proxy = startProxy(asServiceUser([process.execPath, MAIN, '--settings', settings]), { NOTIFY_SOCKET: standIn.socketPath });
  running.proxy = proxy;
  await waitFor('READY=1', () => has(standIn.records(), 'READY=1').length > 0, 20_000);
  const [ready] = has(standIn.records(), 'READY=1');
  // This is why the packaged unit does not rely on it: with NotifyAccess=main systemd drops it.
  // (systemd-notify asks the kernel to put its parent's PID in the credentials; only a process
  // with CAP_SYS_ADMIN may, so as root this would pass and as the service user it does not.)
  assert.equal(typeof ready.pid, 'number');
  assert.notEqual(ready.pid, proxy.pid);
  await waitFor('the fallback warning in the log', async () => (await readFile(join(dir, 'proxy.log'), 'utf8')).includes('NotifyAccess=all'));
  assert.equal(await stopProxy(proxy), 0);
});

test('notify settings: WATCHDOG_PID of another process turns the pings off; bad values name the variable', () => {
  const base = { NOTIFY_SOCKET: '/run/systemd/notify', SMART_PROXY_NOTIFY_FD: '3', WATCHDOG_USEC: '30000000' };
  assert.equal(notifyConfigFrom({}, 42), undefined);
  assert.deepEqual(notifyConfigFrom(base, 42), { transport: { kind: 'descriptor', fd: 3 }, watchdogIntervalMs: 15_000 });
  assert.equal(notifyConfigFrom({ ...base, WATCHDOG_PID: '42' }, 42)?.watchdogIntervalMs, 15_000);
  assert.equal(notifyConfigFrom({ ...base, WATCHDOG_PID: '41' }, 42)?.watchdogIntervalMs, undefined);
  assert.deepEqual(notifyConfigFrom({ NOTIFY_SOCKET: '@abstract' }, 42), { transport: { kind: 'systemd-notify', socket: '@abstract' } });
  assert.throws(() => notifyConfigFrom({ ...base, WATCHDOG_USEC: '0' }, 42), (e: Error) => e instanceof NotifyConfigError && /^WATCHDOG_USEC: /.test(e.message));
  assert.throws(() => notifyConfigFrom({ ...base, WATCHDOG_USEC: '1.5s' }, 42), /WATCHDOG_USEC: must be a positive number of microseconds, got '1.5s'/);
  assert.throws(() => notifyConfigFrom({ ...base, SMART_PROXY_NOTIFY_FD: '1' }, 42), /SMART_PROXY_NOTIFY_FD: must be a file descriptor number of 3 or more/);
});
