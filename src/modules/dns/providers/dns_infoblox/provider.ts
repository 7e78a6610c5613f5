// dns_infoblox: records in an Infoblox grid through its WAPI. Setting names and defaults follow
// the Foreman plugin smart_proxy_dns_infoblox, so its dns_infoblox.yml keeps working.

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { WAPI_SETTINGS } from '../../../../lib/infoblox/settings.ts';
import { WapiClient, wapiBaseUrl } from '../../../../lib/infoblox/wapi.ts';
import { DNS_SETTINGS } from '../../module.ts';
import type { DnsProvider } from '../../provider.ts';
import { InfobloxDnsProvider } from './infoblox-dns.ts';

export default defineProvider({
  id: 'dns_infoblox',
  module: 'dns',
  summary:
    'dns_infoblox: A, AAAA, PTR and CNAME records as Infoblox WAPI objects (record:a, record:aaaa, record:ptr, record:cname) in one DNS view, over HTTPS with basic authentication. Setting names are those of the smart_proxy_dns_infoblox plugin.',
  moduleSettings: DNS_SETTINGS,
  settings: setting.settings({
    dns_server: setting.string({
      default: 'localhost',
      description: 'The Infoblox grid master: a host name or address, optionally with :port (the WAPI is at https://<dns_server>/wapi/v<wapi_version>/).',
    }),
    username: setting.string({ default: 'infoblox', description: 'WAPI user; it needs the DNS role.' }),
    password: setting.string({ default: 'infoblox', description: "The WAPI user's password (sent only in the Authorization header, never logged)." }),
    dns_view: setting.string({ default: 'default', description: "DNS view of every record (custom views are usually named 'default.<view>')." }),
    timeout: setting.integer({
      default: 60,
      minimum: 1,
      maximum: 600,
      unit: 'seconds',
      description: 'Time one create or delete (all its WAPI calls, connecting included) may take.',
    }),
    ...WAPI_SETTINGS,
  }),
  validate(s) {
    try {
      wapiBaseUrl(s.dns_server, s.wapi_version);
    } catch (err) {
      return { key: 'dns_server', message: `dns_infoblox: dns_server is not a host name or URL: ${(err as Error).message}` };
    }
    return undefined;
  },
  async create(ctx): Promise<DnsProvider> {
    const s = ctx.settings;
    const ca = s.ssl_ca !== undefined && s.ssl_ca !== '' ? await readFile(s.ssl_ca, 'utf8') : undefined;
    const wapi = new WapiClient({
      server: s.dns_server,
      username: s.username,
      password: s.password,
      wapiVersion: s.wapi_version,
      timeoutMs: s.timeout * 1000,
      concurrency: s.wapi_concurrency,
      origin: 'dns_infoblox',
      ...(ca !== undefined ? { ca } : {}),
      signal: ctx.signal,
    });
    ctx.log.info(`dns_infoblox: WAPI at ${wapi.base.href} as ${s.username}, DNS view ${s.dns_view}`);
    return new InfobloxDnsProvider(wapi, s.dns_view);
  },
});
