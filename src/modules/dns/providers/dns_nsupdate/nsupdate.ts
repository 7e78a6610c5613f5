// The dns_nsupdate provider's logic: conflict check by query (as the reference), then one UPDATE
// whose RFC 2136 prerequisites make the check atomic on the server, so two concurrent creates of
// different addresses cannot both succeed, and a delete of a missing record is reported as such.

import { ProxyError, badRequest, notFound } from '../../../../core/errors.ts';
import type { Logger } from '../../../../core/logging-types.ts';
import { DnsError } from '../../../../lib/dns/errors.ts';
import { RCODE, TYPE } from '../../../../lib/dns/message.ts';
import { rdataFromText, rdataToText } from '../../../../lib/dns/rdata.ts';
import type { TsigKey } from '../../../../lib/dns/tsig.ts';
import type { Prerequisite } from '../../../../lib/dns/update.ts';
import { DnsUpdateRefused, DnsUpdater } from '../../../../lib/dns/updater.ts';
import { classify, conflictError, ownerAndData } from '../../conflicts.ts';
import type { DnsProvider, DnsRecordType } from '../../provider.ts';

export interface NsupdateOptions {
  server: { host: string; port: number };
  key?: TsigKey;
  ttl: number;
  /** Deadline of one whole operation. */
  timeoutMs: number;
  /** Per-try timeouts of the conflict-check lookups (global dns_resolv_timeouts). */
  lookupTimeoutsMs: readonly number[];
  log: Logger;
  signal?: AbortSignal;
}

const TYPE_CODES: Record<DnsRecordType, number> = {
  A: TYPE.A,
  AAAA: TYPE.AAAA,
  PTR: TYPE.PTR,
  CNAME: TYPE.CNAME,
  SRV: TYPE.SRV,
};

export class DnsNsupdateProvider implements DnsProvider {
  readonly updater: DnsUpdater;
  private readonly opts: NsupdateOptions;

  constructor(opts: NsupdateOptions) {
    this.opts = opts;
    this.updater = new DnsUpdater({
      server: opts.server,
      key: opts.key,
      queryTimeoutsMs: opts.lookupTimeoutsMs,
      updateTryMs: 3000,
    });
  }

  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const { owner, data } = ownerAndData(type, fqdn, value);
    const code = TYPE_CODES[type];
    await this.wrap(`create ${owner} ${type} ${data}`, async () => {
      const zone = await this.updater.findZone(owner, deadline, this.opts.signal);
      if (type !== 'SRV') {
        const seen = classify(type, await this.existing(owner, code, deadline), data);
        if (seen === 'same') return;
        if (seen === 'different') throw conflictError(type, fqdn, value);
      }
      // A CNAME may not share its name with other data; BIND would silently drop the add.
      const pre: Prerequisite[] =
        type === 'SRV'
          ? []
          : type === 'CNAME'
            ? [{ kind: 'nameNotInUse', name: owner }]
            : [{ kind: 'rrsetAbsent', name: owner, type: code }];
      try {
        await this.updater.update(
          zone,
          pre,
          [{ kind: 'add', name: owner, type: code, ttl: this.opts.ttl, data: rdataFromText(code, data) }],
          deadline,
          this.opts.signal,
        );
      } catch (err) {
        if (err instanceof DnsUpdateRefused && (err.rcode === RCODE.YXRRSET || err.rcode === RCODE.YXDOMAIN)) {
          // Someone else wrote the name between our lookup and our update: decide again.
          const now = classify(type, await this.existing(owner, code, deadline), data);
          if (now === 'same') return;
          throw conflictError(type, fqdn, value);
        }
        throw err;
      }
    });
  }

  async remove(type: DnsRecordType, name: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const code = TYPE_CODES[type];
    await this.wrap(`delete ${name} ${type}`, async () => {
      const zone = await this.updater.findZone(name, deadline, this.opts.signal);
      try {
        await this.updater.update(
          zone,
          [{ kind: 'rrsetExists', name, type: code }],
          [{ kind: 'deleteRRset', name, type: code }],
          deadline,
          this.opts.signal,
        );
      } catch (err) {
        if (err instanceof DnsUpdateRefused && err.rcode === RCODE.NXRRSET) {
          throw notFound(`Cannot find DNS entry for ${name} (${type})`, 'dns.not_found');
        }
        throw err;
      }
    });
  }

  /** Record data at owner/type; a failed lookup counts as "none" (reference), and is logged. */
  private async existing(owner: string, code: number, deadline: number): Promise<string[]> {
    try {
      const r = await this.updater.lookup(owner, code, deadline, this.opts.signal);
      return r.records.map((rr) => rdataToText(code, rr.data));
    } catch (err) {
      this.opts.log.warn(`dns_nsupdate: conflict check for ${owner} failed, treating as no records: ${(err as Error).message}`);
      return [];
    }
  }

  private async wrap(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ProxyError) throw err;
      if (err instanceof DnsError) {
        if (err.code === 'dns.nozone' || err.code.startsWith('dns.rcode.')) this.updater.forgetZones();
        throw badRequest(`dns_nsupdate: ${what} failed: ${err.message}`, err.code);
      }
      throw err;
    }
  }
}
