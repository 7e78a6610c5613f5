// The DHCP provider for Kea, spoken to through the Kea Control Agent.
//
// Reads: subnets and reservations come from `config-get` (plus `reservation-get-all` when the
// reservations live in a host database), leases from the lease_cmds hook. Writes: `reservation-add`
// / `reservation-del` when host_cmds is loaded and a host database is configured; otherwise the
// configuration itself is edited: config-get → edit → config-test → config-set (→ config-write).
// Kea 2.2 goes into a state where it stops serving DHCP after a failed config-set, which is why
// config-test always runs first. Writes are serialised here as well as in the module, so two
// creates can never both start from the same configuration and lose one of the reservations.

import type { Logger } from '../../../../core/logging-types.ts';
import { KeaClient, KeaError, KEA_EMPTY } from '../../../../lib/kea/client.ts';
import {
  findSubnet as findKeaSubnet,
  hasHostsDatabase,
  isKeaConfig,
  listSubnets,
  subnetKey,
  withReservation,
  withoutReservations,
  type KeaConfig,
  type KeaReservation,
  type LocatedSubnet,
} from '../../../../lib/kea/dhcp4-config.ts';
import { maskOf, networkOf, normalizeMac, parseIpv4, broadcastOf } from '../../../../lib/isc/ipv4.ts';
import type {
  DhcpProvider,
  DhcpRecord,
  DhcpSubnet,
  Lease,
  NewReservation,
  Reservation,
  SubnetRecords,
  UnusedIpQuery,
} from '../../provider.ts';
import { DhcpError } from '../../errors.ts';
import { SuggestionHolds, searchUnusedIp } from '../../unused-ip.ts';
import {
  checkKeaReservation,
  expectedReservation,
  leaseFromKea,
  reservationFromKea,
  reservationToKea,
  sameReservation,
  subnetFromKea,
  subnetPrefix,
  type KeaLease4,
} from './records.ts';

export interface KeaProviderOptions {
  client: KeaClient;
  /** Daemon behind the agent (`dhcp4`). */
  service: string;
  /** Persist every change with `config-write` (reservations set by config-set are in memory only). */
  configWrite: boolean;
  /** How long a suggested free address is withheld from further suggestions. */
  holdMs: number;
  /** Liveness probe for free-address candidates (`ping_free_ip`); omitted = no probing. */
  probe?: (ip: string) => Promise<boolean>;
  log: Logger;
  /** How long a fetched configuration serves reads (writes always re-read and then invalidate). */
  configCacheMs?: number;
}

interface Features {
  leaseCmds: boolean;
  hostCmds: boolean;
}

interface Snapshot {
  config: KeaConfig;
  fetchedAt: number;
}

const ORIGIN = 'dhcp/kea';

export class KeaDhcpProvider implements DhcpProvider {
  readonly supportsVendorOptions = false;

  private readonly client: KeaClient;
  private readonly service: string;
  private readonly configWrite: boolean;
  private readonly probe: ((ip: string) => Promise<boolean>) | undefined;
  private readonly log: Logger;
  private readonly cacheMs: number;
  readonly holds: SuggestionHolds;
  private readonly sweepTimer: NodeJS.Timeout;

  private features: Features | undefined;
  private featuresInFlight: Promise<Features> | undefined;
  private snapshot: Snapshot | undefined;
  private snapshotInFlight: Promise<Snapshot> | undefined;
  /** Bumped by every write so a config-get that started before it is not cached afterwards. */
  private generation = 0;
  private writeTail: Promise<unknown> = Promise.resolve();
  /** config-set succeeded but config-write failed: retry the write at the next opportunity. */
  private unsaved = false;
  private closed = false;

  constructor(options: KeaProviderOptions) {
    this.client = options.client;
    this.service = options.service;
    this.configWrite = options.configWrite;
    this.probe = options.probe;
    this.log = options.log;
    this.cacheMs = options.configCacheMs ?? 5000;
    this.holds = new SuggestionHolds(options.holdMs);
    this.sweepTimer = setInterval(() => this.holds.sweep(), 60_000);
    this.sweepTimer.unref();
  }

  // ---- reads -------------------------------------------------------------------------------

  async subnets(): Promise<DhcpSubnet[]> {
    const { config } = await this.config();
    return listSubnets(config).map((s) => subnetFromKea(config, s));
  }

  async findSubnet(address: string): Promise<DhcpSubnet | undefined> {
    const ip = parseIpv4(address);
    if (ip === undefined) return undefined;
    const { config } = await this.config();
    let best: LocatedSubnet | undefined;
    for (const s of listSubnets(config)) {
      if (networkOf(ip, maskOf(s.prefix)) !== s.network) continue;
      if (!best || s.prefix > best.prefix) best = s;
    }
    return best ? subnetFromKea(config, best) : undefined;
  }

  async subnetRecords(subnet: DhcpSubnet): Promise<SubnetRecords> {
    const { config } = await this.config();
    const located = this.locate(config, subnet);
    const [reservations, leases] = await Promise.all([this.reservationsOf(config, located), this.leasesOf(located)]);
    return { reservations, leases };
  }

  async findByIp(subnet: DhcpSubnet, ip: string): Promise<DhcpRecord[]> {
    const { config } = await this.config();
    const located = this.locate(config, subnet);
    const found = (await this.reservationsOf(config, located)).filter((r) => r.ip === ip);
    if (found.length > 0) return found;
    const lease = await this.leaseByIp(located, ip);
    return lease ? [lease] : [];
  }

  async findByMac(subnet: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined> {
    const { config } = await this.config();
    const located = this.locate(config, subnet);
    const r = (await this.reservationsOf(config, located)).find((x) => x.mac === mac);
    if (r) return r;
    return this.leaseByMac(located, mac);
  }

  async unusedIp(subnet: DhcpSubnet, query: UnusedIpQuery): Promise<string | null> {
    const { config } = await this.config();
    const located = this.locate(config, subnet);
    const mask = maskOf(located.prefix);
    let first = located.network + 1;
    let last = broadcastOf(located.network, mask) - 1;
    if (query.from !== undefined && query.to !== undefined) {
      first = Math.max(first, parseIpv4(query.from) ?? first);
      last = Math.min(last, parseIpv4(query.to) ?? last);
    }
    const [reservations, leases] = await Promise.all([this.reservationsOf(config, located), this.leasesOf(located)]);
    if (query.mac !== undefined) {
      const mine = reservations.find((r) => r.mac === query.mac) ?? leases.find((l) => l.mac === query.mac);
      const at = mine ? parseIpv4(mine.ip) : undefined;
      if (at !== undefined && at >= first && at <= last) return mine!.ip;
    }
    const used = new Set<number>();
    for (const r of [...reservations, ...leases]) {
      const n = parseIpv4(r.ip);
      if (n !== undefined) used.add(n);
    }
    return searchUnusedIp({ first, last, isUsed: (n) => used.has(n), holds: this.holds, probe: this.probe });
  }

  // ---- writes ------------------------------------------------------------------------------

  createReservation(subnet: DhcpSubnet, reservation: NewReservation): Promise<void> {
    return this.serial(async () => {
      checkKeaReservation(reservation);
      const features = await this.detect();
      const { config } = await this.config(true);
      const located = this.locate(config, subnet);
      const wanted = expectedReservation(reservation);
      const existing = await this.reservationsOf(config, located);
      // The module checks for conflicts too; checking again on the configuration this write
      // starts from is what makes concurrent creates safe even across module code paths.
      for (const r of existing) {
        if (r.mac !== wanted.mac && r.ip !== wanted.ip) continue;
        if (sameReservation(r, wanted)) {
          await this.retryUnsaved();
          return;
        }
        if (r.mac === wanted.mac) throw DhcpError.conflict(`Record ${subnet.network}/${reservation.ip} already exists`);
      }
      const entry = reservationToKea(reservation);
      const what = `${reservation.name} (${reservation.ip} / ${reservation.mac})`;
      if (features.hostCmds && hasHostsDatabase(config)) {
        const id = this.subnetId(located);
        await this.kea('reservation-add', { reservation: { ...entry, 'subnet-id': id } }, `add reservation ${what}`);
      } else {
        await this.applyConfig(
          withReservation(config, located.network, located.prefix, entry),
          `add reservation ${what}`,
        );
      }
      this.invalidate();
    });
  }

  deleteReservation(subnet: DhcpSubnet, reservation: Reservation): Promise<void> {
    return this.serial(async () => {
      const features = await this.detect();
      const { config } = await this.config(true);
      const located = this.locate(config, subnet);
      const what = `${reservation.name} (${reservation.ip} / ${reservation.mac})`;
      const matches = (r: KeaReservation): boolean =>
        typeof r['hw-address'] === 'string' &&
        normalizeMac(r['hw-address']) === reservation.mac &&
        r['ip-address'] === reservation.ip;
      const edit = withoutReservations(config, located.network, located.prefix, matches);
      if (edit.removed > 0) {
        await this.applyConfig(edit.config, `delete reservation ${what}`);
      } else if (features.hostCmds && hasHostsDatabase(config)) {
        const args = {
          'subnet-id': this.subnetId(located),
          'identifier-type': 'hw-address',
          identifier: reservation.mac,
        };
        try {
          await this.kea('reservation-del', args, `delete reservation ${what}`);
        } catch (err) {
          // Already gone is what the caller wanted.
          if (!(err instanceof Error && /result 3\)/.test(err.message))) throw err;
        }
      } else {
        await this.retryUnsaved();
      }
      this.invalidate();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.client.close();
  }

  // ---- internals ---------------------------------------------------------------------------

  /** Run writes one at a time, in arrival order; a failed write does not block the next. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeTail.then(fn, fn);
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  private invalidate(): void {
    this.generation++;
    this.snapshot = undefined;
    this.snapshotInFlight = undefined;
  }

  /**
   * The running configuration. Concurrent readers share one config-get; a result younger than
   * the cache time serves reads. `fresh` (used by writes) always asks Kea.
   */
  private async config(fresh = false): Promise<Snapshot> {
    if (!fresh) {
      const s = this.snapshot;
      if (s && Date.now() - s.fetchedAt < this.cacheMs) return s;
      if (this.snapshotInFlight) return this.snapshotInFlight;
    }
    const gen = this.generation;
    const p = (async (): Promise<Snapshot> => {
      const reply = await this.kea<unknown>('config-get', undefined, 'read the configuration');
      if (!isKeaConfig(reply)) throw new Error(`${ORIGIN}: config-get returned no Dhcp4 configuration`);
      const snap = { config: reply, fetchedAt: Date.now() };
      if (gen === this.generation) this.snapshot = snap;
      return snap;
    })();
    if (!fresh) {
      this.snapshotInFlight = p;
      p.finally(() => {
        if (this.snapshotInFlight === p) this.snapshotInFlight = undefined;
      }).catch(() => undefined);
    }
    return p;
  }

  /** Which hooks the server has, from `list-commands`; remembered once Kea has answered. */
  private async detect(): Promise<Features> {
    if (this.features) return this.features;
    if (!this.featuresInFlight) {
      this.featuresInFlight = (async () => {
        const cmds = await this.kea<unknown>('list-commands', undefined, 'list its commands');
        const names = new Set(Array.isArray(cmds) ? cmds.filter((c): c is string => typeof c === 'string') : []);
        const f: Features = {
          leaseCmds: names.has('lease4-get-all') && names.has('lease4-get'),
          hostCmds: names.has('reservation-add') && names.has('reservation-del') && names.has('reservation-get-all'),
        };
        if (!f.leaseCmds) this.log.warn(`${ORIGIN}: the lease_cmds hook is not loaded; leases are not reported`);
        this.log.info(
          `${ORIGIN}: reservations through ${f.hostCmds ? 'host_cmds (when a host database is configured)' : 'config-set'}`,
        );
        this.features = f;
        return f;
      })().finally(() => {
        this.featuresInFlight = undefined;
      });
    }
    return this.featuresInFlight;
  }

  private locate(config: KeaConfig, subnet: DhcpSubnet): LocatedSubnet {
    const p = subnetPrefix(subnet);
    const located = p ? findKeaSubnet(config, p.network, p.prefix) : undefined;
    if (!located) throw new Error(`${ORIGIN}: subnet ${subnet.network}/${subnet.netmask} is not in the Kea configuration`);
    return located;
  }

  private subnetId(located: LocatedSubnet): number {
    const id = located.subnet.id;
    if (typeof id !== 'number') {
      throw new Error(`${ORIGIN}: subnet ${subnetKey(located.network, located.prefix)} has no id in the Kea configuration`);
    }
    return id;
  }

  private async reservationsOf(config: KeaConfig, located: LocatedSubnet): Promise<Reservation[]> {
    const out: Reservation[] = [];
    const seen = new Set<string>();
    const add = (list: unknown): void => {
      if (!Array.isArray(list)) return;
      for (const k of list as KeaReservation[]) {
        if (!k || typeof k !== 'object') continue;
        const r = reservationFromKea(k);
        if (!r) continue;
        const key = `${r.mac}|${r.ip}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(r);
      }
    };
    add(located.subnet.reservations);
    if (hasHostsDatabase(config) && typeof located.subnet.id === 'number') {
      const f = await this.detect();
      if (f.hostCmds) {
        const reply = await this.kea<{ hosts?: unknown }>(
          'reservation-get-all',
          { 'subnet-id': located.subnet.id },
          'list reservations',
          true,
        );
        add(reply?.hosts);
      }
    }
    return out;
  }

  private async leasesOf(located: LocatedSubnet): Promise<Lease[]> {
    const f = await this.detect();
    if (!f.leaseCmds || typeof located.subnet.id !== 'number') return [];
    const reply = await this.kea<{ leases?: unknown }>(
      'lease4-get-all',
      { subnets: [located.subnet.id] },
      'list leases',
      true,
    );
    return this.toLeases(reply?.leases, located);
  }

  private async leaseByIp(located: LocatedSubnet, ip: string): Promise<Lease | undefined> {
    const f = await this.detect();
    if (!f.leaseCmds) return undefined;
    const reply = await this.kea<KeaLease4>('lease4-get', { 'ip-address': ip }, 'look up a lease', true);
    return this.toLeases(reply ? [reply] : [], located)[0];
  }

  private async leaseByMac(located: LocatedSubnet, mac: string): Promise<Lease | undefined> {
    const f = await this.detect();
    if (!f.leaseCmds) return undefined;
    const reply = await this.kea<{ leases?: unknown }>(
      'lease4-get-by-hw-address',
      { 'hw-address': mac },
      'look up a lease',
      true,
    );
    return this.toLeases(reply?.leases, located)[0];
  }

  private toLeases(list: unknown, located: LocatedSubnet): Lease[] {
    if (!Array.isArray(list)) return [];
    const out: Lease[] = [];
    for (const l of list as KeaLease4[]) {
      if (!l || typeof l !== 'object') continue;
      if (typeof l['subnet-id'] === 'number' && l['subnet-id'] !== located.subnet.id) continue;
      const lease = leaseFromKea(l);
      if (lease) out.push(lease);
    }
    return out;
  }

  /** config-test, then config-set, then (if configured) config-write. */
  private async applyConfig(config: KeaConfig, what: string): Promise<void> {
    try {
      await this.client.command('config-test', config, { service: this.service });
    } catch (err) {
      if (err instanceof KeaError && err.kind === 'command' && /already (a reservation|exists)|duplicate/i.test(err.message)) {
        throw DhcpError.conflict(`${ORIGIN}: cannot ${what}: ${kindText(err)}`);
      }
      throw this.failure(err, what);
    }
    await this.kea('config-set', config, what);
    this.unsaved = this.configWrite;
    await this.retryUnsaved();
  }

  private async retryUnsaved(): Promise<void> {
    if (!this.unsaved) return;
    try {
      await this.client.command('config-write', {}, { service: this.service });
      this.unsaved = false;
    } catch (err) {
      throw new Error(
        `${ORIGIN}: the change is active in Kea but config-write failed, so a Kea restart would lose it: ${kindText(err)}`,
      );
    }
  }

  /** One command to the DHCP service, with failures turned into messages naming their origin. */
  private async kea<A>(command: string, args: unknown, what: string, allowEmpty = false): Promise<A | undefined> {
    try {
      const reply = await this.client.command<A>(command, args, { service: this.service, allowEmpty });
      return reply.result === KEA_EMPTY ? undefined : reply.arguments;
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  /** A Kea failure as a plain error naming its origin (the module answers it 400). */
  private failure(err: unknown, what: string): Error {
    if (err instanceof KeaError) {
      if (err.kind !== 'command') this.features = undefined; // re-detect hooks once Kea is back
      return new Error(`${ORIGIN}: cannot ${what}: ${kindText(err)}`);
    }
    return err instanceof Error ? err : new Error(`${ORIGIN}: cannot ${what}: ${String(err)}`);
  }
}

function kindText(err: unknown): string {
  if (err instanceof KeaError) {
    switch (err.kind) {
      case 'unreachable':
        return `Kea Control Agent unreachable: ${err.message}`;
      case 'timeout':
        return `Kea did not answer in time: ${err.message}`;
      default:
        return err.message;
    }
  }
  return err instanceof Error ? err.message : String(err);
}
