// The DHCP provider calls answered from one snapshot of a backend (its subnets, reservations and
// leases, read afresh for each request), for backends that are re-read rather than indexed:
// dhcp_libvirt (network XML + lease list) and dhcp_dnsmasq (its files). Both extend SnapshotReads.

import { broadcastOf, maskOf, networkOf, parseIpv4, prefixLength } from '../../lib/isc/ipv4.ts';
import { DhcpError } from './errors.ts';
import type { DhcpRecord, DhcpSubnet, Lease, Reservation, SubnetRecords, UnusedIpQuery } from './provider.ts';
import { ShortCache } from './short-cache.ts';
import { probeAlive, searchUnusedIp, SuggestionHolds } from './unused-ip.ts';

export interface DhcpSnapshot {
  subnets: DhcpSubnet[];
  reservations: Reservation[];
  leases: Lease[];
  /** Addresses that are in use without a record (the libvirt bridge's own address). */
  reserved?: string[];
}

function bounds(s: DhcpSubnet): { net: number; mask: number; bcast: number } {
  const net = parseIpv4(s.network)!;
  const mask = parseIpv4(s.netmask)!;
  return { net, mask, bcast: broadcastOf(net, mask) };
}

const inSubnet = (s: DhcpSubnet, ip: string): boolean => {
  const n = parseIpv4(ip);
  if (n === undefined) return false;
  const { net, mask } = bounds(s);
  return networkOf(n, mask) === net;
};

/**
 * A reservation's address must lie in the subnet it is filed under: libvirt stores one outside it
 * without complaint, and neither libvirt's nor a plain dnsmasq would ever hand it out.
 */
export function requireInSubnet(subnet: DhcpSubnet, ip: string): void {
  if (!inSubnet(subnet, ip)) {
    throw DhcpError.invalid_ip(`Invalid IP Address ${ip}: not in subnet ${subnet.network}/${subnet.netmask}`);
  }
}

/** Most specific subnet containing `address` (spec dhcp.md §2). */
export function findSubnetIn(subnets: readonly DhcpSubnet[], address: string): DhcpSubnet | undefined {
  const n = parseIpv4(address);
  if (n === undefined) return undefined;
  let best: DhcpSubnet | undefined;
  let bestLen = -1;
  for (const s of subnets) {
    const mask = parseIpv4(s.netmask);
    if (mask === undefined) continue;
    const len = prefixLength(mask) ?? 0;
    if (networkOf(n, maskOf(len)) === parseIpv4(s.network) && len > bestLen) {
      best = s;
      bestLen = len;
    }
  }
  return best;
}

export function recordsIn(snap: DhcpSnapshot, subnet: DhcpSubnet): SubnetRecords {
  return {
    reservations: snap.reservations.filter((r) => inSubnet(subnet, r.ip)),
    leases: snap.leases.filter((l) => inSubnet(subnet, l.ip)),
  };
}

export function findByIpIn(snap: DhcpSnapshot, subnet: DhcpSubnet, ip: string): DhcpRecord[] {
  const recs = recordsIn(snap, subnet);
  const res = recs.reservations.filter((r) => r.ip === ip);
  if (res.length > 0) return res;
  const lease = recs.leases.find((l) => l.ip === ip);
  return lease ? [lease] : [];
}

export function findByMacIn(snap: DhcpSnapshot, subnet: DhcpSubnet, mac: string): DhcpRecord | undefined {
  const recs = recordsIn(snap, subnet);
  return recs.reservations.find((r) => r.mac === mac) ?? recs.leases.find((l) => l.mac === mac);
}

/** The shared unused_ip algorithm (spec dhcp.md §1.3) over the snapshot's used addresses. */
export function unusedIpIn(
  snap: DhcpSnapshot,
  subnet: DhcpSubnet,
  q: UnusedIpQuery,
  holds: SuggestionHolds,
  ping: boolean,
): Promise<string | null> {
  const { net, bcast } = bounds(subnet);
  let first = net + 1;
  let last = bcast - 1;
  if (q.from !== undefined && q.to !== undefined) {
    first = Math.max(first, parseIpv4(q.from)!);
    last = Math.min(last, parseIpv4(q.to)!);
  }
  if (last < first) throw DhcpError.empty_range('Zero or negative number of indices');
  const recs = recordsIn(snap, subnet);
  if (q.mac !== undefined) {
    const known = recs.reservations.find((r) => r.mac === q.mac) ?? recs.leases.find((l) => l.mac === q.mac);
    const n = known ? parseIpv4(known.ip) : undefined;
    if (n !== undefined && n >= first && n <= last) return Promise.resolve(known!.ip);
  }
  const used = new Set<number>();
  for (const r of [...recs.reservations, ...recs.leases]) used.add(parseIpv4(r.ip)!);
  for (const ip of snap.reserved ?? []) {
    const n = parseIpv4(ip);
    if (n !== undefined) used.add(n);
  }
  return searchUnusedIp({ first, last, isUsed: (ip) => used.has(ip), holds, probe: ping ? probeAlive : undefined });
}

/** `lease-<mac without separators>`, the name the reference gives leases. */
export const leaseName = (mac: string): string => `lease-${mac.replace(/:/g, '')}`;

/** `YYYY-MM-DD HH:MM:SS UTC` of a Unix time in seconds. */
export function utcText(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * The read side of a provider whose backend is read whole: every lookup is answered from one
 * snapshot, shared by the requests of the same second (so a create's lookups cost one read);
 * a write drops it (`snapshots.invalidate()`). Subclasses say how to read (`read()`).
 */
export abstract class SnapshotReads {
  protected readonly snapshots: ShortCache<DhcpSnapshot>;
  protected readonly holds: SuggestionHolds;
  private readonly sweeper: NodeJS.Timeout;
  private readonly pingFreeIp: boolean;

  constructor(holdMs: number, pingFreeIp: boolean) {
    this.pingFreeIp = pingFreeIp;
    this.holds = new SuggestionHolds(holdMs);
    this.sweeper = setInterval(() => this.holds.sweep(), 60_000);
    this.sweeper.unref();
    this.snapshots = new ShortCache(1000, () => this.read());
  }

  protected abstract read(): Promise<DhcpSnapshot>;

  async subnets(): Promise<DhcpSubnet[]> {
    return (await this.snapshots.get()).subnets;
  }

  async findSubnet(address: string): Promise<DhcpSubnet | undefined> {
    return findSubnetIn((await this.snapshots.get()).subnets, address);
  }

  async subnetRecords(subnet: DhcpSubnet): Promise<SubnetRecords> {
    return recordsIn(await this.snapshots.get(), subnet);
  }

  async findByIp(subnet: DhcpSubnet, ip: string): Promise<DhcpRecord[]> {
    return findByIpIn(await this.snapshots.get(), subnet, ip);
  }

  async findByMac(subnet: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined> {
    return findByMacIn(await this.snapshots.get(), subnet, mac);
  }

  async unusedIp(subnet: DhcpSubnet, q: UnusedIpQuery): Promise<string | null> {
    return unusedIpIn(await this.snapshots.get(), subnet, q, this.holds, this.pingFreeIp);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
