// The dns_libvirt provider's logic: the <dns><host ip><hostname/></host> entries of one libvirt
// network, read with net-dumpxml and changed with net-update (live + persistent). libvirt's
// dnsmasq answers A/AAAA for those names and the matching PTR by itself, so PTR requests store
// nothing. libvirt keys these entries by address (a second entry for the same address is
// refused), so a second name for an address joins the existing entry.

import type { Logger } from '../../../../core/logging-types.ts';
import { bytesEqual, parseIPv4, parseIPv6 } from '../../../../lib/dns/ip.ts';
import type { DnsHostEntry, NetworkXml } from '../../../../lib/libvirt/network-xml.ts';
import { dnsHostXml } from '../../../../lib/libvirt/network-xml.ts';
import { VirshError, type LibvirtNetwork, type UpdateCommand, type UpdateSection } from '../../../../lib/libvirt/virsh.ts';
import { classify, conflictError } from '../../conflicts.ts';
import { DnsError } from '../../errors.ts';
import type { DnsProvider, DnsRecordType } from '../../provider.ts';

type Update = (command: UpdateCommand, section: UpdateSection, xml: string) => Promise<void>;

/** Host names as dnsmasq compares them: case-insensitive, without the trailing dot. */
const canon = (name: string): string => name.replace(/\.$/, '').toLowerCase();

const familyOf = (ip: string): 'A' | 'AAAA' | undefined => (parseIPv4(ip) ? 'A' : parseIPv6(ip) ? 'AAAA' : undefined);

function sameAddress(a: string, b: string): boolean {
  const x = parseIPv4(a) ?? parseIPv6(a);
  const y = parseIPv4(b) ?? parseIPv6(b);
  return x !== null && y !== null && bytesEqual(x, y);
}

/** The address a reverse name stands for (`4.3.2.1.in-addr.arpa` → `1.2.3.4`), if it names one. */
export function addressOfReverseName(name: string): string | undefined {
  const labels = canon(name).split('.');
  if (labels.length === 6 && labels[4] === 'in-addr' && labels[5] === 'arpa') {
    const octets = labels.slice(0, 4).reverse();
    return octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255) ? octets.map(Number).join('.') : undefined;
  }
  if (labels.length === 34 && labels[32] === 'ip6' && labels[33] === 'arpa') {
    const nibbles = labels.slice(0, 32).reverse();
    if (!nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(nibbles.slice(i, i + 4).join(''));
    return groups.join(':');
  }
  return undefined;
}

export interface LibvirtDnsOptions {
  network: LibvirtNetwork;
  log: Logger;
}

export class LibvirtDnsProvider implements DnsProvider {
  private readonly net: LibvirtNetwork;
  private readonly log: Logger;

  constructor(o: LibvirtDnsOptions) {
    this.net = o.network;
    this.log = o.log;
  }

  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    if (type === 'CNAME' || type === 'SRV') throw DnsError.invalid_type(`Creation of ${type} not implemented`);
    if (type === 'PTR') return this.checkPtr(fqdn, value);
    const name = canon(fqdn);
    await this.guard(`Error adding DNS ${type} record`, () =>
      this.net.exclusive(async (update) => {
        const xml = await this.net.dumpXml();
        const existing = entriesOf(xml, name, type).map((e) => e.ip);
        const state = classify(type, existing, value);
        if (state === 'same') return;
        if (state === 'different') throw conflictError(type, fqdn, value);
        const atAddress = xml.dnsHosts.find((e) => sameAddress(e.ip, value));
        if (atAddress) {
          // One entry per address: re-add it with this name as well.
          await this.replace(update, atAddress, { ip: atAddress.ip, hostnames: [...atAddress.hostnames, name] });
        } else {
          await update('add-last', 'dns-host', dnsHostXml({ ip: value, hostnames: [name] }));
        }
        this.log.info(`network ${this.net.network}: added DNS host ${name} ${value}`);
      }),
    );
  }

  async remove(type: DnsRecordType, name: string): Promise<void> {
    if (type === 'CNAME' || type === 'SRV') throw DnsError.invalid_type(`Deletion of ${type} not implemented`);
    // The PTR answer goes with the A/AAAA entry; there is nothing of its own to delete.
    if (type === 'PTR') return;
    const host = canon(name);
    await this.guard(`Error removing DNS ${type} record`, () =>
      this.net.exclusive(async (update) => {
        const entries = entriesOf(await this.net.dumpXml(), host, type);
        if (entries.length === 0) throw DnsError.not_found(`Cannot find IP entry for ${name}`);
        for (const e of entries) {
          const rest = e.hostnames.filter((h) => canon(h) !== host);
          if (rest.length === 0) await update('delete', 'dns-host', dnsHostXml(e));
          else await this.replace(update, e, { ip: e.ip, hostnames: rest });
        }
        this.log.info(`network ${this.net.network}: removed DNS host ${host}`);
      }),
    );
  }

  /**
   * PTR create: dnsmasq derives the PTR answer from the A/AAAA entry. An entry at that address
   * naming another host is a conflict; the same host, or no entry yet, needs nothing stored.
   */
  private async checkPtr(fqdn: string, reverse: string): Promise<void> {
    const ip = addressOfReverseName(reverse);
    if (ip === undefined) return;
    const xml = await this.guard('Error adding DNS PTR record', () => this.net.dumpXml());
    const entry = xml.dnsHosts.find((e) => sameAddress(e.ip, ip));
    if (entry && !entry.hostnames.some((h) => canon(h) === canon(fqdn))) throw conflictError('PTR', fqdn, reverse);
  }

  /** Swap an entry for another at the same address; put the old one back if the add fails. */
  private async replace(update: Update, old: DnsHostEntry, next: DnsHostEntry): Promise<void> {
    await update('delete', 'dns-host', dnsHostXml(old));
    try {
      await update('add-last', 'dns-host', dnsHostXml(next));
    } catch (err) {
      await update('add-last', 'dns-host', dnsHostXml(old)).catch((restoreErr: Error) =>
        this.log.error(`network ${this.net.network}: could not restore the DNS host entry of ${old.ip}`, restoreErr),
      );
      throw err;
    }
  }

  /** libvirt failures as the module's errors: an entry libvirt already has is a conflict. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof VirshError)) throw err;
      this.log.warn(`network ${this.net.network}: ${what} (${err.kind}): ${err.message}`);
      if (err.kind === 'exists') throw DnsError.conflict(`${what}: ${err.message}`);
      throw DnsError.failed(`${what}: libvirt network '${this.net.network}' at ${this.net.url}: ${err.message}`);
    }
  }
}

/** Entries naming `host` whose address is of the record type's family. */
function entriesOf(xml: NetworkXml, host: string, type: 'A' | 'AAAA'): DnsHostEntry[] {
  return xml.dnsHosts.filter((e) => familyOf(e.ip) === type && e.hostnames.some((h) => canon(h) === host));
}
