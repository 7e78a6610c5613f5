// In-memory view of dhcpd's subnets, reservations and leases, built from dhcpd.conf and
// dhcpd.leases with the reference's record-building rules (spec dhcp.md §3.4). Indexed so every
// lookup the API makes is O(1) or O(records of one subnet).

import type { HostDecl, LeaseDecl, SubnetWithRange } from '../../../../lib/isc/decls.ts';
import { leaseTimeSeconds } from '../../../../lib/isc/decls.ts';
import { formatIpv4, parseIpv4 } from '../../../../lib/isc/ipv4.ts';
import type { DhcpSubnet, Lease, RecordOptions, Reservation } from '../../provider.ts';

/**
 * Map key of an address: the unsigned value folded into a signed 32-bit integer, which V8 keeps
 * unboxed (addresses above 127.255.255.255 would otherwise each cost a heap number).
 */
export const ipKey = (ip: number): number => ip | 0;

/** `aa:bb:cc:dd:ee:ff` → `lease-aabbccddeeff` (the reference's lease name). */
function leaseName(mac: string): string {
  let name = 'lease-';
  let run = 0;
  for (let i = 0; i < mac.length; i++) {
    if (mac.charCodeAt(i) !== 58 /* : */) continue;
    name += mac.slice(run, i);
    run = i + 1;
  }
  return name + mac.slice(run);
}

/**
 * A lease as the store keeps it: one fixed-shape object per lease. The address is kept as its
 * ipKey() (a small integer, stored inline) and the name is derived from the MAC when asked for:
 * with 100 000 leases, two strings per lease that nobody reads during a load would cost ~9 MB
 * and a third of the load's CPU (every retained string is copied twice by the young-generation
 * collector before it settles in old space).
 */
export class IscLease implements Lease {
  readonly key: number;
  readonly mac: string;
  readonly starts: string | null;
  readonly ends: string | null;
  readonly state: string;
  readonly options: RecordOptions;

  constructor(key: number, mac: string, starts: string | null, ends: string | null, state: string, options: RecordOptions) {
    this.key = key;
    this.mac = mac;
    this.starts = starts;
    this.ends = ends;
    this.state = state;
    this.options = options;
  }

  get type(): 'lease' {
    return 'lease';
  }

  get ip(): string {
    return formatIpv4(this.key >>> 0);
  }

  get name(): string {
    return leaseName(this.mac);
  }

  /** Plain data (getters included) for JSON.stringify and logs. */
  toJSON(): Lease {
    const { name, ip, mac, starts, ends, state, type, options } = this;
    return { type, name, ip, mac, starts, ends, state, options };
  }
}

export interface SubnetState {
  subnet: DhcpSubnet;
  net: number;
  mask: number;
  /** by MAC: at most one reservation per MAC in a subnet. Address maps are keyed by ipKey(). */
  resByMac: Map<string, Reservation>;
  resByIp: Map<number, Reservation[]>;
  leaseByIp: Map<number, IscLease>;
  leaseByMac: Map<string, IscLease>;
}

export class IscStore {
  readonly subnets: SubnetState[] = [];
  private readonly byNetwork = new Map<string, SubnetState>();
  /** Distinct masks, most specific first, for containing-subnet lookups. */
  private masks: number[] = [];
  private readonly resByName = new Map<string, { state: SubnetState; res: Reservation }>();

  constructor(subnets: SubnetWithRange[]) {
    for (const s of subnets) {
      if (this.byNetwork.has(s.network)) continue;
      const state: SubnetState = {
        subnet: { network: s.network, netmask: s.netmask, options: s.options },
        net: s.net,
        mask: s.mask,
        resByMac: new Map(),
        resByIp: new Map(),
        leaseByIp: new Map(),
        leaseByMac: new Map(),
      };
      this.subnets.push(state);
      this.byNetwork.set(s.network, state);
    }
    this.masks = [...new Set(this.subnets.map((s) => s.mask))].sort((a, b) => b - a);
  }

  private last: SubnetState | undefined;

  /** Most specific subnet containing the address. */
  findSubnet(ip: number): SubnetState | undefined {
    // Consecutive records nearly always fall in the same subnet; only a single-mask setup can
    // trust that shortcut, since a more specific subnet could otherwise contain the address.
    const last = this.last;
    if (last && this.masks.length === 1 && ((ip & last.mask) >>> 0) === last.net) return last;
    for (const m of this.masks) {
      const net = (ip & m) >>> 0;
      for (const s of this.subnets) {
        if (s.mask === m && s.net === net) {
          this.last = s;
          return s;
        }
      }
    }
    return undefined;
  }

  byNetworkAddress(network: string): SubnetState | undefined {
    return this.byNetwork.get(network);
  }

  applyHost(h: HostDecl, confHost: boolean): void {
    if (h.deleted) {
      this.removeReservationNamed(h.name);
      return;
    }
    if (h.ip === undefined || h.mac === undefined) return;
    const ipn = parseIpv4(h.ip);
    if (ipn === undefined) return;
    const state = this.findSubnet(ipn);
    if (!state) return;
    const options: Record<string, unknown> = { hostname: h.options.hostname ?? h.name };
    for (const [k, v] of Object.entries(h.options)) if (k !== 'hostname') options[k] = v;
    const res: Reservation = {
      type: 'reservation',
      name: h.name,
      ip: h.ip,
      mac: h.mac,
      deleteable: !confHost && h.dynamic,
      options,
    };
    this.addReservation(state, ipn, res);
  }

  addReservation(state: SubnetState, ipn: number, res: Reservation): void {
    const old = state.resByMac.get(res.mac);
    if (old) this.dropReservation(state, old);
    const sameName = this.resByName.get(res.name);
    if (sameName) this.dropReservation(sameName.state, sameName.res);
    state.resByMac.set(res.mac, res);
    const list = state.resByIp.get(ipKey(ipn));
    if (list) list.push(res);
    else state.resByIp.set(ipKey(ipn), [res]);
    this.resByName.set(res.name, { state, res });
  }

  removeReservationNamed(name: string): void {
    const e = this.resByName.get(name);
    if (e) this.dropReservation(e.state, e.res);
  }

  dropReservation(state: SubnetState, res: Reservation): void {
    if (state.resByMac.get(res.mac) === res) state.resByMac.delete(res.mac);
    const ipn = parseIpv4(res.ip)!;
    const list = state.resByIp.get(ipKey(ipn));
    if (list) {
      const i = list.indexOf(res);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) state.resByIp.delete(ipKey(ipn));
    }
    if (this.resByName.get(res.name)?.res === res) this.resByName.delete(res.name);
  }

  applyLease(l: LeaseDecl, nowSeconds: number): void {
    const ipn = parseIpv4(l.ip);
    if (ipn === undefined) return;
    const state = this.findSubnet(ipn);
    if (!state) return;
    const freed =
      l.state === 'free' ||
      (l.nextState === 'free' && l.ends !== null && leaseTimeSeconds(l.ends) < nowSeconds);
    const atIp = state.leaseByIp.get(ipKey(ipn));
    if (freed) {
      if (atIp) this.dropLease(state, atIp);
      return;
    }
    if (l.mac === undefined) return;
    if (atIp) this.dropLease(state, atIp);
    const sameMac = state.leaseByMac.get(l.mac);
    if (sameMac) this.dropLease(state, sameMac);
    const lease = new IscLease(ipKey(ipn), l.mac, l.starts, l.ends, l.state ?? '', l.options);
    state.leaseByIp.set(lease.key, lease);
    state.leaseByMac.set(l.mac, lease);
  }

  private dropLease(state: SubnetState, lease: IscLease): void {
    if (state.leaseByIp.get(lease.key) === lease) state.leaseByIp.delete(lease.key);
    if (state.leaseByMac.get(lease.mac) === lease) state.leaseByMac.delete(lease.mac);
  }

  counts(): { reservations: number; leases: number } {
    let reservations = 0;
    let leases = 0;
    for (const s of this.subnets) {
      reservations += s.resByMac.size;
      leases += s.leaseByIp.size;
    }
    return { reservations, leases };
  }
}
