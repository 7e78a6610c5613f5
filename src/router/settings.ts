// Settings of `smart-proxy router`: the front listener comes from settings.yml (same keys and
// meaning as the proxy's, so an operator reuses the file), the router's own from
// settings.d/router.yml, declared once here with the core's schema helpers.

import { join } from 'node:path';
import { SettingsError } from '../core/errors.ts';
import * as setting from '../core/settings/schema.ts';
import { checkDeclared, readDeclared, typed, type Static } from '../core/settings/schema.ts';
import { readSettingsFile } from '../core/settings/yaml.ts';
import { loadGlobalSettings } from '../core/settings/load-global.ts';
import type { GlobalSettings } from '../core/settings/global.ts';

export const ROUTER_SETTINGS = setting.settings({
  instances: setting.list({
    description:
      'Required. Base URLs of the proxy instances behind the router (`https://host:port`, or `http://` for a plain listener), no path. Each must answer `/v2/features` (or `/features`) to the router.',
    example: ['https://127.0.0.1:8443', 'https://127.0.0.1:9443'],
    extension: true,
  }),
  health_check_interval: setting.number({
    default: 5,
    exclusiveMinimum: 0,
    unit: 'seconds',
    description:
      'How often every instance is asked for its features (its health check); a down instance at least every second. An instance whose connection fails or drops is asked again at once.',
    extension: true,
  }),
  health_check_timeout: setting.number({
    default: 3,
    exclusiveMinimum: 0,
    unit: 'seconds',
    description: 'Deadline of each request of a health check (`/v2/features`, `/version`); past it the instance counts as down.',
    extension: true,
  }),
  retry_after: setting.integer({
    default: 10,
    minimum: 1,
    unit: 'seconds',
    description: '`Retry-After` of the 503 answered for a feature whose instances are all down.',
    extension: true,
  }),
  balance: setting.oneOf(['least-busy', 'round-robin'] as const, {
    default: 'least-busy',
    description:
      'How requests for a feature served by several instances are spread: to the instance with the fewest requests in flight (ties in turn), or strictly in turn.',
    extension: true,
  }),
  upstream_ssl_ca: setting.file({
    checks: ['readable'],
    description: 'CA bundle that verifies the instances’ certificates. Default: `:ssl_ca_file:` of settings.yml.',
    extension: true,
  }),
  upstream_ssl_certificate: setting.file({
    checks: ['readable'],
    requires: ['upstream_ssl_private_key'],
    description:
      'Client certificate the router presents to the instances (its CN must be in their `:trusted_hosts:`). Default: `:ssl_certificate:` of settings.yml.',
    extension: true,
  }),
  upstream_ssl_private_key: setting.file({
    checks: ['readable'],
    requires: ['upstream_ssl_certificate'],
    description: 'Key of `upstream_ssl_certificate`. Default: `:ssl_private_key:` of settings.yml.',
    extension: true,
  }),
  upstream_verify: setting.boolean({
    default: true,
    description: 'Verify the instances’ certificates and host names against `upstream_ssl_ca`.',
    extension: true,
  }),
  connect_timeout: setting.number({
    default: 5,
    exclusiveMinimum: 0,
    unit: 'seconds',
    description: 'Deadline of the TCP + TLS connect to an instance; a failed connect marks the instance down and the request goes to another instance when it has no body.',
    extension: true,
  }),
  response_timeout: setting.number({
    default: 120,
    exclusiveMinimum: 0,
    unit: 'seconds',
    description: 'Longest wait for an instance’s response headers (an instance relays slow backends: keep it above their deadlines). Answered 504.',
    extension: true,
  }),
  idle_timeout: setting.number({
    default: 60,
    exclusiveMinimum: 0,
    unit: 'seconds',
    description: 'Longest silence in the middle of a response body from an instance before the exchange is cut.',
    extension: true,
  }),
  max_connections_per_instance: setting.integer({
    default: 48,
    minimum: 1,
    description:
      'Keep-alive connections the router opens to one instance at most; further requests wait for a free one. The instance counts them all against one peer: keep this below its `limits: max_connections_per_peer:` (64), or list the router in its `limits: control_peers:`.',
    extension: true,
  }),
});

export type RouterFileSettings = Static<typeof ROUTER_SETTINGS>;

/** Everything the router runs from, checked. */
export interface RouterSettings {
  readonly global: GlobalSettings;
  readonly file: string;
  readonly instances: readonly URL[];
  readonly healthCheckIntervalMs: number;
  readonly healthCheckTimeoutMs: number;
  readonly retryAfterSeconds: number;
  readonly balance: 'least-busy' | 'round-robin';
  readonly upstreamCa: string | undefined;
  readonly upstreamCert: string | undefined;
  readonly upstreamKey: string | undefined;
  readonly upstreamVerify: boolean;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnectionsPerInstance: number;
}

export const ROUTER_FILE = 'router.yml';
/** Header of the generated example config/settings.d/router.yml. */
export const ROUTER_SUMMARY =
  'Settings of `smart-proxy router`, the front door for several proxy instances (src/router/README.md). Read by the router only; the front listener (TLS, ports, trusted_hosts, logging) comes from settings.yml as for a proxy.';

/** Read and check settings.yml and settings.d/router.yml; a mistake names file and key. */
export async function loadRouterSettings(settingsDir: string): Promise<RouterSettings> {
  const global = await loadGlobalSettings(settingsDir);
  const file = join(global.settingsDirectory, ROUTER_FILE);
  const raw = await readSettingsFile(file);
  if (raw === undefined) throw new SettingsError(file, undefined, 'file not found (the router needs at least `:instances:`)');
  return parseRouterSettings(raw, file, global);
}

export async function parseRouterSettings(raw: Record<string, unknown>, file: string, global: GlobalSettings): Promise<RouterSettings> {
  for (const key of Object.keys(raw)) {
    if (!(key in ROUTER_SETTINGS.properties)) {
      throw new SettingsError(file, key, `unknown setting (known: ${Object.keys(ROUTER_SETTINGS.properties).join(', ')})`);
    }
  }
  // The proxy's TLS files are the default client identity and trust towards the instances.
  const withDefaults = {
    upstream_ssl_ca: global.sslCaFile ?? undefined,
    upstream_ssl_certificate: global.sslCertificate ?? undefined,
    upstream_ssl_private_key: global.sslPrivateKey ?? undefined,
    ...raw,
  };
  const values = readDeclared(file, ROUTER_SETTINGS, withDefaults);
  const problem = await checkDeclared('router', file, ROUTER_SETTINGS, values);
  if (problem) throw new SettingsError(file, problem.key, problem.reason);
  const s = typed(ROUTER_SETTINGS, values);

  const list = s.instances ?? [];
  if (list.length === 0) throw new SettingsError(file, 'instances', 'is required: list the base URL of every proxy instance behind the router');
  const seen = new Set<string>();
  const instances = list.map((text, i) => {
    const key = `instances[${i}]`;
    if (!URL.canParse(text)) throw new SettingsError(file, key, `is not a valid URL: '${text}'`);
    const url = new URL(text);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SettingsError(file, key, `must be an http:// or https:// URL, got '${text}'`);
    if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
      throw new SettingsError(file, key, `must be a base URL without a path, query or fragment, got '${text}'`);
    }
    if (url.username !== '' || url.password !== '') throw new SettingsError(file, key, 'must not carry credentials');
    if (seen.has(url.origin)) throw new SettingsError(file, key, `lists ${url.origin} a second time`);
    seen.add(url.origin);
    return url;
  });
  if (instances.some((u) => u.protocol === 'https:') && (s.upstream_ssl_certificate === undefined) !== (s.upstream_ssl_private_key === undefined)) {
    throw new SettingsError(file, 'upstream_ssl_private_key', 'upstream_ssl_certificate and upstream_ssl_private_key must be set together');
  }
  const ms = (seconds: number): number => Math.round(seconds * 1000);
  return {
    global,
    file,
    instances,
    healthCheckIntervalMs: ms(s.health_check_interval),
    healthCheckTimeoutMs: ms(s.health_check_timeout),
    retryAfterSeconds: s.retry_after,
    balance: s.balance,
    upstreamCa: s.upstream_ssl_ca,
    upstreamCert: s.upstream_ssl_certificate,
    upstreamKey: s.upstream_ssl_private_key,
    upstreamVerify: s.upstream_verify,
    connectTimeoutMs: ms(s.connect_timeout),
    responseTimeoutMs: ms(s.response_timeout),
    idleTimeoutMs: ms(s.idle_timeout),
    maxConnectionsPerInstance: s.max_connections_per_instance,
  };
}
