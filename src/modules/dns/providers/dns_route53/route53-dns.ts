// The dns_route53 provider's logic: a record is a Route 53 resource record set in the hosted zone
// with the longest name that contains it. Existing data is read through the API (not through the
// proxy host's resolver, which rarely sees Route 53), so the DNS contract's conflict rule holds:
// none → CREATE, identical → nothing, different → 409. Changes are one atomic change batch;
// waiting for INSYNC (every Route 53 name server has it) happens only when configured.

import { ProxyError } from '../../../../core/errors.ts';
import type { Logger } from '../../../../core/logging-types.ts';
import { Route53Error, type Deadline, type HostedZone, type RecordSet, type Route53Client } from '../../../../lib/route53/client.ts';
import { classify, conflictError, ownerAndData } from '../../conflicts.ts';
import { DnsError } from '../../errors.ts';
import type { DnsProvider, DnsRecordType } from '../../provider.ts';

export interface Route53DnsOptions {
  client: Route53Client;
  ttl: number;
  /** Wait for GetChange to report INSYNC before answering. */
  waitForSync: boolean;
  /** Pause between GetChange polls. */
  pollMs?: number;
  /** How long the hosted-zone list serves lookups. */
  zoneCacheMs?: number;
  log: Logger;
}

const abs = (name: string): string => (name.endsWith('.') ? name : `${name}.`);

/** Route 53 wants names in record data absolute. */
function valueFor(type: DnsRecordType, data: string): string {
  if (type === 'CNAME' || type === 'PTR') return abs(data);
  if (type === 'SRV') {
    const [p, w, port, target] = data.split(' ');
    return `${p} ${w} ${port} ${abs(target ?? '')}`;
  }
  return data;
}

function values(set: RecordSet): string[] {
  const rrs = (set.ResourceRecords as { ResourceRecord?: { Value?: unknown }[] } | undefined)?.ResourceRecord ?? [];
  return rrs.map((r) => (typeof r.Value === 'string' ? r.Value : '')).filter((v) => v !== '');
}

export class Route53DnsProvider implements DnsProvider {
  private readonly o: Route53DnsOptions;
  private readonly client: Route53Client;
  private zones: { list: HostedZone[]; until: number } | undefined;
  private zonesInFlight: Promise<HostedZone[]> | undefined;

  constructor(o: Route53DnsOptions) {
    this.o = o;
    this.client = o.client;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    const { owner, data } = ownerAndData(type, fqdn, value);
    const name = abs(owner);
    const deadline = this.client.deadline();
    await this.described(`create ${name} ${type} ${data}`, async () => {
      const zone = await this.zoneFor(name, deadline);
      const sets = await this.client.recordSets(zone.id, name, type, deadline);
      const current = sets.flatMap(values);
      const wanted = valueFor(type, data);
      let change: { action: 'CREATE' | 'UPSERT'; records: string[]; ttl: number };
      if (type === 'SRV') {
        // SRV sets hold several targets: add this one to the set.
        if (current.some((c) => c.toLowerCase() === wanted.toLowerCase())) return;
        const ttl = sets[0] && typeof sets[0].TTL === 'string' ? Number(sets[0].TTL) : this.o.ttl;
        change = { action: current.length > 0 ? 'UPSERT' : 'CREATE', records: [...current, wanted], ttl };
      } else {
        const seen = classify(type, current, data);
        if (seen === 'same') return;
        if (seen === 'different') throw conflictError(type, fqdn, value);
        change = { action: 'CREATE', records: [wanted], ttl: this.o.ttl };
      }
      const set = { Name: name, Type: type, TTL: String(change.ttl), ResourceRecords: { ResourceRecord: change.records.map((v) => ({ Value: v })) } };
      try {
        const info = await this.client.change(zone.id, [{ action: change.action, set }], `Foreman Smart Proxy: ${change.action} ${name} ${type}`, deadline);
        await this.settle(info, deadline);
      } catch (err) {
        // Created by someone else between our read and our change, or a CNAME and other data at one name.
        if (err instanceof Route53Error && err.failure === 'invalid_change' && /already exists|conflicting RRSet/i.test(err.message)) throw conflictError(type, fqdn, value);
        throw err;
      }
    });
  }

  async remove(type: DnsRecordType, name: string): Promise<void> {
    const owner = abs(name);
    const deadline = this.client.deadline();
    await this.described(`delete ${owner} ${type}`, async () => {
      const zone = await this.zoneFor(owner, deadline, 'not_found');
      const sets = await this.client.recordSets(zone.id, owner, type, deadline);
      if (sets.length === 0) throw DnsError.not_found(`Could not find record '${owner}' of type ${type}`);
      // A DELETE must repeat the set exactly as Route 53 holds it (TTL, values, routing fields).
      const info = await this.client.change(zone.id, sets.map((set) => ({ action: 'DELETE' as const, set })), `Foreman Smart Proxy: DELETE ${owner} ${type}`, deadline);
      await this.settle(info, deadline);
    });
  }

  /** With wait_for_sync: poll GetChange until INSYNC; a change still pending at the deadline is an error. */
  private async settle(info: { id: string; status: string }, deadline: Deadline): Promise<void> {
    if (!this.o.waitForSync) return;
    let status = info.status;
    const poll = this.o.pollMs ?? 1000;
    while (status !== 'INSYNC') {
      if (deadline - Date.now() <= poll) {
        throw new Route53Error('timeout', `dns_route53: change ${info.id} was accepted but is still ${status} at the deadline (wait_for_sync)`);
      }
      await new Promise((r) => setTimeout(r, poll));
      status = await this.client.changeStatus(info.id, deadline);
    }
  }

  /** The hosted zone with the longest name containing `name` (the first listed when two share it). */
  private async zoneFor(name: string, deadline: Deadline, missing: 'no_zone' | 'not_found' = 'no_zone'): Promise<HostedZone> {
    const n = name.toLowerCase();
    const pick = (list: HostedZone[]): HostedZone | undefined => {
      let best: HostedZone | undefined;
      for (const z of list) {
        const zn = abs(z.name).toLowerCase();
        if ((n === zn || n.endsWith(`.${zn}`)) && (!best || zn.length > abs(best.name).length)) best = z;
      }
      return best;
    };
    const cached = this.zones && this.zones.until > Date.now() ? pick(this.zones.list) : undefined;
    if (cached) return cached;
    this.zonesInFlight ??= this.client.hostedZones(deadline).finally(() => {
      this.zonesInFlight = undefined;
    });
    const list = await this.zonesInFlight;
    this.zones = { list, until: Date.now() + (this.o.zoneCacheMs ?? 60_000) };
    const zone = pick(list);
    if (!zone) throw DnsError[missing](`Could not find zone '${name}'`);
    return zone;
  }

  private async described(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof Route53Error && err.failure === 'not_found') this.zones = undefined;
      if (err instanceof ProxyError || !(err instanceof Route53Error)) throw err;
      throw DnsError.failed(`dns_route53: ${what} failed: ${err.message.replace(/^dns_route53: /, '')}`);
    }
  }
}
