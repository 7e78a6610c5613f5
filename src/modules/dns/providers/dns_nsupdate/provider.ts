// dns_nsupdate: RFC 2136 dynamic updates signed with TSIG, spoken natively (no nsupdate process).
// Settings-compatible with the reference: dns_server (now also `host:port`), dns_key (the file
// given to `nsupdate -k`), dns_ttl from dns.yml.

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { DnsNsupdateProvider } from './nsupdate.ts';
import { parseServerSpec } from '../../../../lib/dns/client.ts';
import { parseKeyFile } from '../../../../lib/dns/keyfile.ts';
import type { TsigKey } from '../../../../lib/dns/tsig.ts';
import type { DnsProvider } from '../../provider.ts';
import { DNS_SETTINGS } from '../../module.ts';

export default defineProvider({
  id: 'dns_nsupdate',
  module: 'dns',
  summary:
    'dns_nsupdate: dynamic DNS updates (RFC 2136), signed with a TSIG key, sent by the proxy itself (no nsupdate process is run). Works with BIND, PowerDNS (dnsupdate=yes), Knot, …',
  moduleSettings: DNS_SETTINGS,
  settings: setting.settings({
    dns_server: setting.string({
      default: 'localhost',
      description:
        "Server to update, and to query for conflicts. A port may be given: `ns1.example.com:5353`, `[2001:db8::53]:5353`, or nsupdate's `127.0.0.1 5353`. Default port 53.",
    }),
    dns_key: setting.file({
      checks: ['readable'],
      example: '/etc/rndc.key',
      description:
        'TSIG key file, as given to `nsupdate -k`: a `key "name" { algorithm hmac-sha256; secret "…"; };` file (tsig-keygen, ddns-confgen, rndc.key) or a dnssec-keygen K<name>.+<alg>+<id>.private file. hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 and hmac-sha512 are supported. Without a key, updates are sent unsigned.',
    }),
    dns_timeout: setting.integer({
      default: 30,
      minimum: 1,
      maximum: 55,
      unit: 'seconds',
      extension: true,
      description:
        'Time one create or delete may take in total, lookups and retries included (Foreman waits 60). The conflict-check lookups use the global :dns_resolv_timeouts: per try.',
    }),
  }),
  async create(ctx): Promise<DnsProvider> {
    const s = ctx.settings;
    let key: TsigKey | undefined;
    if (s.dns_key !== undefined && s.dns_key !== '') {
      const file = s.dns_key;
      try {
        key = parseKeyFile(await readFile(file, 'utf8'), file);
      } catch (err) {
        throw new Error(`dns_nsupdate: cannot use the TSIG key in '${file}' (dns_key): ${(err as Error).message}`);
      }
    }
    return new DnsNsupdateProvider({
      server: parseServerSpec(s.dns_server),
      key,
      ttl: s.dns_ttl,
      timeoutMs: s.dns_timeout * 1000,
      lookupTimeoutsMs: ctx.global.dnsResolvTimeouts.map((t) => t * 1000),
      log: ctx.log,
      signal: ctx.signal,
    });
  },
});
