// settings.yml → GlobalSettings (spec README §8.1), plus our `listeners:` and `limits:` extensions.

import { resolve, join, isAbsolute } from 'node:path';
import { SettingsError } from '../errors.ts';
import { readSettingsFile } from './yaml.ts';
import { asBoolean, asInteger, asList, asNumber, asString, asStringList, describe } from './coerce.ts';
import type { ClientCertPolicy, GlobalSettings, Limits, ListenerSpec } from './global.ts';
import { addressEntryProblem } from '../../lib/net/address-list.ts';

const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL', 'UNKNOWN'] as const;

export const DEFAULT_LIMITS: Limits = {
  handshakeTimeoutMs: 10_000,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 10_000,
  bodyLimitBytes: 16 * 1024 * 1024,
  maxConnections: 1024,
  maxConnectionsPerPeer: 64,
  reservedConnections: defaultReserve(1024),
  controlPeers: [],
};

/** reserved_connections when not set: a tenth of max_connections. */
function defaultReserve(maxConnections: number): number {
  return Math.floor(maxConnections / 10);
}

function optString(file: string, raw: Record<string, unknown>, key: string): string | null {
  const v = raw[key];
  if (v === undefined || v === null) return null;
  return asString(file, key, v);
}

function port(file: string, key: string, v: unknown): number {
  return asInteger(file, key, v, 0, 65535);
}

function parseLimits(file: string, v: unknown): Limits {
  if (v === undefined || v === null) return DEFAULT_LIMITS;
  if (typeof v !== 'object' || Array.isArray(v)) throw new SettingsError(file, 'limits', `expected a mapping, got ${describe(v)}`);
  const m = v as Record<string, unknown>;
  const seconds = (k: string, def: number): number =>
    m[k] === undefined ? def : Math.round(asNumber(file, `limits.${k}`, m[k]) * 1000);
  const known = new Set([
    'handshake_timeout',
    'header_timeout',
    'request_timeout',
    'keepalive_timeout',
    'body_limit',
    'max_connections',
    'max_connections_per_peer',
    'reserved_connections',
    'control_peers',
  ]);
  for (const k of Object.keys(m)) if (!known.has(k)) throw new SettingsError(file, `limits.${k}`, 'unknown limit');
  const maxConnections = m.max_connections === undefined ? DEFAULT_LIMITS.maxConnections : asInteger(file, 'limits.max_connections', m.max_connections, 1);
  const controlPeers = asStringList(file, 'limits.control_peers', m.control_peers);
  for (const [i, entry] of controlPeers.entries()) {
    const problem = addressEntryProblem(entry);
    if (problem) throw new SettingsError(file, `limits.control_peers[${i}]`, problem);
  }
  return {
    handshakeTimeoutMs: seconds('handshake_timeout', DEFAULT_LIMITS.handshakeTimeoutMs),
    headersTimeoutMs: seconds('header_timeout', DEFAULT_LIMITS.headersTimeoutMs),
    requestTimeoutMs: seconds('request_timeout', DEFAULT_LIMITS.requestTimeoutMs),
    keepAliveTimeoutMs: seconds('keepalive_timeout', DEFAULT_LIMITS.keepAliveTimeoutMs),
    bodyLimitBytes: m.body_limit === undefined ? DEFAULT_LIMITS.bodyLimitBytes : asInteger(file, 'limits.body_limit', m.body_limit, 1024),
    maxConnections,
    maxConnectionsPerPeer:
      m.max_connections_per_peer === undefined
        ? DEFAULT_LIMITS.maxConnectionsPerPeer
        : asInteger(file, 'limits.max_connections_per_peer', m.max_connections_per_peer, 1),
    reservedConnections:
      m.reserved_connections === undefined
        ? defaultReserve(maxConnections)
        : asInteger(file, 'limits.reserved_connections', m.reserved_connections, 0, maxConnections - 1),
    controlPeers,
  };
}

function parseListeners(file: string, v: unknown, base: string): ListenerSpec[] {
  const items = asList(file, 'listeners', v);
  const names = new Set<string>();
  return items.map((item, i) => {
    const where = `listeners[${i}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) {
      throw new SettingsError(file, where, `expected a mapping, got ${describe(item)}`);
    }
    const m = item as Record<string, unknown>;
    const known = new Set(['name', 'bind', 'port', 'scheme', 'audience', 'ssl_certificate', 'ssl_private_key', 'ssl_ca_file', 'client_cert', 'modules']);
    for (const k of Object.keys(m)) if (!known.has(k)) throw new SettingsError(file, `${where}.${k}`, 'unknown listener setting');
    const name = m.name === undefined ? `listener${i}` : asString(file, `${where}.name`, m.name);
    if (names.has(name)) throw new SettingsError(file, `${where}.name`, `duplicate listener name '${name}'`);
    names.add(name);
    if (m.port === undefined) throw new SettingsError(file, `${where}.port`, 'is required');
    const scheme = m.scheme === undefined ? 'https' : asString(file, `${where}.scheme`, m.scheme);
    if (scheme !== 'http' && scheme !== 'https') throw new SettingsError(file, `${where}.scheme`, `must be http or https, got '${scheme}'`);
    const audience = m.audience === undefined ? 'foreman' : asString(file, `${where}.audience`, m.audience);
    if (audience !== 'foreman' && audience !== 'client') throw new SettingsError(file, `${where}.audience`, `must be foreman or client, got '${audience}'`);
    const clientCert = m.client_cert === undefined ? 'request' : asString(file, `${where}.client_cert`, m.client_cert);
    if (!['request', 'require', 'none'].includes(clientCert)) {
      throw new SettingsError(file, `${where}.client_cert`, `must be request, require or none, got '${clientCert}'`);
    }
    const path = (k: string): string | undefined =>
      m[k] === undefined || m[k] === null ? undefined : resolve(base, asString(file, `${where}.${k}`, m[k]));
    return {
      name,
      bind: m.bind === undefined ? ['*'] : asStringList(file, `${where}.bind`, m.bind),
      port: port(file, `${where}.port`, m.port),
      scheme,
      audience,
      sslCertificate: path('ssl_certificate'),
      sslPrivateKey: path('ssl_private_key'),
      sslCaFile: path('ssl_ca_file'),
      clientCert: clientCert as ClientCertPolicy,
      modules: m.modules === undefined ? undefined : asStringList(file, `${where}.modules`, m.modules),
    };
  });
}

/** Parse the content of settings.yml. `settingsDir` is the directory holding it. */
export function parseGlobalSettings(raw: Record<string, unknown>, file: string, settingsDir: string): GlobalSettings {
  const base = resolve(settingsDir);
  const abs = (p: string | null): string | null => (p === null ? null : isAbsolute(p) ? p : resolve(base, p));
  const settingsDirectory = abs(optString(file, raw, 'settings_directory')) ?? join(base, 'settings.d');

  let foremanUrl = optString(file, raw, 'foreman_url');
  if (foremanUrl !== null && foremanUrl !== '') {
    if (!URL.canParse(foremanUrl)) throw new SettingsError(file, 'foreman_url', `is not a valid URL: '${foremanUrl}'`);
    if (!foremanUrl.endsWith('/')) foremanUrl += '/';
  } else foremanUrl = null;

  const logLevel = (optString(file, raw, 'log_level') ?? 'INFO').toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new SettingsError(file, 'log_level', `must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  }
  const logBuffer = raw.log_buffer === undefined ? 2000 : asInteger(file, 'log_buffer', raw.log_buffer);
  const logBufferErrors = raw.log_buffer_errors === undefined ? 1000 : asInteger(file, 'log_buffer_errors', raw.log_buffer_errors);
  if (logBuffer <= 1) throw new SettingsError(file, 'log_buffer', 'must be greater than 1');
  if (logBufferErrors <= 1) throw new SettingsError(file, 'log_buffer_errors', 'must be greater than 1');

  const trusted = raw.trusted_hosts;
  const timeouts = raw.dns_resolv_timeouts === undefined ? [5, 8, 13] : asList(file, 'dns_resolv_timeouts', raw.dns_resolv_timeouts).map((v, i) => asNumber(file, `dns_resolv_timeouts[${i}]`, v));
  if (timeouts.length === 0 || timeouts.some((t) => t <= 0)) throw new SettingsError(file, 'dns_resolv_timeouts', 'must be one or more positive numbers of seconds');

  const listeners = raw.listeners === undefined || raw.listeners === null ? [] : parseListeners(file, raw.listeners, base);
  const trustedProxies = asStringList(file, 'trusted_proxies', raw.trusted_proxies);
  for (const [i, entry] of trustedProxies.entries()) {
    const problem = addressEntryProblem(entry);
    if (problem) throw new SettingsError(file, `trusted_proxies[${i}]`, problem);
  }
  // With named listeners, http_port/https_port (read by httpboot, reported to Foreman) default to
  // the first listener of each scheme, client-facing ones first.
  const firstPort = (scheme: 'http' | 'https'): number | undefined =>
    [...listeners].sort((a, b) => (a.audience === b.audience ? 0 : a.audience === 'client' ? -1 : 1)).find((l) => l.scheme === scheme)?.port;
  const httpPort = raw.http_port === undefined || raw.http_port === null ? (firstPort('http') ?? null) : port(file, 'http_port', raw.http_port);
  const httpsPort = raw.https_port === undefined || raw.https_port === null ? (firstPort('https') ?? 8443) : port(file, 'https_port', raw.https_port);

  return {
    settingsDir: base,
    settingsDirectory,
    sslCertificate: abs(optString(file, raw, 'ssl_certificate')),
    sslPrivateKey: abs(optString(file, raw, 'ssl_private_key')),
    sslCaFile: abs(optString(file, raw, 'ssl_ca_file')),
    sslDisabledCiphers: asStringList(file, 'ssl_disabled_ciphers', raw.ssl_disabled_ciphers),
    tlsDisabledVersions: asStringList(file, 'tls_disabled_versions', raw.tls_disabled_versions),
    trustedHosts: trusted === undefined || trusted === null ? null : asStringList(file, 'trusted_hosts', trusted),
    forwardVerify: raw.forward_verify === undefined ? true : asBoolean(file, 'forward_verify', raw.forward_verify),
    foremanUrl,
    foremanSslCa: abs(optString(file, raw, 'foreman_ssl_ca')),
    foremanSslCert: abs(optString(file, raw, 'foreman_ssl_cert')),
    foremanSslKey: abs(optString(file, raw, 'foreman_ssl_key')),
    bindHost: raw.bind_host === undefined || raw.bind_host === null ? ['*'] : asStringList(file, 'bind_host', raw.bind_host),
    httpPort,
    httpsPort,
    logFile: optString(file, raw, 'log_file') ?? '/var/log/foreman-proxy/proxy.log',
    logLevel: logLevel as GlobalSettings['logLevel'],
    fileRollingSize: raw.file_rolling_size === undefined ? 0 : asInteger(file, 'file_rolling_size', raw.file_rolling_size, 0),
    fileRollingAge: raw.file_rolling_age === undefined ? 'weekly' : (raw.file_rolling_age as string | number),
    fileRollingKeep: raw.file_rolling_keep === undefined ? 6 : asInteger(file, 'file_rolling_keep', raw.file_rolling_keep, 0),
    fileLoggingPattern: optString(file, raw, 'file_logging_pattern') ?? '%d %.8X{request} [%.1l] %m',
    systemLoggingPattern: optString(file, raw, 'system_logging_pattern') ?? '%m',
    logBuffer,
    logBufferErrors,
    dnsResolvTimeouts: timeouts,
    listeners,
    limits: parseLimits(file, raw.limits),
    trustedProxies,
    raw,
  };
}

export async function loadGlobalSettings(settingsDir: string): Promise<GlobalSettings> {
  const file = join(resolve(settingsDir), 'settings.yml');
  const raw = await readSettingsFile(file);
  if (raw === undefined) throw new SettingsError(file, undefined, 'file not found');
  return parseGlobalSettings(raw, file, settingsDir);
}
