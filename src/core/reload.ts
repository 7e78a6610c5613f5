// Reload on SIGHUP (docs/reload.md): what a reload may change in place and what needs a restart,
// the result it reports, and one reload at a time.

import { isDeepStrictEqual } from 'node:util';
import type { GlobalSettings, Limits, ListenerSpec } from './settings/global.ts';
import type { ModuleChanges } from './lifecycle.ts';

export interface ReloadResult {
  /** false: the new settings were refused (or the proxy is shutting down); nothing changed. */
  readonly ok: boolean;
  /** Why the reload was refused: the file, the key when one is to blame, and the reason. */
  readonly error?: string;
  /** What happened to each module (empty lists when refused). */
  readonly modules: ModuleChanges;
  /** Settings keys that changed but keep their running value until a restart. */
  readonly needsRestart: readonly string[];
}

export function noModuleChanges(): ModuleChanges {
  return { recreated: [], started: [], stopped: [], kept: [], failed: [] };
}

/** Global settings read once at start (the log sink and buffer survive a reload), by key. */
const RESTART_ONLY: readonly [keyof GlobalSettings, string][] = [
  ['logFile', 'log_file'],
  ['logLevel', 'log_level'],
  ['fileRollingSize', 'file_rolling_size'],
  ['fileRollingAge', 'file_rolling_age'],
  ['fileRollingKeep', 'file_rolling_keep'],
  ['fileLoggingPattern', 'file_logging_pattern'],
  ['systemLoggingPattern', 'system_logging_pattern'],
  ['logBuffer', 'log_buffer'],
  ['logBufferErrors', 'log_buffer_errors'],
];

/**
 * Limits the listening sockets were set up with (connection guard, Node's timers). body_limit is
 * not here: each reload builds new applications, which take the new value.
 */
const RESTART_ONLY_LIMITS: readonly [keyof Limits, string][] = [
  ['handshakeTimeoutMs', 'handshake_timeout'],
  ['headersTimeoutMs', 'header_timeout'],
  ['requestTimeoutMs', 'request_timeout'],
  ['keepAliveTimeoutMs', 'keepalive_timeout'],
  ['maxConnections', 'max_connections'],
  ['maxConnectionsPerPeer', 'max_connections_per_peer'],
  ['reservedConnections', 'reserved_connections'],
  ['controlPeers', 'control_peers'],
];

export interface ListenerPlan {
  /** Keys that changed but cannot be applied to the open sockets. */
  readonly needsRestart: string[];
  /**
   * The spec each running listener serves with after the reload, by name: the new one (modules,
   * audience, TLS files) with the socket-level fields (bind, port, scheme, client_cert) it has.
   */
  readonly effective: Map<string, ListenerSpec>;
}

/**
 * Compare the running listeners with the ones the new settings define. `compatible`: the listeners
 * come from http_port/https_port/bind_host (no `listeners:` in settings.yml), which then name the
 * keys to blame.
 */
export function planListeners(running: readonly ListenerSpec[], next: readonly ListenerSpec[], compatible: boolean): ListenerPlan {
  const needsRestart = new Set<string>();
  const effective = new Map<string, ListenerSpec>();
  const byName = new Map(next.map((l) => [l.name, l]));
  const listKey = (name: string): string => (!compatible ? 'listeners' : name === 'http' ? 'http_port' : 'ssl_certificate');
  for (const old of running) {
    const fresh = byName.get(old.name);
    if (!fresh) {
      needsRestart.add(listKey(old.name));
      effective.set(old.name, old);
      continue;
    }
    const key = (field: string): string =>
      compatible ? (field === 'bind' ? 'bind_host' : field === 'port' ? `${old.name}_port` : field) : `listeners.${old.name}.${field}`;
    if (!isDeepStrictEqual(old.bind, fresh.bind)) needsRestart.add(key('bind'));
    if (old.port !== fresh.port) needsRestart.add(key('port'));
    if (old.scheme !== fresh.scheme) needsRestart.add(key('scheme'));
    if (old.clientCert !== fresh.clientCert) needsRestart.add(key('client_cert'));
    effective.set(old.name, { ...fresh, bind: old.bind, port: old.port, scheme: old.scheme, clientCert: old.clientCert });
  }
  for (const l of next) if (!running.some((r) => r.name === l.name)) needsRestart.add(listKey(l.name));
  return { needsRestart: [...needsRestart], effective };
}

/** Global keys (other than the listeners') whose new value waits for a restart. */
export function restartOnlyChanges(before: GlobalSettings, after: GlobalSettings): string[] {
  const keys: string[] = [];
  for (const [field, key] of RESTART_ONLY) if (!isDeepStrictEqual(before[field], after[field])) keys.push(key);
  for (const [field, key] of RESTART_ONLY_LIMITS) if (!isDeepStrictEqual(before.limits[field], after.limits[field])) keys.push(`limits.${key}`);
  return keys;
}

/**
 * One reload at a time. A reload asked for while one runs is run once more after it (the files may
 * have changed again meanwhile); any further requests until that one starts share it.
 */
export class SerialReloads {
  private readonly run: () => Promise<ReloadResult>;
  private running: Promise<ReloadResult> | undefined;
  private queued: Promise<ReloadResult> | undefined;

  constructor(run: () => Promise<ReloadResult>) {
    this.run = run;
  }

  request(): Promise<ReloadResult> {
    if (this.queued) return this.queued;
    if (!this.running) return this.start();
    const after = (): Promise<ReloadResult> => {
      this.queued = undefined;
      return this.start();
    };
    this.queued = this.running.then(after, after);
    return this.queued;
  }

  /** Settles once no reload runs or waits. */
  async idle(): Promise<void> {
    while (this.running || this.queued) await (this.queued ?? this.running)?.catch(() => undefined);
  }

  private start(): Promise<ReloadResult> {
    const current = this.run().finally(() => {
      if (this.running === current) this.running = undefined;
    });
    this.running = current;
    return current;
  }
}
