// The dhcp_libvirt provider's logic: the subnet and <dhcp><host> reservations of one libvirt
// network (net-dumpxml) and its dnsmasq's leases (net-dhcp-leases), changed with net-update
// ip-dhcp-host (live + persistent). Read afresh for each request, as the reference does, with reads
// that arrive together sharing one virsh call.

import type { Logger } from '../../../../core/logging-types.ts';
import { maskOf, networkOf, parseIpv4, formatIpv4, prefixLength } from '../../../../lib/isc/ipv4.ts';
import { dhcpHostXml, type NetworkXml } from '../../../../lib/libvirt/network-xml.ts';
import { VirshError, type LibvirtLease, type LibvirtNetwork } from '../../../../lib/libvirt/virsh.ts';
import { DhcpError } from '../../errors.ts';
import type {
  DhcpProvider,
  DhcpSubnet,
  Lease,
  NewReservation,
  Reservation,
  SubnetOptions,
} from '../../provider.ts';
import { leaseName, requireInSubnet, SnapshotReads, type DhcpSnapshot } from '../../snapshot.ts';

export interface LibvirtDhcpOptions {
  network: LibvirtNetwork;
  log: Logger;
  pingFreeIp: boolean;
  /** How long a suggested address is withheld from further suggestions. */
  holdMs: number;
}

/** The subnet of the network's one IPv4 <ip>, with what Foreman can import from it. */
export function subnetOf(xml: NetworkXml): DhcpSubnet | undefined {
  if (xml.ipv4.length > 1) {
    throw new Error(`Only one subnet is supported: libvirt network '${xml.name}' has ${xml.ipv4.length} IPv4 <ip> elements`);
  }
  const ip = xml.ipv4[0];
  if (!ip) return undefined;
  const mask = parseIpv4(ip.netmask);
  const addr = parseIpv4(ip.address);
  if (mask === undefined || addr === undefined || prefixLength(mask) === undefined) {
    throw new Error(`libvirt network '${xml.name}': <ip address='${ip.address}' netmask='${ip.netmask}'> is not a usable IPv4 subnet`);
  }
  const options: SubnetOptions = {};
  // Guests are told to route through the bridge only when the network forwards (NAT, route…).
  if (xml.forwards) options.routers = [ip.address];
  if (xml.domain !== undefined) options.domain_name = xml.domain;
  if (xml.dnsEnabled) options.domain_name_servers = [ip.address];
  const range = ip.ranges[0];
  if (range) options.range = [range.start, range.end];
  return { network: formatIpv4(networkOf(addr, maskOf(prefixLength(mask)!))), netmask: ip.netmask, options };
}

export class LibvirtDhcpProvider extends SnapshotReads implements DhcpProvider {
  readonly supportsVendorOptions = false;
  private readonly net: LibvirtNetwork;
  private readonly log: Logger;

  constructor(o: LibvirtDhcpOptions) {
    super(o.holdMs, o.pingFreeIp);
    this.net = o.network;
    this.log = o.log;
  }

  protected async read(): Promise<DhcpSnapshot> {
    let xml: NetworkXml;
    let leases: LibvirtLease[];
    try {
      [xml, leases] = await Promise.all([this.net.dumpXml(), this.net.dhcpLeases()]);
    } catch (err) {
      throw this.failure('Unable to read the DHCP data', err);
    }
    const subnet = subnetOf(xml);
    const ip = xml.ipv4[0];
    const reservations: Reservation[] = (ip?.hosts ?? []).flatMap((h) => {
      if (h.mac === undefined || h.ip === undefined) return [];
      const r: Reservation = { type: 'reservation', name: h.name ?? '', ip: h.ip, mac: h.mac, deleteable: true, options: {} };
      if (h.name !== undefined) r.options.hostname = h.name;
      return [r];
    });
    return {
      subnets: subnet ? [subnet] : [],
      reservations,
      leases: leases.map((l) => toLease(l)),
      reserved: ip ? [ip.address] : [],
    };
  }

  async createReservation(subnet: DhcpSubnet, r: NewReservation): Promise<void> {
    requireInSubnet(subnet, r.ip);
    if (r.mac.split(':').length !== 6) {
      throw DhcpError.invalid_field(`Invalid mac: libvirt reserves addresses for 6-octet Ethernet MACs only, not ${r.mac}`);
    }
    // libvirt has one boot file and next-server per network (<bootp>), none per host: those
    // parameters are accepted and not stored, as in the reference.
    try {
      await this.net.update('add-last', 'ip-dhcp-host', dhcpHostXml({ mac: r.mac, ip: r.ip, name: r.name }));
    } catch (err) {
      throw this.failure(`Error adding DHCP record ${r.name} (${r.ip} / ${r.mac})`, err);
    } finally {
      this.snapshots.invalidate();
    }
    this.log.info(`network ${this.net.network}: reserved ${r.ip} for ${r.mac} (${r.name})`);
  }

  async deleteReservation(_subnet: DhcpSubnet, r: Reservation): Promise<void> {
    // libvirt deletes the entry matching every attribute given: give exactly what it holds.
    const entry = { mac: r.mac, ip: r.ip, ...(r.options.hostname !== undefined ? { name: r.name } : {}) };
    try {
      await this.net.update('delete', 'ip-dhcp-host', dhcpHostXml(entry));
    } catch (err) {
      throw this.failure(`Error removing DHCP record ${r.name} (${r.ip} / ${r.mac})`, err);
    } finally {
      this.snapshots.invalidate();
    }
    this.log.info(`network ${this.net.network}: removed the reservation of ${r.ip} for ${r.mac}`);
  }

  private failure(what: string, err: unknown): Error {
    if (!(err instanceof VirshError)) return err as Error;
    this.log.warn(`network ${this.net.network}: ${what} (${err.kind}): ${err.message}`);
    if (err.kind === 'exists') return DhcpError.conflict(`${what}: ${err.message}`);
    return new Error(`${what}: libvirt network '${this.net.network}' at ${this.net.url}: ${err.message}`);
  }
}

function toLease(l: LibvirtLease): Lease {
  const lease: Lease = {
    type: 'lease',
    name: leaseName(l.mac),
    ip: l.ip,
    mac: l.mac,
    // libvirt reports only the expiry.
    starts: null,
    ends: `${l.expiry} UTC`,
    state: 'active',
    options: {},
  };
  if (l.hostname !== undefined) lease.options.client_hostname = l.hostname;
  return lease;
}
