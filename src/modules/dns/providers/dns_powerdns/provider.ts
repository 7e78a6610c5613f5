// dns_powerdns: PowerDNS Authoritative through its HTTP API. Setting names follow the Foreman
// plugin smart_proxy_dns_powerdns (rest backend), so its dns_powerdns.yml keeps working.

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { DNS_SETTINGS } from '../../module.ts';
import type { DnsProvider } from '../../provider.ts';
import { DnsPowerDnsProvider } from './powerdns.ts';

export default defineProvider({
  id: 'dns_powerdns',
  module: 'dns',
  summary:
    "dns_powerdns: PowerDNS Authoritative through its HTTP API (pdns.conf: api=yes, webserver=yes, api-key=…). Setting names are those of the smart_proxy_dns_powerdns plugin's rest backend.",
  moduleSettings: DNS_SETTINGS,
  settings: setting.settings({
    powerdns_rest_url: setting.url({ default: 'http://localhost:8081/api/v1/servers/localhost', description: 'API URL up to the server id.' }),
    powerdns_rest_api_key: setting.string({ required: true, example: 'changeme', description: 'The api-key of pdns.conf.' }),
    // The plugin also had mysql/postgresql backends that wrote PowerDNS's database directly.
    powerdns_backend: setting.oneOf(['rest'], {
      default: 'rest',
      description: "Only 'rest' is supported (the plugin's mysql/postgresql backends are not).",
    }),
    powerdns_timeout: setting.integer({
      default: 30,
      minimum: 1,
      maximum: 55,
      unit: 'seconds',
      extension: true,
      description: 'Time one create or delete may take in total (Foreman waits 60).',
    }),
  }),
  create(ctx): DnsProvider {
    const s = ctx.settings;
    return new DnsPowerDnsProvider({
      url: s.powerdns_rest_url,
      apiKey: s.powerdns_rest_api_key,
      ttl: s.dns_ttl,
      timeoutMs: s.powerdns_timeout * 1000,
      log: ctx.log,
      signal: ctx.signal,
    });
  },
});
