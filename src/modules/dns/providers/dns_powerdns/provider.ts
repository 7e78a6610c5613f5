// dns_powerdns: PowerDNS Authoritative through its HTTP API. Setting names follow the Foreman
// plugin smart_proxy_dns_powerdns (rest backend), so its dns_powerdns.yml keeps working.

import { defineProvider } from '../../../../core/module.ts';
import type { DnsProvider } from '../../provider.ts';
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
    const timeoutS = Number(s.powerdns_timeout);
    if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 55) {
      throw new Error(`dns_powerdns: powerdns_timeout must be a whole number of seconds between 1 and 55, got '${String(s.powerdns_timeout)}'`);
    }
    const ttl = Number(s.dns_ttl ?? 86400);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
      throw new Error(`dns_powerdns: dns_ttl must be a whole number of seconds, got '${String(s.dns_ttl)}'`);
    }
    return new DnsPowerDnsProvider({
      url: String(s.powerdns_rest_url),
      apiKey,
      ttl,
      timeoutMs: timeoutS * 1000,
      log: ctx.log,
      signal: ctx.signal,
    });
  },
});
