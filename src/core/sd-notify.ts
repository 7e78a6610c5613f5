// The service manager's notify protocol (sd_notify(3)) for `Type=notify` units: READY=1 once the
// listeners are up, STOPPING=1 on TERM, WATCHDOG=1 at half of WATCHDOG_USEC, STATUS=… lines.
//
// Who sends matters. systemd attributes a message to the PID in the kernel's credentials of the
// datagram, i.e. the process that called send/write, and with NotifyAccess=main (the default for
// Type=notify) accepts only the unit's main PID. Node has no AF_UNIX datagram sockets, and the npm
// packages that add them (`sd-notify`, `unix-dgram`) are native addons, which the one-file
// executable cannot embed. So the socket is created before Node starts: the unit runs the proxy
// through `notify-socket-exec` (packaging/debian), which connects a datagram socket to
// NOTIFY_SOCKET, leaves it open across exec (same PID) and names its descriptor in
// SMART_PROXY_NOTIFY_FD. Here we only write(2) to that descriptor: one write, one datagram, sent by
// the main process itself.
//
// Fallback, when NOTIFY_SOCKET is set but no descriptor was passed (a hand-written unit): each
// message is sent by a `systemd-notify` child. That child is another PID: systemd drops its
// messages unless the unit says NotifyAccess=all, and may drop them even then when the child has
// exited before systemd looks up its cgroup. The proxy says so in a warning at start.

import { fstat, write } from 'node:fs';
import { promisify } from 'node:util';
import type { Logger } from './logging-types.ts';
import { run } from './spawn.ts';

const writeP = promisify(write);
const fstatP = promisify(fstat);

/** The variables sd_notify(3) reads, and ours. Removed from process.env once read, as sd_notify's
 * unset_environment does, so that commands the proxy runs do not inherit them. */
const NOTIFY_VARIABLES = ['NOTIFY_SOCKET', 'SMART_PROXY_NOTIFY_FD', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;

export type NotifyTransport =
  | { kind: 'descriptor'; fd: number }
  | { kind: 'systemd-notify'; socket: string };

export interface NotifyConfig {
  transport: NotifyTransport;
  /** Interval between WATCHDOG=1 pings in ms (half of WATCHDOG_USEC), when the watchdog is on for
   * this process. */
  watchdogIntervalMs?: number;
}

export class NotifyConfigError extends Error {}

/**
 * Reads the notify settings from an environment. Returns undefined when no service manager asked
 * for notifications (NOTIFY_SOCKET unset). Throws NotifyConfigError naming the variable when a
 * value is malformed.
 */
export function notifyConfigFrom(env: NodeJS.ProcessEnv, pid: number): NotifyConfig | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === '') return undefined;
  let transport: NotifyTransport;
  const fdText = env.SMART_PROXY_NOTIFY_FD;
  if (fdText !== undefined && fdText !== '') {
    if (!/^\d+$/.test(fdText) || Number(fdText) < 3) {
      throw new NotifyConfigError(`SMART_PROXY_NOTIFY_FD: must be a file descriptor number of 3 or more, got '${fdText}'`);
    }
    transport = { kind: 'descriptor', fd: Number(fdText) };
  } else {
    transport = { kind: 'systemd-notify', socket };
  }
  const config: NotifyConfig = { transport };
  const usecText = env.WATCHDOG_USEC;
  if (usecText !== undefined && usecText !== '') {
    if (!/^\d+$/.test(usecText) || Number(usecText) === 0) {
      throw new NotifyConfigError(`WATCHDOG_USEC: must be a positive number of microseconds, got '${usecText}'`);
    }
    const watchdogPid = env.WATCHDOG_PID;
    // sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the one process the watchdog is for;
    // a child that inherited the variables must not ping on the parent's behalf.
    if (watchdogPid === undefined || watchdogPid === '' || Number(watchdogPid) === pid) {
      // Half the timeout, as sd_watchdog_enabled(3) recommends; at least 1 ms for setInterval.
      config.watchdogIntervalMs = Math.max(1, Math.floor(Number(usecText) / 2000));
    }
  }
  return config;
}

/** Takes the notify variables out of process.env (see NOTIFY_VARIABLES). */
export function takeNotifyEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const taken: NodeJS.ProcessEnv = {};
  for (const name of NOTIFY_VARIABLES) {
    taken[name] = env[name];
    delete env[name];
  }
  return taken;
}

/**
 * Sends notify messages in order (a STOPPING=1 never overtakes the READY=1 before it). Sending
 * never throws: a lost notification is logged, the proxy keeps serving.
 */
export class SystemdNotifier {
  readonly config: NotifyConfig;
  private readonly log: Pick<Logger, 'warn'>;
  private queue: Promise<void> = Promise.resolve();
  private watchdogTimer: NodeJS.Timeout | undefined;
  private warnedOnce = false;

  constructor(config: NotifyConfig, log: Pick<Logger, 'warn'>) {
    this.config = config;
    this.log = log;
  }

  /** Checks the transport once at start; the warning for the fallback is given here. */
  async check(): Promise<void> {
    const t = this.config.transport;
    if (t.kind === 'descriptor') {
      const stats = await fstatP(t.fd).catch((err: unknown) => {
        throw new NotifyConfigError(`SMART_PROXY_NOTIFY_FD: descriptor ${t.fd} is not open (${(err as Error).message})`);
      });
      if (!stats.isSocket()) throw new NotifyConfigError(`SMART_PROXY_NOTIFY_FD: descriptor ${t.fd} is not a socket`);
    } else {
      this.log.warn(
        'NOTIFY_SOCKET is set but no notify socket descriptor was passed (start the proxy through ' +
          'notify-socket-exec, as the packaged unit does); sending with systemd-notify, whose messages ' +
          'systemd accepts only with NotifyAccess=all',
      );
    }
  }

  ready(status?: string): Promise<void> {
    return this.send(status === undefined ? ['READY=1'] : ['READY=1', `STATUS=${status}`]);
  }

  /**
   * A reload began (send ready() when it is over). MONOTONIC_USEC is the CLOCK_MONOTONIC time of
   * the request, which systemd matches to the reload it started (Type=notify-reload); Node's hrtime
   * reads that clock.
   */
  reloading(status = 'Reloading'): Promise<void> {
    return this.send(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`, `STATUS=${status}`]);
  }

  stopping(status = 'Stopping'): Promise<void> {
    this.stopWatchdog();
    return this.send(['STOPPING=1', `STATUS=${status}`]);
  }

  /**
   * Pings WATCHDOG=1 every watchdogIntervalMs from a timer of the event loop: a loop that is stuck
   * (a sync call that never returns) stops the pings, and systemd restarts the service. The timer
   * does not keep the process alive.
   */
  startWatchdog(): void {
    const every = this.config.watchdogIntervalMs;
    if (every === undefined || this.watchdogTimer) return;
    this.watchdogTimer = setInterval(() => void this.send(['WATCHDOG=1']), every);
    this.watchdogTimer.unref();
  }

  stopWatchdog(): void {
    if (this.watchdogTimer) clearInterval(this.watchdogTimer);
    this.watchdogTimer = undefined;
  }

  private send(lines: string[]): Promise<void> {
    for (const line of lines) {
      if (line.includes('\n')) throw new Error(`notify message line contains a newline: ${JSON.stringify(line)}`);
    }
    this.queue = this.queue.then(() => this.deliver(lines)).catch((err: unknown) => {
      // Once per process: a missing manager socket would otherwise log twice a watchdog period.
      if (this.warnedOnce) return;
      this.warnedOnce = true;
      this.log.warn(`sd_notify ${lines[0].split('=')[0]} failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    return this.queue;
  }

  private async deliver(lines: string[]): Promise<void> {
    const t = this.config.transport;
    if (t.kind === 'descriptor') {
      // fs.write runs on libuv's thread pool: if systemd's queue is full the wait happens there,
      // not on the event loop.
      const message = Buffer.from(lines.join('\n'));
      const { bytesWritten } = await writeP(t.fd, message);
      if (bytesWritten !== message.length) throw new Error(`short write to the notify socket (${bytesWritten} of ${message.length} bytes)`);
      return;
    }
    const result = await run('systemd-notify', lines, { timeoutMs: 5000, env: { NOTIFY_SOCKET: t.socket } });
    if (result.code !== 0) throw new Error(`systemd-notify exited with ${result.code}: ${result.stderr.trim()}`);
  }
}
