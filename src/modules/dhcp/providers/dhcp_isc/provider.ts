// ISC dhcpd provider: reads dhcpd.conf and follows dhcpd.leases for the in-memory view, writes
// reservations through a native OMAPI client (one persistent, authenticated connection).

import { defineProvider, type RuntimeContext } from '../../../../core/module.ts';
import { ProxyError, conflict } from '../../../../core/errors.ts';
import { readDhcpdConf } from '../../../../lib/isc/conf.ts';
import { LeasesFollower, type LeaseEvent } from '../../../../lib/isc/leases.ts';
import { broadcastOf, parseIpv4 } from '../../../../lib/isc/ipv4.ts';
import { OmapiClient, OmapiError, ISC_R_EXISTS } from '../../../../lib/omapi/client.ts';
import type {
  DhcpProvider,
  DhcpRecord,
  DhcpSubnet,
  NewReservation,
  Reservation,
  SubnetRecords,
  UnusedIpQuery,
} from '../../provider.ts';
import { SuggestionHolds, probeAlive, searchUnusedIp } from '../../unused-ip.ts';
import { IscStore, ipKey, type SubnetState } from './store.ts';
import { buildStatements, resolverWithTimeouts, type ResolveA } from './statements.ts';

export interface IscProviderOptions {
  config: string;
  leases: string;
  server: string;
  omapiPort: number;
  key?: { name: string; secret: string; algorithm?: string };
  omapiTimeoutMs: number;
  holdSeconds: number;
  pingFreeIp: boolean;
  resolveA: ResolveA;
  log: RuntimeContext['log'];
  signal?: AbortSignal;
  /** Safety-net poll of the leases file. */
  pollMs?: number;
}

export class IscProvider implements DhcpProvider {
  readonly supportsVendorOptions = true;
  private readonly opts: IscProviderOptions;
  private store: IscStore = new IscStore([]);
  private building: IscStore | undefined;
  private readonly follower: LeasesFollower;
  private readonly omapi: OmapiClient;
  private readonly holds: SuggestionHolds;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: IscProviderOptions) {
    this.opts = opts;
    this.holds = new SuggestionHolds(opts.holdSeconds * 1000);
    this.omapi = new OmapiClient({
      host: opts.server,
      port: opts.omapiPort,
      key: opts.key,
      connectTimeoutMs: Math.min(5000, opts.omapiTimeoutMs),
      requestTimeoutMs: opts.omapiTimeoutMs,
    });
    this.follower = new LeasesFollower({
      path: opts.leases,
      pollMs: opts.pollMs,
      onLoadStart: async () => {
        // A replaced leases file means dhcpd restarted or compacted: re-read the config too.
        const conf = await readDhcpdConf(opts.config);
        const fresh = new IscStore(conf.subnets);
        for (const h of conf.hosts) fresh.applyHost(h, true);
        this.building = fresh;
      },
      onEvents: (events) => this.apply(this.building ?? this.store, events),
      onLoadEnd: () => {
        if (this.building) this.store = this.building;
        this.building = undefined;
      },
      onError: (e) => opts.log.warn(`dhcp/isc: leases file ${opts.leases}: ${e.message}`),
    });
  }

  async start(): Promise<void> {
    await this.follower.start();
    const c = this.store.counts();
    this.opts.log.info(
      `dhcp/isc: loaded ${this.store.subnets.length} subnet(s), ${c.reservations} reservation(s), ${c.leases} lease(s)`,
    );
    this.sweeper = setInterval(() => this.holds.sweep(), 60_000);
    this.sweeper.unref();
    this.opts.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  async close(): Promise<void> {
    this.follower.close();
    this.omapi.close();
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Wait until everything dhcpd has written so far is applied (tests, benchmarks). */
  sync(): Promise<void> {
    return this.follower.sync();
  }

  get followerStats(): LeasesFollower['stats'] {
    return this.follower.stats;
  }

  private apply(store: IscStore, events: LeaseEvent[]): void {
    const now = Date.now() / 1000;
    for (const e of events) {
      if (e.kind === 'lease') store.applyLease(e.lease, now);
      else store.applyHost(e.host, false);
    }
  }

  private state(subnet: DhcpSubnet): SubnetState {
    const s = this.store.byNetworkAddress(subnet.network);
    if (!s) throw new ProxyError(404, `Subnet ${subnet.network} could not found`, 'dhcp.subnet_not_found');
    return s;
  }

  async subnets(): Promise<DhcpSubnet[]> {
    return this.store.subnets.map((s) => s.subnet);
  }

  async findSubnet(address: string): Promise<DhcpSubnet | undefined> {
    const n = parseIpv4(address);
    if (n === undefined) return undefined;
    return this.store.findSubnet(n)?.subnet;
  }

  async subnetRecords(subnet: DhcpSubnet): Promise<SubnetRecords> {
    const s = this.state(subnet);
    const reservations: Reservation[] = [];
    for (const list of s.resByIp.values()) for (const r of list) reservations.push(r);
    return { reservations, leases: [...s.leaseByIp.values()] };
  }

  async findByIp(subnet: DhcpSubnet, ip: string): Promise<DhcpRecord[]> {
    const s = this.state(subnet);
    const n = parseIpv4(ip);
    if (n === undefined) return [];
    const res = s.resByIp.get(ipKey(n));
    if (res && res.length > 0) return [...res];
    const lease = s.leaseByIp.get(ipKey(n));
    return lease ? [lease] : [];
  }

  async findByMac(subnet: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined> {
    const s = this.state(subnet);
    return s.resByMac.get(mac) ?? s.leaseByMac.get(mac);
  }

  async unusedIp(subnet: DhcpSubnet, q: UnusedIpQuery): Promise<string | null> {
    const s = this.state(subnet);
    const bcast = broadcastOf(s.net, s.mask);
    let first = s.net + 1;
    let last = bcast - 1;
    if (q.from !== undefined && q.to !== undefined) {
      first = Math.max(first, parseIpv4(q.from)!);
      last = Math.min(last, parseIpv4(q.to)!);
    }
    if (last < first) throw new ProxyError(400, 'Zero or negative number of indices', 'dhcp.empty_range');
    if (q.mac !== undefined) {
      const known = s.resByMac.get(q.mac) ?? s.leaseByMac.get(q.mac);
      const n = known ? parseIpv4(known.ip) : undefined;
      if (n !== undefined && n >= first && n <= last) return known!.ip;
    }
    return searchUnusedIp({
      first,
      last,
      isUsed: (ip) => s.resByIp.has(ipKey(ip)) || s.leaseByIp.has(ipKey(ip)),
      holds: this.holds,
      probe: this.opts.pingFreeIp ? probeAlive : undefined,
    });
  }

  async createReservation(subnet: DhcpSubnet, r: NewReservation): Promise<void> {
    const s = this.state(subnet);
    const what = `${r.name} (${r.ip} / ${r.mac})`;
    let statements: string;
    try {
      statements = await buildStatements(r, this.opts.resolveA);
    } catch (e) {
      throw new ProxyError(400, `Failed to add DHCP reservation for ${what}: ${(e as Error).message}`);
    }
    try {
      await this.omapi.createHost({ name: r.name, ip: r.ip, mac: r.mac, hardwareType: 1, statements });
    } catch (e) {
      throw this.omapiFailure(e, `Failed to add DHCP reservation for ${what}`);
    }
    const options: Record<string, unknown> = { hostname: r.hostname, hardware_type: 'ethernet' };
    if (r.nextServer !== undefined) options.nextServer = r.nextServer;
    if (r.filename !== undefined) options.filename = r.filename;
    if (r.vendorOptions) Object.assign(options, r.vendorOptions);
    // Visible at once; dhcpd's own `host … { dynamic; … }` line in the leases file replaces it.
    this.store.addReservation(s, parseIpv4(r.ip)!, {
      type: 'reservation',
      name: r.name,
      ip: r.ip,
      mac: r.mac,
      deleteable: true,
      options,
    });
  }

  async deleteReservation(subnet: DhcpSubnet, r: Reservation): Promise<void> {
    const s = this.state(subnet);
    try {
      await this.omapi.deleteHost({ mac: r.mac, hardwareType: 1 });
    } catch (e) {
      throw this.omapiFailure(e, `Failed to remove DHCP reservation for ${r.name} (${r.ip} / ${r.mac})`);
    }
    this.store.dropReservation(s, r);
  }

  private omapiFailure(e: unknown, prefix: string): ProxyError {
    if (e instanceof OmapiError) {
      if (e.kind === 'status') {
        if (e.serverMessage?.includes('key conflict')) return conflict('Hardware address conflict.', 'dhcp.key_conflict');
        if (e.result === ISC_R_EXISTS) return new ProxyError(400, `${prefix}: Entry already exists`, 'dhcp.exists');
        return new ProxyError(400, `${prefix}: ${e.serverMessage ?? e.message}`, 'dhcp.omapi');
      }
      if (e.kind === 'auth' || e.kind === 'protocol') return new ProxyError(400, `${prefix}: ${e.message}`, 'dhcp.omapi');
      return new ProxyError(400, `${prefix}: No response from DHCP server (${e.message})`, 'dhcp.unreachable');
    }
    return new ProxyError(400, `${prefix}: ${(e as Error).message}`, 'dhcp.error');
  }
}

function str(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  return String(v);
}

export default defineProvider<DhcpProvider>({
  id: 'dhcp_isc',
  module: 'dhcp',
  capabilities: ['dhcp_filename_ipv4', 'dhcp_filename_hostname'],
  settings: {
    config: { default: '/etc/dhcp/dhcpd.conf', type: 'string', checks: ['readable'] },
    leases: { default: '/var/lib/dhcpd/dhcpd.leases', type: 'string', checks: ['readable'] },
    omapi_port: { default: '7911', type: 'string' },
    key_name: { type: 'string' },
    key_secret: { type: 'string' },
    // Our extensions: the key's algorithm (dhcpd supports the HMAC family) and the OMAPI deadline.
    key_algorithm: { type: 'string' },
    omapi_timeout: { default: 10, type: 'integer' },
    blacklist_duration_minutes: { default: 1800, type: 'integer' },
  },
  async create(ctx) {
    const s = ctx.settings;
    const port = Number(s.omapi_port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`dhcp_isc: omapi_port: invalid port ${String(s.omapi_port)}`);
    const keyName = str(s.key_name);
    const keySecret = str(s.key_secret);
    const timeout = Number(s.omapi_timeout ?? 10);
    const provider = new IscProvider({
      config: String(s.config),
      leases: String(s.leases),
      server: String(s.server ?? '127.0.0.1'),
      omapiPort: port,
      key: keyName && keySecret ? { name: keyName, secret: keySecret, algorithm: str(s.key_algorithm) } : undefined,
      omapiTimeoutMs: (timeout > 0 && timeout < 60 ? timeout : 10) * 1000,
      // QUIRK kept from the reference: the "minutes" setting is used as seconds.
      holdSeconds: Number(s.blacklist_duration_minutes ?? 1800),
      pingFreeIp: s.ping_free_ip !== false,
      resolveA: resolverWithTimeouts(ctx.global.dnsResolvTimeouts),
      log: ctx.log,
      signal: ctx.signal,
    });
    await provider.start();
    return provider;
  },
});
