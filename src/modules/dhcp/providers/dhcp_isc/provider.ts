// ISC dhcpd provider: reads dhcpd.conf and follows dhcpd.leases for the in-memory view, writes
// reservations through a native OMAPI client (one persistent, authenticated connection).

import type { ProxyError } from '../../../../core/errors.ts';
import type { Logger } from '../../../../core/logging-types.ts';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
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
import { DhcpError } from '../../errors.ts';
import { DHCP_SETTINGS } from '../../module.ts';
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
  log: Logger;
  /** Safety-net poll of the leases file. */
  pollMs?: number;
}

export class IscProvider implements DhcpProvider {
  readonly supportsVendorOptions = true;
  /** A write waits for the module's write slot no longer than one OMAPI exchange may take. */
  readonly writeQueueTimeoutMs: number;
  private readonly opts: IscProviderOptions;
  private store: IscStore = new IscStore([]);
  private building: IscStore | undefined;
  private readonly follower: LeasesFollower;
  private readonly omapi: OmapiClient;
  private readonly holds: SuggestionHolds;
  private sweeper: NodeJS.Timeout | undefined;

  /** A provider that has read its files, or the reason it could not (nothing left open). */
  static async started(opts: IscProviderOptions): Promise<IscProvider> {
    const provider = new IscProvider(opts);
    try {
      await provider.start();
    } catch (err) {
      await provider.close();
      throw err;
    }
    return provider;
  }

  constructor(opts: IscProviderOptions) {
    this.opts = opts;
    this.writeQueueTimeoutMs = opts.omapiTimeoutMs;
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
    if (!s) throw DhcpError.subnet_not_found(`Subnet ${subnet.network} could not found`);
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
    if (last < first) throw DhcpError.empty_range('Zero or negative number of indices');
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
      throw DhcpError.invalid_reservation(`Failed to add DHCP reservation for ${what}: ${(e as Error).message}`);
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
        if (e.serverMessage?.includes('key conflict')) return DhcpError.conflict('Hardware address conflict.');
        if (e.result === ISC_R_EXISTS) return DhcpError.omapi_exists(`${prefix}: Entry already exists`);
        return DhcpError.omapi_failed(`${prefix}: ${e.serverMessage ?? e.message}`);
      }
      if (e.kind === 'auth' || e.kind === 'protocol') return DhcpError.omapi_failed(`${prefix}: ${e.message}`);
      if (e.kind === 'unavailable') {
        const err = DhcpError.omapi_unavailable(`${prefix}: No response from DHCP server (${e.message})`);
        err.headers['retry-after'] = String(Math.max(1, Math.ceil((e.retryAfterMs ?? 0) / 1000)));
        return err;
      }
      return DhcpError.omapi_failed(`${prefix}: No response from DHCP server (${e.message})`);
    }
    return DhcpError.omapi_failed(`${prefix}: ${(e as Error).message}`);
  }
}

/** The provider's options from its checked settings (dhcp_isc's and dhcp_remote_isc's alike). */
export function iscProviderOptions(
  s: {
    config: string;
    leases: string;
    server: string;
    omapi_port: number;
    key_name?: string;
    key_secret?: string;
    key_algorithm?: string;
    omapi_timeout: number;
    blacklist_duration_minutes: number;
    ping_free_ip: boolean;
  },
  ctx: { global: { dnsResolvTimeouts: readonly number[] }; log: Logger },
): IscProviderOptions {
  return {
    config: s.config,
    leases: s.leases,
    server: s.server,
    omapiPort: s.omapi_port,
    key: s.key_name && s.key_secret ? { name: s.key_name, secret: s.key_secret, algorithm: s.key_algorithm } : undefined,
    omapiTimeoutMs: s.omapi_timeout * 1000,
    // QUIRK kept from the reference: the "minutes" setting is used as seconds.
    holdSeconds: s.blacklist_duration_minutes,
    pingFreeIp: s.ping_free_ip,
    resolveA: resolverWithTimeouts(ctx.global.dnsResolvTimeouts),
    log: ctx.log,
  };
}

/** OMAPI and suggestion settings, the same for dhcpd here and on another host (dhcp_remote_isc). */
export const ISC_OMAPI_SETTINGS = {
  omapi_port: setting.port({ default: 7911, description: "dhcpd's OMAPI port, on dhcp.yml's server." }),
  key_name: setting.string({
    example: 'omapi_key',
    description: 'Name of the OMAPI key as configured in dhcpd.conf. Used only together with key_secret; without both, OMAPI requests go unsigned.',
  }),
  key_secret: setting.string({ example: 'base64secret==', description: "The OMAPI key's base64 secret, as in dhcpd.conf." }),
  key_algorithm: setting.string({
    example: 'hmac-md5',
    extension: true,
    description: 'Algorithm of the OMAPI key: hmac-md5 (when unset, as the reference), hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384 or hmac-sha512.',
  }),
  omapi_timeout: setting.integer({
    default: 10,
    minimum: 1,
    maximum: 55,
    unit: 'seconds',
    extension: true,
    description: 'Time any one OMAPI exchange, connect included, may take before the request fails with "No response from DHCP server" (Foreman waits 60).',
  }),
  blacklist_duration_minutes: setting.integer({
    default: 1800,
    minimum: 0,
    unit: 'seconds',
    description:
      'How long an address suggested by unused_ip is withheld from further suggestions. Despite the name the value is in seconds, as in the reference (1800 = 30 minutes).',
  }),
};

export default defineProvider({
  id: 'dhcp_isc',
  module: 'dhcp',
  summary:
    'dhcp_isc: ISC dhcpd. The proxy reads dhcpd.conf and follows dhcpd.leases for its view, and creates/removes reservations over OMAPI (dhcpd.conf needs omapi-port and omapi-key).',
  capabilities: ['dhcp_filename_ipv4', 'dhcp_filename_hostname'],
  moduleSettings: DHCP_SETTINGS,
  settings: setting.settings({
    config: setting.file({
      default: '/etc/dhcp/dhcpd.conf',
      checks: ['readable'],
      description: 'dhcpd configuration: subnets and static hosts (include files, shared-network, group and pool blocks are followed).',
    }),
    leases: setting.file({
      default: '/var/lib/dhcpd/dhcpd.leases',
      checks: ['readable'],
      description: "dhcpd's leases file, followed: appended records are read incrementally, a rewritten file is reloaded with the configuration.",
    }),
    ...ISC_OMAPI_SETTINGS,
  }),
  async create(ctx) {
    const s = ctx.settings;
    // Reads dhcpd.conf and dhcpd.leases (so `smart-proxy check` tries them); OMAPI connects on
    // the first write, so dhcpd need not be running yet.
    return IscProvider.started(iscProviderOptions(s, ctx));
  },
});
