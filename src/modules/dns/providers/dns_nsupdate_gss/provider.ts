// dns_nsupdate_gss: RFC 2136 dynamic updates signed with GSS-TSIG (RFC 3645), the way Linux hosts
// update Active Directory DNS (secure dynamic updates) or BIND with tkey-gssapi-keytab (FreeIPA).
// Settings-compatible with the reference: dns_server, dns_tsig_keytab, dns_tsig_principal, and
// dns_ttl from dns.yml. Updates are sent by `nsupdate -g` with a ticket this provider obtains from
// the keytab and keeps fresh (README: why not natively).

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { parseServerSpec } from '../../../../lib/dns/client.ts';
import { KerberosCredentials } from '../../../../lib/krb5/credentials.ts';
import type { DnsProvider } from '../../provider.ts';
import { DNS_SETTINGS } from '../../module.ts';
import { DnsNsupdateGssProvider } from './nsupdate-gss.ts';

/** Variables of the proxy's environment that kinit and nsupdate need to see (where krb5.conf is). */
const KRB5_ENV = ['KRB5_CONFIG', 'KRB5_TRACE'] as const;

export default defineProvider({
  id: 'dns_nsupdate_gss',
  module: 'dns',
  summary:
    'dns_nsupdate_gss: dynamic DNS updates (RFC 2136) signed with GSS-TSIG (Kerberos), e.g. Active Directory DNS with secure updates or BIND with tkey-gssapi-keytab (FreeIPA). Runs `nsupdate -g` with a ticket obtained from a keytab.',
  moduleSettings: DNS_SETTINGS,
  settings: setting.settings({
    dns_server: setting.string({
      default: 'localhost',
      description:
        "Server to update, and to query for zones and conflicts. A port may be given: `dc1.example.com:5353`, `[2001:db8::53]:5353`, or nsupdate's `127.0.0.1 5353`. Default port 53. The Kerberos service principal used is DNS/<primary name in the zone's SOA record>, as nsupdate does.",
    }),
    dns_tsig_keytab: setting.file({
      default: '/usr/share/foreman-proxy/dns.keytab',
      checks: ['readable'],
      description: 'Keytab holding the key of dns_tsig_principal (readable by the proxy).',
    }),
    dns_tsig_principal: setting.string({
      default: 'DNS/host.example.com@EXAMPLE.COM',
      description:
        "Kerberos principal the proxy authenticates as (`name/instance@REALM`); the DNS server must allow it to update the zones (BIND: update-policy grant; Active Directory: the zone's security).",
    }),
    dns_timeout: setting.integer({
      default: 30,
      minimum: 1,
      maximum: 55,
      unit: 'seconds',
      extension: true,
      description:
        'Time one create or delete may take in total: obtaining a Kerberos ticket, lookups, the update and its one retry with a fresh ticket (Foreman waits 60). Lookups use the global :dns_resolv_timeouts: per try.',
    }),
  }),
  async create(ctx): Promise<DnsProvider> {
    const s = ctx.settings;
    const env: Record<string, string> = {};
    for (const k of KRB5_ENV) {
      const v = process.env[k];
      if (v !== undefined && v !== '') env[k] = v;
    }
    const credentials = await KerberosCredentials.create({
      keytab: s.dns_tsig_keytab,
      principal: s.dns_tsig_principal,
      keytabSetting: 'dns_tsig_keytab',
      principalSetting: 'dns_tsig_principal',
      env,
      log: ctx.log,
      kinitTimeoutMs: s.dns_timeout * 1000,
    });
    const provider = new DnsNsupdateGssProvider({
      server: parseServerSpec(s.dns_server),
      ttl: s.dns_ttl,
      timeoutMs: s.dns_timeout * 1000,
      lookupTimeoutsMs: ctx.global.dnsResolvTimeouts.map((t) => t * 1000),
      credentials,
      log: ctx.log,
      signal: ctx.signal,
    });
    // A first ticket now, so a wrong keytab or principal shows in the log at start-up; a KDC that
    // is down must not keep the module from starting: requests try again and report it.
    credentials.acquire(Date.now() + Math.min(10_000, s.dns_timeout * 1000)).catch((err: Error) => {
      ctx.log.warn(`dns_nsupdate_gss: no Kerberos ticket yet: ${err.message}`);
    });
    return provider;
  },
});
