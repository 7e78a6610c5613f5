// The dhcp_infoblox provider's logic over the WAPI (spec plugins.md §7.2). Subnets are `network`
// objects of one network view; reservations are `fixedaddress` objects (record_type fixedaddress)
// or the DHCP-enabled addresses of `record:host` objects (record_type host, in the DNS view);
// leases are `lease` objects. Every change is followed by a grid restart (restartservices), as
// in the plugin, because Infoblox's DHCP members serve a change only after one.

import type { Logger } from '../../../../core/logging-types.ts';
import { networkRegex } from '../../../../lib/infoblox/network-regex.ts';
import { WapiError, type Deadline, type WapiClient, type WapiObject } from '../../../../lib/infoblox/wapi.ts';
import { broadcastOf, formatIpv4, maskOf, networkOf, normalizeMac, parseIpv4 } from '../../../../lib/isc/ipv4.ts';
import { DhcpError } from '../../errors.ts';
import type { DhcpProvider, DhcpRecord, DhcpSubnet, Lease, NewReservation, Reservation, SubnetRecords, UnusedIpQuery } from '../../provider.ts';
import { SuggestionHolds, searchUnusedIp } from '../../unused-ip.ts';

export interface DhcpOption {
  name?: string;
  num?: number;
  value?: string;
  vendor_class?: string;
}

export interface InfobloxDhcpOptions {
  wapi: WapiClient;
  recordType: 'fixedaddress' | 'host';
  usedIpsSearchType: 'record_type' | 'used';
  networkView: string;
  dnsView: string;
  /** Seconds to wait after a grid restart (the plugin's wait_after_restart). */
  waitAfterRestartMs: number;
  /** DHCP options added to every fixed address. */
  options: DhcpOption[];
  /** `network/netmask` strings restricting the listed subnets (dhcp.yml `subnets`); empty: all. */
  managedSubnets: string[];
  holdMs: number;
  probe?: (ip: string) => Promise<boolean>;
  log: Logger;
  /** Restart attempts before giving up (the plugin: 5, sleeping 0, 1, 2 … s between them). */
  restartAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

const ORIGIN = 'dhcp_infoblox';
const FIXED_FIELDS = ['name', 'ipv4addr', 'mac', 'nextserver', 'use_nextserver', 'bootfile', 'use_bootfile', 'network_view'];
const HOST_FIELDS = ['name', 'ipv4addrs', 'view'];
const LEASE_FIELDS = ['address', 'hardware', 'client_hostname', 'starts', 'ends', 'binding_state', 'network_view'];
/** Candidates asked of next_available_ip per round, and rounds before giving up. */
const NEXT_IP_BATCH = 16;
const NEXT_IP_ROUNDS = 8;
/** Addresses outside from..to are passed as `exclude` only up to this many (the plugin passed them all). */
const MAX_EXCLUDE = 4096;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function wapiTime(v: unknown): string | null {
  // WAPI gives times as seconds since the epoch.
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) return null;
  return `${new Date(v * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

interface Located {
  subnet: DhcpSubnet;
  ref: string;
  cidr: string;
  network: number;
  prefix: number;
}

export class InfobloxDhcpProvider implements DhcpProvider {
  readonly supportsVendorOptions = false;
  readonly writeQueueTimeoutMs: number;
  private readonly o: InfobloxDhcpOptions;
  private readonly wapi: WapiClient;
  private readonly holds: SuggestionHolds;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly sleep: (ms: number) => Promise<void>;
  private gridRef: string | undefined;

  constructor(options: InfobloxDhcpOptions) {
    this.o = options;
    this.wapi = options.wapi;
    this.holds = new SuggestionHolds(options.holdMs);
    this.sweepTimer = setInterval(() => this.holds.sweep(), 60_000);
    this.sweepTimer.unref();
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    // A write includes the grid restart and its wait.
    this.writeQueueTimeoutMs = 50_000 + options.waitAfterRestartMs;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.wapi.close();
  }

  // ---- subnets -------------------------------------------------------------------------------

  async subnets(): Promise<DhcpSubnet[]> {
    const found = await this.wapi.list('network', { network_view: this.o.networkView }, ['network', 'network_view'], this.wapi.deadline());
    const managed = new Set(this.o.managedSubnets);
    const out: DhcpSubnet[] = [];
    for (const n of found) {
      const located = this.locate(n);
      if (!located) continue;
      if (managed.size > 0 && !managed.has(`${located.subnet.network}/${located.subnet.netmask}`)) continue;
      out.push(located.subnet);
    }
    return out;
  }

  async findSubnet(address: string): Promise<DhcpSubnet | undefined> {
    return (await this.network(address, this.wapi.deadline()))?.subnet;
  }

  /** The network whose address is `address` (the plugin's lookup), else the longest one containing it. */
  private async network(address: string, deadline: Deadline): Promise<Located | undefined> {
    if (parseIpv4(address) === undefined) return undefined;
    const view = this.o.networkView;
    let found = await this.wapi.find('network', { network: address, network_view: view }, ['network', 'network_view'], deadline, 1);
    if (found.length === 0) {
      try {
        found = await this.wapi.list('network', { contains_address: address, network_view: view }, ['network', 'network_view'], deadline);
      } catch (err) {
        // A grid whose WAPI cannot search by contained address: the plugin's exact lookup found nothing.
        if (err instanceof WapiError && err.failure === 'refused') return undefined;
        throw err;
      }
    }
    const located = found.map((n) => this.locate(n)).filter((l): l is Located => l !== undefined);
    return located.sort((a, b) => b.prefix - a.prefix)[0];
  }

  private locate(n: WapiObject): Located | undefined {
    const cidr = str(n.network);
    const m = cidr ? /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr) : null;
    const addr = m ? parseIpv4(m[1]!) : undefined;
    const prefix = m ? Number(m[2]) : NaN;
    if (!m || addr === undefined || !(prefix >= 0 && prefix <= 32)) {
      throw new WapiError('bad_answer', `${ORIGIN}: the Infoblox WAPI returned a network without a valid 'network' field (${JSON.stringify(n.network)})`);
    }
    const network = networkOf(addr, maskOf(prefix));
    return {
      subnet: { network: formatIpv4(network), netmask: formatIpv4(maskOf(prefix)), options: {} },
      ref: n._ref,
      cidr: `${formatIpv4(network)}/${prefix}`,
      network,
      prefix,
    };
  }

  private async located(subnet: DhcpSubnet, deadline: Deadline): Promise<Located> {
    const l = await this.network(subnet.network, deadline);
    if (!l) throw new Error(`${ORIGIN}: Subnet ${subnet.network} not found in network view ${this.o.networkView}`);
    return l;
  }

  private contains(l: Located, ip: string): boolean {
    const n = parseIpv4(ip);
    return n !== undefined && networkOf(n, maskOf(l.prefix)) === l.network;
  }

  // ---- reads ---------------------------------------------------------------------------------

  async subnetRecords(subnet: DhcpSubnet): Promise<SubnetRecords> {
    const deadline = this.wapi.deadline();
    const l = await this.located(subnet, deadline);
    const [reservations, leases] = await Promise.all([this.reservations(l, deadline), this.leases(l, { 'address~': networkRegex(l.network, l.prefix) }, deadline)]);
    return { reservations, leases };
  }

  async findByIp(subnet: DhcpSubnet, ip: string): Promise<DhcpRecord[]> {
    const deadline = this.wapi.deadline();
    const l = await this.located(subnet, deadline);
    const found = (await this.reservationsWhere(l, { ipv4addr: ip }, deadline)).filter((r) => r.ip === ip);
    if (found.length > 0) return found;
    return (await this.leases(l, { address: ip }, deadline)).slice(0, 1);
  }

  async findByMac(subnet: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined> {
    const deadline = this.wapi.deadline();
    const l = await this.located(subnet, deadline);
    const r = (await this.reservationsWhere(l, { mac }, deadline)).find((x) => x.mac === mac);
    if (r) return r;
    return (await this.leases(l, { hardware: mac }, deadline))[0];
  }

  /** The subnet's reservations as the listing shows them (used_ips_search_type decides the source). */
  private async reservations(l: Located, deadline: Deadline): Promise<Reservation[]> {
    if (this.o.usedIpsSearchType === 'used') {
      const used = await this.wapi.list('ipv4address', { network: l.cidr, network_view: this.o.networkView, status: 'USED' }, ['ip_address', 'names', 'mac_address'], deadline);
      return used.flatMap((a) => {
        const ip = str(a.ip_address);
        if (!ip || !this.contains(l, ip)) return [];
        const names = Array.isArray(a.names) ? a.names.filter((x): x is string => typeof x === 'string') : [];
        const name = names[0];
        if (!name) return [];
        // Addresses used without a MAC (a DNS record, a reserved range) get the plugin's dummy MAC.
        const mac = normalizeMac(str(a.mac_address) ?? '') ?? '00:00:00:00:00:00';
        return [{ type: 'reservation', name, ip, mac, deleteable: true, options: { hostname: name } } satisfies Reservation];
      });
    }
    if (this.o.recordType === 'fixedaddress') {
      const found = await this.wapi.list('fixedaddress', { network: l.cidr, network_view: this.o.networkView }, FIXED_FIELDS, deadline);
      return found.flatMap((f) => this.fromFixed(f, l));
    }
    return this.reservationsWhere(l, { 'ipv4addr~': networkRegex(l.network, l.prefix) }, deadline);
  }

  /** Reservations of the record type matching a search (`ipv4addr`, `mac`, `ipv4addr~`), inside the subnet. */
  private async reservationsWhere(l: Located, search: Record<string, string>, deadline: Deadline): Promise<Reservation[]> {
    if (this.o.recordType === 'fixedaddress') {
      const found = await this.wapi.list('fixedaddress', { ...search, network_view: this.o.networkView }, FIXED_FIELDS, deadline);
      return found.flatMap((f) => this.fromFixed(f, l));
    }
    const hosts = await this.wapi.list('record:host', { ...search, view: this.o.dnsView }, HOST_FIELDS, deadline);
    return hosts.flatMap((h) => this.fromHost(h, l));
  }

  private fromFixed(f: WapiObject, l: Located): Reservation[] {
    const name = str(f.name);
    const ip = str(f.ipv4addr);
    const mac = normalizeMac(str(f.mac) ?? '');
    // As the plugin: entries without a name or a MAC are not reservations Foreman manages.
    if (!name || !ip || !mac || !this.contains(l, ip)) return [];
    const options: Record<string, unknown> = { hostname: name };
    if (f.use_nextserver === true && str(f.nextserver)) options.nextServer = f.nextserver;
    if (f.use_bootfile === true && str(f.bootfile)) options.filename = f.bootfile;
    return [{ type: 'reservation', name, ip, mac, deleteable: true, options }];
  }

  private fromHost(h: WapiObject, l: Located): Reservation[] {
    const name = str(h.name);
    if (!name || !Array.isArray(h.ipv4addrs)) return [];
    return (h.ipv4addrs as Record<string, unknown>[]).flatMap((a) => {
      const ip = str(a.ipv4addr);
      const mac = normalizeMac(str(a.mac) ?? '');
      if (!ip || !mac || a.configure_for_dhcp === false || !this.contains(l, ip)) return [];
      const options: Record<string, unknown> = { hostname: name };
      if (a.use_nextserver === true && str(a.nextserver)) options.nextServer = a.nextserver;
      if (a.use_bootfile === true && str(a.bootfile)) options.filename = a.bootfile;
      return [{ type: 'reservation', name, ip, mac, deleteable: true, options } satisfies Reservation];
    });
  }

  private async leases(l: Located, search: Record<string, string>, deadline: Deadline): Promise<Lease[]> {
    const found = await this.wapi.list('lease', { ...search, network_view: this.o.networkView }, LEASE_FIELDS, deadline);
    return found.flatMap((x) => {
      const ip = str(x.address);
      // Infoblox may hold leases without a MAC: skipped, as in the plugin.
      const mac = normalizeMac(str(x.hardware) ?? '');
      if (!ip || !mac || !this.contains(l, ip)) return [];
      const options: Record<string, unknown> = {};
      const host = str(x.client_hostname);
      if (host) options.hostname = host;
      return [{ type: 'lease', name: host ?? `lease-${mac.replace(/:/g, '')}`, ip, mac, starts: wapiTime(x.starts), ends: wapiTime(x.ends), state: (str(x.binding_state) ?? 'active').toLowerCase(), options } satisfies Lease];
    });
  }

  // ---- unused_ip -----------------------------------------------------------------------------

  /**
   * Infoblox's own `next_available_ip` of the network proposes candidates; the ones outside
   * from..to, held for an earlier suggestion, used by a reservation or lease as the plugin counts
   * them, or answering the probe are excluded and the grid is asked again.
   */
  async unusedIp(subnet: DhcpSubnet, query: UnusedIpQuery): Promise<string | null> {
    const deadline = this.wapi.deadline();
    const l = await this.located(subnet, deadline);
    const mask = maskOf(l.prefix);
    let first = l.network + 1;
    let last = broadcastOf(l.network, mask) - 1;
    if (query.from !== undefined && query.to !== undefined) {
      first = Math.max(first, parseIpv4(query.from) ?? first);
      last = Math.min(last, parseIpv4(query.to) ?? last);
    }
    const [reservations, leases] = await Promise.all([this.reservations(l, deadline), this.leases(l, { 'address~': networkRegex(l.network, l.prefix) }, deadline)]);
    if (query.mac !== undefined) {
      const mine = reservations.find((r) => r.mac === query.mac);
      const at = mine ? parseIpv4(mine.ip) : undefined;
      if (mine && at !== undefined && at >= first && at <= last) return mine.ip;
    }
    const used = new Set<number>();
    for (const r of [...reservations, ...leases]) {
      const n = parseIpv4(r.ip);
      if (n !== undefined) used.add(n);
    }
    const exclude = new Set<string>();
    const outside = last - first + 1 < 2 ** (32 - l.prefix) - 2 ? 2 ** (32 - l.prefix) - (last - first + 1) : 0;
    if (outside > MAX_EXCLUDE) {
      // A narrow range in a large network: the grid's lowest free addresses would all lie outside
      // it, so search the range itself over the used addresses (the shared algorithm).
      return searchUnusedIp({ first, last, isUsed: (n) => used.has(n), holds: this.holds, ...(this.o.probe ? { probe: this.o.probe } : {}) });
    }
    for (let n = l.network; outside > 0 && n <= broadcastOf(l.network, mask); n++) if (n < first || n > last) exclude.add(formatIpv4(n));
    for (let round = 0; round < NEXT_IP_ROUNDS; round++) {
      const answer = await this.wapi.func(l.ref, 'next_available_ip', { num: NEXT_IP_BATCH, exclude: [...exclude] }, deadline);
      const ips = (answer as { ips?: unknown } | null)?.ips;
      if (!Array.isArray(ips) || !ips.every((x) => typeof x === 'string')) {
        throw new WapiError('bad_answer', `${ORIGIN}: unexpected answer from the Infoblox WAPI to next_available_ip: expected { "ips": [...] }`);
      }
      if (ips.length === 0) return null;
      for (const ip of ips as string[]) {
        const n = parseIpv4(ip);
        exclude.add(ip);
        if (n === undefined || n < first || n > last || used.has(n) || this.holds.has(n)) continue;
        this.holds.add(n);
        if (this.o.probe && (await this.o.probe(ip).catch(() => true))) continue;
        return ip;
      }
    }
    return null;
  }

  // ---- writes --------------------------------------------------------------------------------

  async createReservation(_subnet: DhcpSubnet, r: NewReservation): Promise<void> {
    const deadline = this.wapi.deadline();
    const boot: Record<string, unknown> = {};
    if (r.nextServer !== undefined) Object.assign(boot, { nextserver: r.nextServer, use_nextserver: true });
    if (r.filename !== undefined) Object.assign(boot, { bootfile: r.filename, use_bootfile: true });
    try {
      if (this.o.recordType === 'fixedaddress') {
        await this.wapi.create(
          'fixedaddress',
          { name: r.hostname, ipv4addr: r.ip, mac: r.mac, network_view: this.o.networkView, ...boot, ...(this.o.options.length > 0 ? { options: this.o.options } : {}) },
          deadline,
        );
      } else {
        await this.wapi.create('record:host', { name: r.hostname, view: this.o.dnsView, ipv4addrs: [{ ipv4addr: r.ip, mac: r.mac, configure_for_dhcp: true, ...boot }] }, deadline);
      }
    } catch (err) {
      if (!(err instanceof WapiError && err.failure === 'conflict')) throw err;
      // The grid knows the address already: the same host again is done, anything else a conflict.
      const l = await this.network(r.ip, deadline);
      const existing = l ? (await this.reservationsWhere(l, { ipv4addr: r.ip }, deadline)).find((x) => x.ip === r.ip) : undefined;
      if (existing && existing.mac === r.mac && existing.name === r.hostname) return;
      throw DhcpError.conflict(`Record ${r.ip} conflicts with an existing record.`);
    }
    await this.restartGrid(deadline);
  }

  async deleteReservation(subnet: DhcpSubnet, r: Reservation): Promise<void> {
    const deadline = this.wapi.deadline();
    const l = await this.located(subnet, deadline);
    const type = this.o.recordType === 'fixedaddress' ? 'fixedaddress' : 'record:host';
    const fields = this.o.recordType === 'fixedaddress' ? FIXED_FIELDS : HOST_FIELDS;
    const viewKey = this.o.recordType === 'fixedaddress' ? { network_view: this.o.networkView } : { view: this.o.dnsView };
    const found = await this.wapi.list(type, { ipv4addr: r.ip, ...viewKey }, fields, deadline);
    // Only the objects that hold this reservation (a host record goes with all its addresses, as in the plugin).
    const mine = found.filter((o) => (this.o.recordType === 'fixedaddress' ? this.fromFixed(o, l) : this.fromHost(o, l)).some((x) => x.ip === r.ip && x.mac === r.mac));
    if (mine.length === 0) return;
    for (const o of mine) {
      try {
        await this.wapi.delete(o._ref, deadline);
      } catch (err) {
        if (!(err instanceof WapiError && err.failure === 'not_found')) throw err;
      }
    }
    await this.restartGrid(deadline);
  }

  /**
   * Ask the grid to restart its services so DHCP members serve the change, then wait
   * wait_after_restart. A failed restart is logged, not an error: the change itself is stored.
   */
  private async restartGrid(deadline: Deadline): Promise<void> {
    const attempts = this.o.restartAttempts ?? 5;
    for (let attempt = 0; attempt < attempts; attempt++) {
      try {
        if (this.gridRef === undefined) {
          const [grid] = await this.wapi.find('grid', {}, [], deadline, 1);
          if (!grid) throw new WapiError('bad_answer', `${ORIGIN}: the WAPI returned no grid object`);
          this.gridRef = grid._ref;
        }
        await this.wapi.func(this.gridRef, 'restartservices', { restart_option: 'RESTART_IF_NEEDED', service_option: 'DHCP', member_order: 'SIMULTANEOUSLY' }, deadline);
        if (this.o.waitAfterRestartMs > 0) await this.sleep(this.o.waitAfterRestartMs);
        return;
      } catch (err) {
        this.gridRef = undefined;
        this.o.log.warn(`${ORIGIN}: grid restart attempt ${attempt + 1} of ${attempts} failed: ${(err as Error).message}`);
        if (deadline - Date.now() <= attempt * 1000) break;
        await this.sleep(attempt * 1000);
      }
    }
    this.o.log.warn(`${ORIGIN}: restarting the Infoblox grid failed, giving up; the change is stored but DHCP members may serve it only after the next restart`);
  }
}
