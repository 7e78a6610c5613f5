// dns_nsupdate: RFC 2136 dynamic updates signed with TSIG, spoken natively (no nsupdate process).
// Settings-compatible with the reference: dns_server (now also `host:port`), dns_key (the file
// given to `nsupdate -k`), dns_ttl from dns.yml.

import { readFile } from 'node:fs/promises';
import { defineProvider } from '../../../../core/module.ts';
import { DnsNsupdateProvider } from './nsupdate.ts';
import { parseServerSpec } from '../../../../lib/dns/client.ts';
import { parseKeyFile } from '../../../../lib/dns/keyfile.ts';
import type { TsigKey } from '../../../../lib/dns/tsig.ts';
import type { DnsProvider } from '../../provider.ts';
import { changeTimeoutMs, recordTtl } from '../../provider-settings.ts';

export default defineProvider<DnsProvider>({
  id: 'dns_nsupdate',
  module: 'dns',
  settings: {
    dns_server: { default: 'localhost', type: 'string' },
    dns_key: { type: 'string', checks: ['readable'] },
    // Our extension: overall deadline of one create/delete (lookups + update), seconds.
    dns_timeout: { default: 30, type: 'integer' },
  },
  async create(ctx) {
    const s = ctx.settings;
    const server = parseServerSpec(String(s.dns_server));
    let key: TsigKey | undefined;
    if (typeof s.dns_key === 'string' && s.dns_key !== '') {
      const file = s.dns_key;
      try {
        key = parseKeyFile(await readFile(file, 'utf8'), file);
      } catch (err) {
        throw new Error(`dns_nsupdate: cannot use the TSIG key in '${file}' (dns_key): ${(err as Error).message}`);
      }
    }
    const timeoutMs = changeTimeoutMs('dns_nsupdate', 'dns_timeout', s.dns_timeout);
    const ttl = recordTtl('dns_nsupdate', s.dns_ttl);
    return new DnsNsupdateProvider({
      server,
      key,
      ttl,
      timeoutMs,
      lookupTimeoutsMs: ctx.global.dnsResolvTimeouts.map((t) => t * 1000),
      log: ctx.log,
      signal: ctx.signal,
    });
  },
});
