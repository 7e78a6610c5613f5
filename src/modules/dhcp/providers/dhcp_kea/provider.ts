// `use_provider: dhcp_kea`: the DHCP module's backend for ISC Kea, through the Kea Control Agent.
// Settings are documented in README.md next to this file and in config/settings.d/dhcp_kea.yml.

import { readFile } from 'node:fs/promises';
import { defineProvider, type Settings } from '../../../../core/module.ts';
import { KeaClient } from '../../../../lib/kea/client.ts';
import type { DhcpProvider } from '../../provider.ts';
import { probeAlive } from '../../unused-ip.ts';
import { KeaDhcpProvider } from './kea-provider.ts';

export interface KeaSettings {
  url: string;
  user: string | undefined;
  passwordFile: string | undefined;
  timeoutMs: number;
  configWrite: boolean;
  service: string;
  holdMs: number;
  pingFreeIp: boolean;
  configCacheMs: number;
  sslCa: string | undefined;
  sslCert: string | undefined;
  sslKey: string | undefined;
}

/** Validate and normalise the merged settings; every message names the offending key. */
export function keaSettings(s: Settings): KeaSettings {
  const str = (key: string): string | undefined => {
    const v = s[key];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`dhcp_kea: ${key} must be a string`);
    return String(v);
  };
  const url = str('url') ?? 'http://127.0.0.1:8000/';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`dhcp_kea: url is not a valid URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`dhcp_kea: url must be http:// or https://: ${url}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new Error('dhcp_kea: url must not carry credentials; use user and password_file');
  }
  const timeout = Number(s.timeout ?? 10);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 55) {
    throw new Error(`dhcp_kea: timeout must be a number of seconds between 0 and 55 (Foreman waits 60 s): ${String(s.timeout)}`);
  }
  const user = str('user');
  const passwordFile = str('password_file');
  if (user !== undefined && passwordFile === undefined) throw new Error('dhcp_kea: password_file is required when user is set');
  if (user === undefined && passwordFile !== undefined) throw new Error('dhcp_kea: user is required when password_file is set');
  const service = str('service') ?? 'dhcp4';
  if (!/^dhcp4$/.test(service)) throw new Error(`dhcp_kea: service must be dhcp4 (the proxy manages IPv4 only): ${service}`);
  const configWrite = s.config_write ?? false;
  if (typeof configWrite !== 'boolean') throw new Error('dhcp_kea: config_write must be true or false');
  const hold = Number(s.blacklist_duration_minutes ?? 1800);
  if (!Number.isFinite(hold) || hold < 0) throw new Error('dhcp_kea: blacklist_duration_minutes must be a non-negative number');
  const sslCa = str('ssl_ca');
  const sslCert = str('ssl_cert');
  const sslKey = str('ssl_key');
  if ((sslCert === undefined) !== (sslKey === undefined)) throw new Error('dhcp_kea: ssl_cert and ssl_key must be set together');
  if ((sslCa ?? sslCert) !== undefined && parsed.protocol !== 'https:') {
    throw new Error('dhcp_kea: ssl_ca/ssl_cert/ssl_key need an https:// url');
  }
  const cache = Number(s.config_cache_seconds ?? 5);
  if (!Number.isFinite(cache) || cache < 0 || cache > 3600) {
    throw new Error(`dhcp_kea: config_cache_seconds must be a number of seconds between 0 and 3600: ${String(s.config_cache_seconds)}`);
  }
  return {
    url,
    user,
    passwordFile,
    timeoutMs: Math.round(timeout * 1000),
    configWrite,
    service,
    // Seconds, as in the reference's ISC provider (whose setting name says minutes).
    holdMs: hold * 1000,
    pingFreeIp: s.ping_free_ip !== false,
    configCacheMs: Math.round(cache * 1000),
    sslCa,
    sslCert,
    sslKey,
  };
}

async function readSetting(key: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`dhcp_kea: ${key} ${path} cannot be read: ${(err as Error).message}`);
  }
}

export async function readPassword(path: string): Promise<string> {
  return (await readSetting('password_file', path)).replace(/\r?\n$/, '');
}

export default defineProvider<DhcpProvider>({
  id: 'dhcp_kea',
  module: 'dhcp',
  settings: {
    url: { default: 'http://127.0.0.1:8000/', type: 'string', checks: ['url'] },
    user: { type: 'string' },
    password_file: { type: 'string' },
    timeout: { default: 10, type: 'number' },
    config_write: { default: false, type: 'boolean', checks: ['boolean'] },
    service: { default: 'dhcp4', type: 'string' },
    blacklist_duration_minutes: { default: 1800, type: 'integer' },
    config_cache_seconds: { default: 5, type: 'number' },
    ssl_ca: { type: 'string' },
    ssl_cert: { type: 'string' },
    ssl_key: { type: 'string' },
  },
  // A next-server may be an IPv4 address (siaddr) or a host name (option 66 + sname).
  capabilities: ['dhcp_filename_ipv4', 'dhcp_filename_hostname'],
  async create(ctx) {
    const s = keaSettings(ctx.settings);
    const password = s.passwordFile !== undefined ? await readPassword(s.passwordFile) : undefined;
    const tls: { ca?: string; cert?: string; key?: string } = {};
    if (s.sslCa !== undefined) tls.ca = await readSetting('ssl_ca', s.sslCa);
    if (s.sslCert !== undefined) tls.cert = await readSetting('ssl_cert', s.sslCert);
    if (s.sslKey !== undefined) tls.key = await readSetting('ssl_key', s.sslKey);
    const client = new KeaClient({
      url: s.url,
      timeoutMs: s.timeoutMs,
      ...(s.user !== undefined ? { user: s.user, password } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
    });
    const provider = new KeaDhcpProvider({
      client,
      service: s.service,
      configWrite: s.configWrite,
      holdMs: s.holdMs,
      ...(s.pingFreeIp ? { probe: probeAlive } : {}),
      log: ctx.log,
      configCacheMs: s.configCacheMs,
    });
    ctx.signal.addEventListener('abort', () => void provider.close(), { once: true });
    return provider;
  },
});
