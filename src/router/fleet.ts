// The instances behind the router and what each serves, learned from the instances themselves:
// `GET /v2/features` (or `/features` where an instance has no control-plane listener) and
// `/version`, asked every health_check_interval, and at once when a connection to the instance
// fails or drops (it was stopped, or restarted with another `--only`/`--bundle`). Nothing about
// features is configured in the router.

import { readFile } from 'node:fs/promises';
import { Pool, errors as undiciErrors } from 'undici';
import { createHttpClient, type HttpClient } from '../lib/http/client.ts';
import { errorText } from '../core/errors.ts';
import type { Logger } from '../core/logging-types.ts';
import type { RouterSettings } from './settings.ts';

/** One entry of `/v2/features` (spec README §4.3). */
export interface FeatureEntry {
  http_enabled: boolean;
  https_enabled: boolean;
  settings: Record<string, unknown>;
  state: string;
  capabilities: string[];
}

export type InstanceHealth = 'unknown' | 'up' | 'down';

/** Most bytes of a features or version answer the router reads. */
const ANSWER_LIMIT = 1024 * 1024;
/** A dropped connection triggers a relearn at most this often per instance. */
const RELEARN_MIN_GAP_MS = 250;
/** A down instance is asked again at least this often, whatever the interval. */
const DOWN_RETRY_MS = 1000;

export class Instance {
  readonly url: URL;
  /** `scheme://host:port`, how the instance is named in logs, metrics and status. */
  readonly name: string;
  /** Keep-alive connections the proxied requests travel on. */
  readonly pool: Pool;
  /** The health checks' own client (the proxy's outbound client, with its deadlines). */
  readonly probe: HttpClient;
  health: InstanceHealth = 'unknown';
  /** The last features answer that arrived (kept while down: which features went down with it). */
  features: Readonly<Record<string, FeatureEntry>> = {};
  /** Features with state `running` in that answer, enabled for the scheme the router uses. */
  running: ReadonlySet<string> = new Set();
  version: string | undefined;
  modules: Readonly<Record<string, string>> = {};
  /** Why the instance is down. */
  lastError: string | undefined;
  /** When `health` last changed (ms since the epoch). */
  since = Date.now();
  inFlight = 0;
  /** Requests sent to it since the router started. */
  requests = 0;
  /** JSON of the last answer, to notice a change. */
  signature = '';
  probing: Promise<void> | undefined;
  lastProbe = 0;

  constructor(url: URL, pool: Pool, probe: HttpClient) {
    this.url = url;
    this.name = url.origin;
    this.pool = pool;
    this.probe = probe;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The features answer as entries; throws on a shape that is not the proxy's. */
function parseV2(body: string): Record<string, FeatureEntry> {
  const doc: unknown = JSON.parse(body);
  if (!isRecord(doc)) throw new Error('/v2/features is not a JSON object');
  const out: Record<string, FeatureEntry> = {};
  for (const [name, raw] of Object.entries(doc)) {
    if (!isRecord(raw) || typeof raw.state !== 'string') throw new Error(`/v2/features entry '${name}' has no state`);
    out[name] = {
      http_enabled: raw.http_enabled === true,
      https_enabled: raw.https_enabled === true,
      settings: isRecord(raw.settings) ? raw.settings : {},
      state: raw.state,
      capabilities: Array.isArray(raw.capabilities) ? raw.capabilities.filter((c): c is string => typeof c === 'string') : [],
    };
  }
  return out;
}

export interface FleetEvents {
  /** The set of features some instance serves changed (an instance came up, went down, or changed). */
  changed(): void;
}

export class Fleet {
  readonly instances: readonly Instance[];
  private readonly settings: RouterSettings;
  private readonly log: Logger;
  private readonly events: FleetEvents;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  /** Learns in total (each successful health check that changed what an instance serves). */
  relearned = 0;

  private constructor(instances: Instance[], settings: RouterSettings, log: Logger, events: FleetEvents) {
    this.instances = instances;
    this.settings = settings;
    this.log = log;
    this.events = events;
  }

  static async create(settings: RouterSettings, log: Logger, events: FleetEvents): Promise<Fleet> {
    const read = async (file: string | undefined, key: string): Promise<Buffer | undefined> => {
      if (file === undefined) return undefined;
      try {
        return await readFile(file);
      } catch (err) {
        throw new Error(`${settings.file}: ${key}: cannot read '${file}': ${errorText(err)}`);
      }
    };
    const [ca, cert, key] = await Promise.all([
      read(settings.upstreamCa, 'upstream_ssl_ca'),
      read(settings.upstreamCert, 'upstream_ssl_certificate'),
      read(settings.upstreamKey, 'upstream_ssl_private_key'),
    ]);
    const tls = {
      rejectUnauthorized: settings.upstreamVerify,
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
    };
    // The pools' event handlers reach the fleet, which needs the instances first.
    const self: { fleet?: Fleet } = {};
    const instances = settings.instances.map((url) => {
      const pool = new Pool(url.origin, {
        connections: settings.maxConnectionsPerInstance,
        pipelining: 1,
        // Below the proxy's keep-alive timeout (10 s), so the router closes idle sockets first and
        // never sends on one the instance is closing.
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 4_000,
        headersTimeout: settings.responseTimeoutMs,
        bodyTimeout: settings.idleTimeoutMs,
        connect: { timeout: settings.connectTimeoutMs, ...tls },
      });
      const probe = createHttpClient({
        baseUrl: url.origin,
        verify: settings.upstreamVerify,
        ca,
        cert,
        key,
        timeoutMs: settings.healthCheckTimeoutMs,
        connectTimeoutMs: Math.min(settings.healthCheckTimeoutMs, settings.connectTimeoutMs),
        connections: 2,
      });
      const instance = new Instance(url, pool, probe);
      pool.on('connectionError', (_origin, _targets, err) => self.fleet?.connectionFailed(instance, err));
      // An instance closing its keep-alive connections (stopping or restarting) is worth a look
      // at once; our own idle timeout closing them is not.
      pool.on('disconnect', (_origin, _targets, err) => {
        if (!(err instanceof undiciErrors.InformationalError)) self.fleet?.relearn(instance);
      });
      return instance;
    });
    self.fleet = new Fleet(instances, settings, log, events);
    return self.fleet;
  }

  /** Learn every instance once (the router then starts listening), then keep checking. */
  async start(): Promise<void> {
    await Promise.all(this.instances.map((i) => this.check(i)));
    for (const instance of this.instances) this.schedule(instance);
  }

  private schedule(instance: Instance): void {
    if (this.closed) return;
    const wait = instance.health === 'up' ? this.settings.healthCheckIntervalMs : Math.min(this.settings.healthCheckIntervalMs, DOWN_RETRY_MS);
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      void this.check(instance).finally(() => this.schedule(instance));
    }, wait);
    timer.unref();
    this.timers.push(timer);
  }

  /** A proxied request could not reach the instance: down now, and asked again at once. */
  connectionFailed(instance: Instance, err: unknown): void {
    if (this.closed) return;
    this.markDown(instance, errorText(err));
    this.relearn(instance);
  }

  /** Ask the instance again soon (coalesced). */
  relearn(instance: Instance): void {
    if (this.closed || instance.probing) return;
    const gap = Date.now() - instance.lastProbe;
    if (gap >= RELEARN_MIN_GAP_MS) void this.check(instance);
    else setTimeout(() => this.relearn(instance), RELEARN_MIN_GAP_MS - gap).unref();
  }

  /** One health check: features and version; coalesced while one is running. */
  check(instance: Instance): Promise<void> {
    instance.probing ??= this.learn(instance).finally(() => {
      instance.probing = undefined;
      instance.lastProbe = Date.now();
    });
    return instance.probing;
  }

  private async learn(instance: Instance): Promise<void> {
    let features: Record<string, FeatureEntry>;
    let version: { version?: unknown; modules?: unknown };
    try {
      features = await this.fetchFeatures(instance);
      const res = await instance.probe.request({ method: 'GET', path: '/version', headers: { accept: 'application/json' } });
      const text = await res.text(ANSWER_LIMIT);
      if (res.status !== 200) throw new Error(`/version answered ${res.status}: ${text.slice(0, 200)}`);
      const parsed: unknown = JSON.parse(text);
      if (!isRecord(parsed)) throw new Error('/version is not a JSON object');
      version = parsed;
    } catch (err) {
      this.markDown(instance, errorText(err));
      return;
    }
    if (this.closed) return;
    const modules: Record<string, string> = {};
    if (isRecord(version.modules)) for (const [k, v] of Object.entries(version.modules)) if (typeof v === 'string') modules[k] = v;
    const signature = JSON.stringify([features, version.version, modules]);
    const wasUp = instance.health === 'up';
    if (wasUp && signature === instance.signature) return;
    const before = [...instance.running].sort();
    instance.features = features;
    // A module enabled for one scheme only is mounted on that scheme's listeners only.
    const https = instance.url.protocol === 'https:';
    instance.running = new Set(Object.entries(features).filter(([, f]) => f.state === 'running' && (https ? f.https_enabled : f.http_enabled)).map(([n]) => n));
    instance.version = typeof version.version === 'string' ? version.version : undefined;
    instance.modules = modules;
    instance.signature = signature;
    instance.lastError = undefined;
    if (!wasUp) {
      instance.health = 'up';
      instance.since = Date.now();
    }
    const now = [...instance.running].sort();
    this.relearned++;
    if (!wasUp) this.log.info(`Instance ${instance.name} is up, serving ${now.join(', ') || 'nothing'}`);
    else if (before.join() !== now.join()) this.log.info(`Instance ${instance.name} now serves ${now.join(', ') || 'nothing'} (was ${before.join(', ') || 'nothing'})`);
    else this.log.info(`Instance ${instance.name} changed its features answer`);
    this.events.changed();
  }

  private async fetchFeatures(instance: Instance): Promise<Record<string, FeatureEntry>> {
    const headers = { accept: 'application/json' };
    const v2 = await instance.probe.request({ method: 'GET', path: '/v2/features', headers });
    const text = await v2.text(ANSWER_LIMIT);
    if (v2.status === 200) return parseV2(text);
    // An instance with only client-audience listeners serves /features but not /v2/features.
    if (v2.status !== 404) throw new Error(`/v2/features answered ${v2.status}: ${text.slice(0, 200)}`);
    const v1 = await instance.probe.request({ method: 'GET', path: '/features', headers });
    const list: unknown = JSON.parse(await v1.text(ANSWER_LIMIT));
    if (v1.status !== 200 || !Array.isArray(list)) throw new Error(`/features answered ${v1.status}`);
    const https = instance.url.protocol === 'https:';
    const out: Record<string, FeatureEntry> = {};
    for (const name of list) {
      if (typeof name === 'string') out[name] = { http_enabled: !https, https_enabled: https, settings: {}, state: 'running', capabilities: [] };
    }
    return out;
  }

  private markDown(instance: Instance, reason: string): void {
    if (this.closed) return;
    instance.lastError = reason;
    if (instance.health === 'down') return;
    const wasUp = instance.health === 'up';
    instance.health = 'down';
    instance.since = Date.now();
    instance.signature = '';
    this.log.warn(`Instance ${instance.name} is down${wasUp ? `, its features ${[...instance.running].sort().join(', ') || '(none)'} go to other instances or answer 503` : ''}: ${reason}`);
    this.events.changed();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    await Promise.all(this.instances.flatMap((i) => [i.pool.close().catch(() => undefined), i.probe.close().catch(() => undefined)]));
  }
}
