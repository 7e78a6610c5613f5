// The dns_nsupdate provider's logic: one UPDATE per operation whose RFC 2136 prerequisites do
// the conflict check atomically on the server (a lookup follows only when they fail), so two
// concurrent creates cannot both succeed, and a delete of a missing record is reported as such.

import { ProxyError } from '../../../../core/errors.ts';
import type { Logger } from '../../../../core/logging-types.ts';
import { DnsError as DnsLibError } from '../../../../lib/dns/errors.ts';
import { RCODE, TYPE } from '../../../../lib/dns/message.ts';
import { rdataFromText, rdataToText } from '../../../../lib/dns/rdata.ts';
import type { TsigKey } from '../../../../lib/dns/tsig.ts';
import type { Prerequisite, UpdateOp } from '../../../../lib/dns/update.ts';
import { DnsUpdateRefused, DnsUpdater } from '../../../../lib/dns/updater.ts';
import { classify, conflictError, ownerAndData } from '../../conflicts.ts';
import type { DnsProvider, DnsRecordType } from '../../provider.ts';
import { DnsError } from '../../errors.ts';

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
  /** The provider's name in messages (default `dns_nsupdate`). */
  label?: string;
  /**
   * How an UPDATE reaches the server. Default: sent by the proxy itself, signed with `key`;
   * dns_nsupdate_gss sends it through `nsupdate -g`. Throws DnsUpdateRefused for an rcode.
   */
  send?: UpdateSender;
  /** The message of a sender's own failure (a Kerberos error) that fails the operation. */
  describeFailure?(err: unknown): string | undefined;
}

export type UpdateSender = (zone: string, pre: readonly Prerequisite[], ops: readonly UpdateOp[], deadline: number) => Promise<void>;

export const TYPE_CODES: Record<DnsRecordType, number> = {
  A: TYPE.A,
  AAAA: TYPE.AAAA,
  PTR: TYPE.PTR,
  CNAME: TYPE.CNAME,
  SRV: TYPE.SRV,
};

export class DnsNsupdateProvider implements DnsProvider {
  readonly updater: DnsUpdater;
  private readonly opts: NsupdateOptions;
  private readonly label: string;
  private readonly send: UpdateSender;

  constructor(opts: NsupdateOptions) {
    this.opts = opts;
    this.label = opts.label ?? 'dns_nsupdate';
    // Without a key of its own (GSS-TSIG) the updater only looks things up: zones and conflicts.
    this.updater = new DnsUpdater({
      server: opts.server,
      key: opts.key,
      queryTimeoutsMs: opts.lookupTimeoutsMs,
      updateTryMs: 3000,
    });
    this.send = opts.send ?? ((zone, pre, ops, deadline) => this.updater.update(zone, pre, ops, deadline, this.opts.signal));
  }

  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const { owner, data } = ownerAndData(type, fqdn, value);
    const code = TYPE_CODES[type];
    await this.described(`create ${owner} ${type} ${data}`, async () => {
      const zone = await this.updater.findZone(owner, deadline, this.opts.signal);
      // The prerequisites make the server itself check for a conflict, atomically: the usual
      // case (nothing there yet) costs one round trip, and two racing creates cannot both win.
      // A CNAME excludes any other data at its name (BIND would silently drop such an add), so
      // CNAMEs need an unused name and other types need the name not to be a CNAME.
      const pre: Prerequisite[] =
        type === 'SRV'
          ? []
          : type === 'CNAME'
            ? [{ kind: 'nameNotInUse', name: owner }]
            : [
                { kind: 'rrsetAbsent', name: owner, type: code },
                { kind: 'rrsetAbsent', name: owner, type: TYPE.CNAME },
              ];
      try {
        await this.send(zone, pre, [{ kind: 'add', name: owner, type: code, ttl: this.opts.ttl, data: rdataFromText(code, data) }], deadline);
      } catch (err) {
        if (err instanceof DnsUpdateRefused && (err.rcode === RCODE.YXRRSET || err.rcode === RCODE.YXDOMAIN)) {
          // Something is there: the conflict check of the reference (a lookup with the
          // dns_resolv_timeouts) tells "the identical record" (200) from "another one" (409).
          if (classify(type, await this.existing(owner, code, deadline), data) === 'same') return;
          throw conflictError(type, fqdn, value);
        }
        throw err;
      }
    });
  }

  async remove(type: DnsRecordType, name: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const code = TYPE_CODES[type];
    await this.described(`delete ${name} ${type}`, async () => {
      const zone = await this.updater.findZone(name, deadline, this.opts.signal);
      try {
        await this.send(zone, [{ kind: 'rrsetExists', name, type: code }], [{ kind: 'deleteRRset', name, type: code }], deadline);
      } catch (err) {
        if (err instanceof DnsUpdateRefused && err.rcode === RCODE.NXRRSET) {
          throw DnsError.not_found(`Cannot find DNS entry for ${name} (${type})`);
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
      this.opts.log.warn(`${this.label}: conflict check for ${owner} failed, treating as no records: ${(err as Error).message}`);
      return [];
    }
  }

  /** Run one operation; a DNS failure is reported with the operation and the server's answer. */
  private async described(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ProxyError) throw err;
      const own = this.opts.describeFailure?.(err);
      if (own !== undefined) throw DnsError.failed(`${this.label}: ${what} failed: ${own}`);
      if (!(err instanceof DnsLibError)) throw err;
      if (err.code === 'dns.nozone' || err.code.startsWith('dns.rcode.')) this.updater.forgetZones();
      throw DnsError.failed(`${this.label}: ${what} failed: ${err.message}`);
    }
  }
}
