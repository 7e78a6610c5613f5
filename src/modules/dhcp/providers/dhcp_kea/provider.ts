// `use_provider: dhcp_kea`: the DHCP module's backend for ISC Kea, through the Kea Control Agent.
// The reference has no Kea provider: every setting here is ours (README.md next to this file).

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { KeaClient } from '../../../../lib/kea/client.ts';
import { DHCP_SETTINGS } from '../../module.ts';
import { probeAlive } from '../../unused-ip.ts';
import { KeaDhcpProvider } from './kea-provider.ts';

/** A file named by a setting; a read failure names the key and the file. */
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

export default defineProvider({
  id: 'dhcp_kea',
  module: 'dhcp',
  summary:
    "dhcp_kea: ISC Kea (kea-dhcp4) through the Kea Control Agent's HTTP API. Subnets and reservations come from the running configuration (config-get), leases from the lease_cmds hook; reservations are written with host_cmds when kea-dhcp4 has it and a host database, otherwise by editing the configuration (config-get, edit, config-test, config-set).",
  // A next-server may be an IPv4 address (siaddr) or a host name (option 66 + sname).
  capabilities: ['dhcp_filename_ipv4', 'dhcp_filename_hostname'],
  moduleSettings: DHCP_SETTINGS,
  settings: setting.settings({
    url: setting.url({
      default: 'http://127.0.0.1:8000/',
      extension: true,
      description:
        "URL of the Kea Control Agent, http or https, without credentials. Kea's default port, 8000, is also the Smart Proxy's usual HTTP port: move one of them.",
    }),
    user: setting.string({
      requires: ['password_file'],
      example: 'foreman-proxy',
      extension: true,
      description: "HTTP basic-authentication user, matching a client of the agent's `authentication` block.",
    }),
    password_file: setting.file({
      requires: ['user'],
      example: '/etc/foreman-proxy/kea-ctrl-agent.password',
      extension: true,
      description: "File holding user's password (its whole content, one trailing newline ignored), read once at start-up.",
    }),
    timeout: setting.number({
      default: 10,
      exclusiveMinimum: 0,
      maximum: 55,
      unit: 'seconds',
      extension: true,
      description: 'Time one command to Kea may take, from connecting to the last byte of the reply (Foreman gives up after 60; a create sends up to four commands).',
    }),
    config_write: setting.boolean({
      default: false,
      extension: true,
      description:
        "Reservations written through config-set live only in kea-dhcp4's memory. true: after every change also send config-write, so kea-dhcp4 saves its configuration file and a restart keeps them (the kea-dhcp4 user must be able to write that file). false: changes are lost when kea-dhcp4 restarts or reloads its configuration.",
    }),
    service: setting.oneOf(['dhcp4'], {
      default: 'dhcp4',
      extension: true,
      description: 'Kea service the agent forwards to. Only dhcp4 (the DHCP API is IPv4-only).',
    }),
    blacklist_duration_minutes: setting.integer({
      default: 1800,
      minimum: 0,
      unit: 'seconds',
      extension: true,
      description:
        'How long a suggested free address is withheld from further unused_ip suggestions, so parallel builds get different addresses. Seconds despite the name, as in the ISC provider.',
    }),
    config_cache_seconds: setting.number({
      default: 5,
      minimum: 0,
      maximum: 3600,
      unit: 'seconds',
      extension: true,
      description:
        "How long a configuration read from Kea serves further reads (0: always ask Kea). Writes always read afresh, so the proxy's own changes show at once; others' changes show within this time.",
    }),
    ssl_ca: setting.file({
      example: '/etc/foreman-proxy/kea-ca.pem',
      extension: true,
      description: "https url only: the CA that signed the agent's certificate (default: the system CAs).",
    }),
    ssl_cert: setting.file({
      requires: ['ssl_key'],
      example: '/etc/foreman-proxy/kea-client.pem',
      extension: true,
      description: 'https url only: client certificate, for an agent with "cert-required": true.',
    }),
    ssl_key: setting.file({
      requires: ['ssl_cert'],
      example: '/etc/foreman-proxy/kea-client.key',
      extension: true,
      description: "https url only: the client certificate's key.",
    }),
  }),
  validate(s) {
    const url = new URL(s.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { key: 'url', message: `dhcp_kea: url must be http:// or https://: ${s.url}` };
    }
    if (url.username !== '' || url.password !== '') {
      return { key: 'url', message: 'dhcp_kea: url must not carry credentials; use user and password_file' };
    }
    const tlsKey = (['ssl_ca', 'ssl_cert', 'ssl_key'] as const).find((k) => s[k] !== undefined && s[k] !== '');
    if (tlsKey !== undefined && url.protocol !== 'https:') {
      return { key: tlsKey, message: 'dhcp_kea: ssl_ca/ssl_cert/ssl_key need an https:// url' };
    }
    return undefined;
  },
  async create(ctx) {
    const s = ctx.settings;
    const given = (v: string | undefined): v is string => v !== undefined && v !== '';
    const password = given(s.password_file) ? await readPassword(s.password_file) : undefined;
    const tls: { ca?: string; cert?: string; key?: string } = {};
    if (given(s.ssl_ca)) tls.ca = await readSetting('ssl_ca', s.ssl_ca);
    if (given(s.ssl_cert)) tls.cert = await readSetting('ssl_cert', s.ssl_cert);
    if (given(s.ssl_key)) tls.key = await readSetting('ssl_key', s.ssl_key);
    const client = new KeaClient({
      url: s.url,
      timeoutMs: Math.round(s.timeout * 1000),
      ...(given(s.user) ? { user: s.user, password } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
    });
    return new KeaDhcpProvider({
      client,
      service: s.service,
      configWrite: s.config_write,
      // Seconds, as in the reference's ISC provider (whose setting name says minutes).
      holdMs: s.blacklist_duration_minutes * 1000,
      ...(s.ping_free_ip ? { probe: probeAlive } : {}),
      log: ctx.log,
      configCacheMs: Math.round(s.config_cache_seconds * 1000),
    });
  },
});
