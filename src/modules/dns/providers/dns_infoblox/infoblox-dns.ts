// The dns_infoblox provider's logic: records are WAPI objects (`record:a`, `record:aaaa`,
// `record:ptr`, `record:cname`) in one DNS view. Existing records are read through the WAPI too
// (not through DNS), so the grid master need not serve DNS to the proxy (plugin PR 12).

import { ProxyError } from '../../../../core/errors.ts';
import { WapiError, type Deadline, type WapiClient } from '../../../../lib/infoblox/wapi.ts';
import { formatIPv6, parseIPv6 } from '../../../../lib/dns/ip.ts';
import { classify, conflictError, ownerAndData } from '../../conflicts.ts';
import { DnsError } from '../../errors.ts';
import type { DnsProvider, DnsRecordType } from '../../provider.ts';

type WapiRecordType = Exclude<DnsRecordType, 'SRV'>;

/** The WAPI object of each record type and the field holding its data. */
const OBJECTS: Record<WapiRecordType, { objtype: string; data: string }> = {
  A: { objtype: 'record:a', data: 'ipv4addr' },
  AAAA: { objtype: 'record:aaaa', data: 'ipv6addr' },
  CNAME: { objtype: 'record:cname', data: 'canonical' },
  PTR: { objtype: 'record:ptr', data: 'ptrdname' },
};

/** The address a reverse name stands for, when it names one whole address (else undefined). */
export function reverseToAddress(name: string): { field: 'ipv4addr' | 'ipv6addr'; address: string } | undefined {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.endsWith('.in-addr.arpa')) {
    const labels = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (labels.length !== 4 || !labels.every((l) => /^(0|[1-9][0-9]{0,2})$/.test(l) && Number(l) <= 255)) return undefined;
    return { field: 'ipv4addr', address: labels.reverse().join('.') };
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const hex = nibbles.reverse().join('');
    const bytes = parseIPv6(hex.match(/.{4}/g)!.join(':'));
    return bytes ? { field: 'ipv6addr', address: formatIPv6(bytes) } : undefined;
  }
  return undefined;
}

export class InfobloxDnsProvider implements DnsProvider {
  private readonly wapi: WapiClient;
  private readonly view: string;

  constructor(wapi: WapiClient, view: string) {
    this.wapi = wapi;
    this.view = view;
  }

  async close(): Promise<void> {
    await this.wapi.close();
  }

  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    // No TTL is sent, as in the plugin: the zone's default applies.
    if (type === 'SRV') throw DnsError.failed('dns_infoblox: Creation of SRV records not implemented');
    const { objtype, data: dataField } = OBJECTS[type];
    const { owner, data } = ownerAndData(type, fqdn, value);
    const deadline = this.wapi.deadline();
    await this.described(`create ${owner} ${type} ${data}`, async () => {
      const current = await this.existing(type, owner, deadline);
      const seen = classify(type, current.map((r) => r.data), data);
      if (seen === 'same') return;
      if (seen === 'different') throw conflictError(type, fqdn, value);
      const fields: Record<string, unknown> = { name: owner, [dataField]: data, view: this.view };
      if (type === 'PTR') {
        const addr = reverseToAddress(owner);
        if (addr) fields[addr.field] = addr.address;
      }
      try {
        await this.wapi.create(objtype, fields, deadline);
      } catch (err) {
        // Someone created it meanwhile, or another record type holds the name (a CNAME next to an A).
        if (err instanceof WapiError && err.failure === 'conflict') throw conflictError(type, fqdn, value);
        throw err;
      }
    });
  }

  async remove(type: DnsRecordType, name: string): Promise<void> {
    if (type === 'SRV') throw DnsError.failed('dns_infoblox: Deletion of SRV records not implemented');
    const deadline = this.wapi.deadline();
    await this.described(`delete ${name} ${type}`, async () => {
      const found = await this.existing(type, name, deadline);
      if (found.length === 0) throw DnsError.not_found(`Cannot find ${type} entry for ${name} in DNS view ${this.view}`);
      for (const r of found) {
        try {
          await this.wapi.delete(r.ref, deadline);
        } catch (err) {
          // Deleted by someone else between the search and now: the goal is reached.
          if (!(err instanceof WapiError && err.failure === 'not_found')) throw err;
        }
      }
    });
  }

  /** Records of `type` owned by `name` in the view, with their data. */
  private async existing(type: WapiRecordType, name: string, deadline: Deadline): Promise<{ ref: string; data: string }[]> {
    const { objtype, data } = OBJECTS[type];
    const owner = name.replace(/\.$/, '');
    const found = await this.wapi.list(objtype, { name: owner, view: this.view }, ['name', data, 'view'], deadline);
    // WAPI matches names case-insensitively; filter again so a server ignoring a field cannot widen the match.
    return found
      .filter((o) => typeof o.name !== 'string' || o.name.toLowerCase() === owner.toLowerCase())
      .map((o) => ({ ref: o._ref, data: typeof o[data] === 'string' ? o[data] : '' }));
  }

  /** Run one operation; a WAPI failure is reported with the operation and the grid's answer. */
  private async described(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ProxyError || !(err instanceof WapiError)) throw err;
      throw DnsError.failed(`dns_infoblox: ${what} failed: ${err.message.replace(/^dns_infoblox: /, '')}`);
    }
  }
}
