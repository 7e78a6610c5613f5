// The DNS module (spec dns.md): create and delete A, AAAA, PTR, CNAME and SRV records through the
// provider named by use_provider (dns_nsupdate by default; dns_nsupdate_gss, dns_powerdns,
// dns_libvirt, dns_infoblox, dns_route53).

import { defineModule, type Providers } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { DnsProvider } from './provider.ts';

export const DNS_SETTINGS = setting.settings({
  use_provider: setting.string({
    default: 'dns_nsupdate',
    description:
      'Backend: dns_nsupdate (RFC 2136 dynamic updates with TSIG, e.g. BIND), dns_nsupdate_gss (GSS-TSIG with a Kerberos keytab, e.g. Active Directory DNS), dns_powerdns (PowerDNS HTTP API), dns_libvirt (a libvirt network\'s DNS), dns_infoblox (Infoblox WAPI) or dns_route53 (AWS Route 53). Shown in /v2/features.',
  }),
  dns_ttl: setting.integer({
    default: 86400,
    minimum: 0,
    maximum: 0x7fffffff,
    unit: 'seconds',
    description: 'TTL of the records created.',
  }),
});

export default defineModule({
  name: 'dns',
  summary: 'DNS record management (/dns): Foreman creates and deletes A, AAAA and PTR records here (CNAME and SRV work too).',
  prefixes: ['/dns'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: DNS_SETTINGS,
  exposedSettings: ['use_provider'],
  providerIds: (s) => [s.use_provider],
  // A provider failure without a code of DnsError is a 400 with its message, as the reference.
  errors: { untypedStatus: 400 },
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  async create(ctx, providers: Providers<DnsProvider>) {
    return (await import('./api.ts')).dnsModule(providers.get(ctx.settings.use_provider));
  },
});
