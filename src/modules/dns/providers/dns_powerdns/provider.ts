// dns_powerdns: PowerDNS Authoritative through its HTTP API. Setting names follow the Foreman
// plugin smart_proxy_dns_powerdns (rest backend), so its dns_powerdns.yml keeps working.

import { defineProvider } from '../../../../core/module.ts';
import type { DnsProvider } from '../../provider.ts';
import { changeTimeoutMs, recordTtl } from '../../provider-settings.ts';
import { DnsPowerDnsProvider } from './powerdns.ts';

export default defineProvider<DnsProvider>({
  id: 'dns_powerdns',
  module: 'dns',
  settings: {
    powerdns_rest_url: { default: 'http://localhost:8081/api/v1/servers/localhost', type: 'string', checks: ['url'] },
    powerdns_rest_api_key: { type: 'string' },
    // The plugin also had mysql/postgresql backends that wrote PowerDNS's database directly.
    powerdns_backend: { default: 'rest', type: 'string' },
    // Our extension: overall deadline of one create/delete, seconds.
    powerdns_timeout: { default: 30, type: 'integer' },
  },
  create(ctx) {
    const s = ctx.settings;
    if (String(s.powerdns_backend) !== 'rest') {
      throw new Error(`dns_powerdns: powerdns_backend '${String(s.powerdns_backend)}' is not supported; only 'rest' (the HTTP API) is`);
    }
    const apiKey = typeof s.powerdns_rest_api_key === 'string' ? s.powerdns_rest_api_key : String(s.powerdns_rest_api_key ?? '');
    if (apiKey === '') throw new Error("Parameter 'powerdns_rest_api_key' is expected to have a non-empty value");
    const timeoutMs = changeTimeoutMs('dns_powerdns', 'powerdns_timeout', s.powerdns_timeout);
    const ttl = recordTtl('dns_powerdns', s.dns_ttl);
    return new DnsPowerDnsProvider({
      url: String(s.powerdns_rest_url),
      apiKey,
      ttl,
      timeoutMs,
      log: ctx.log,
      signal: ctx.signal,
    });
  },
});
