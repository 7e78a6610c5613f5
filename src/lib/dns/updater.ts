// What `nsupdate` does, without a process per call: look records up, find the zone a name
// belongs to (SOA query, as nsupdate does), and send signed UPDATE messages to one server.

import { exchange, formatServer, randomId, resolveServer, type ServerAddress } from './client.ts';
import { DnsError } from './errors.ts';
import { CLASS, RCODE, TYPE, rcodeName, typeName, type Message, type ResourceRecord } from './message.ts';
import { canonicalName, isSubdomain, namesEqual } from './name.ts';
import type { TsigKey } from './tsig.ts';
import { buildQuery, buildUpdate, type Prerequisite, type UpdateOp } from './update.ts';

export interface UpdaterOptions {
  server: { host: string; port: number };
  key?: TsigKey;
  /** Per-try timeouts of lookups (the conflict checks), ms. */
  queryTimeoutsMs: readonly number[];
  /** Per-try timeout of UPDATE messages over UDP, ms; tries repeat until the deadline. */
  updateTryMs: number;
  /** How long a discovered zone is remembered, ms. */
  zoneCacheMs?: number;
}

export interface LookupResult {
  rcode: number;
  /** Records of the asked type in the answer section (CNAME chains followed by the server). */
  records: ResourceRecord[];
}

/** An UPDATE the server answered with an rcode other than NOERROR. */
export class DnsUpdateRefused extends DnsError {
  readonly rcode: number;
  constructor(message: string, rcode: number) {
    super(message, `dns.rcode.${rcodeName(rcode).toLowerCase()}`);
    this.name = 'DnsUpdateRefused';
    this.rcode = rcode;
  }
}

export class DnsUpdater {
  readonly options: UpdaterOptions;
  private readonly zones = new Map<string, { zone: string; until: number }>();

  constructor(options: UpdaterOptions) {
    this.options = options;
  }

  get serverText(): string {
    return formatServer(this.options.server);
  }

  private resolved: { address: ServerAddress; until: number } | undefined;

  /** The server's address; a host name is resolved at most every 30 s (getaddrinfo is not free). */
  private async address(): Promise<ServerAddress> {
    if (this.resolved && this.resolved.until > Date.now()) return this.resolved.address;
    const address = await resolveServer(this.options.server);
    this.resolved = { address, until: Date.now() + 30_000 };
    return address;
  }

  /** Query `name`/`type`; records of that type from the answer section. */
  async lookup(name: string, type: number, deadline: number, signal?: AbortSignal): Promise<LookupResult> {
    const server = await this.address();
    const q = buildQuery(randomId(), name, type);
    const { response } = await exchange(q, { server, tryTimeoutsMs: this.options.queryTimeoutsMs, deadline, signal });
    return { rcode: response.rcode, records: response.answers.filter((r) => r.type === type && r.class === CLASS.IN) };
  }

  /**
   * The zone holding `name`: the owner of the SOA in the answer (name is an apex) or in the
   * authority section of the negative/referral answer. Remembered per parent name.
   */
  async findZone(name: string, deadline: number, signal?: AbortSignal): Promise<string> {
    const cname = canonicalName(name);
    const parent = cname.includes('.') ? cname.slice(cname.indexOf('.') + 1) : cname;
    const hit = this.zones.get(parent);
    if (hit && hit.until > Date.now() && isSubdomain(cname, hit.zone) && !namesEqual(cname, hit.zone)) return hit.zone;
    const server = await this.address();
    const q = buildQuery(randomId(), name, TYPE.SOA);
    const { response } = await exchange(q, { server, tryTimeoutsMs: this.options.queryTimeoutsMs, deadline, signal });
    const zone = zoneFromSoaResponse(response, name);
    if (zone === undefined) {
      throw new DnsError(
        `DNS server ${this.serverText} is not authoritative for a zone containing ${name} (SOA query: ${rcodeName(response.rcode)})`,
        'dns.nozone',
      );
    }
    if (!namesEqual(zone, cname)) this.zones.set(parent, { zone, until: Date.now() + (this.options.zoneCacheMs ?? 60_000) });
    return zone;
  }

  forgetZones(): void {
    this.zones.clear();
  }

  /** Send one UPDATE. Resolves on NOERROR; throws DnsUpdateRefused with the server's rcode otherwise. */
  async update(
    zone: string,
    prerequisites: readonly Prerequisite[],
    updates: readonly UpdateOp[],
    deadline: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const server = await this.address();
    const msg = buildUpdate(randomId(), zone, prerequisites, updates);
    const tries: number[] = [];
    const total = Math.max(0, deadline - Date.now());
    for (let t = 0; t < total && tries.length < 100; t += this.options.updateTryMs) tries.push(this.options.updateTryMs);
    if (tries.length === 0) tries.push(1);
    const { response } = await exchange(msg, { server, tryTimeoutsMs: tries, deadline, signal, tsig: this.options.key });
    if (response.rcode !== RCODE.NOERROR) {
      const what = updates.map(describeUpdate).join(', ');
      throw new DnsUpdateRefused(
        `DNS server ${this.serverText} answered ${rcodeName(response.rcode)} to the update of zone ${zone} (${what})${rcodeHint(response.rcode, !!this.options.key)}`,
        response.rcode,
      );
    }
  }
}

function describeUpdate(u: UpdateOp): string {
  switch (u.kind) {
    case 'add':
      return `add ${u.name} ${typeName(u.type)}`;
    case 'deleteRRset':
      return `delete ${u.name} ${typeName(u.type)}`;
    case 'deleteName':
      return `delete ${u.name}`;
    case 'deleteRecord':
      return `delete one ${u.name} ${typeName(u.type)}`;
  }
}

function rcodeHint(rcode: number, signed: boolean): string {
  if (rcode === RCODE.REFUSED) {
    return signed
      ? ': the server does not allow this key to update the zone (allow-update / update-policy)'
      : ': the server does not allow unsigned updates; set dns_key to a TSIG key file';
  }
  if (rcode === RCODE.NOTAUTH) return ': the server is not authoritative for the zone';
  if (rcode === RCODE.NOTZONE) return ': the name is not inside the zone';
  return '';
}

export function zoneFromSoaResponse(response: Message, name: string): string | undefined {
  for (const section of [response.answers, response.authorities]) {
    for (const rr of section) {
      if (rr.type === TYPE.SOA && isSubdomain(name, rr.name)) return rr.name;
    }
  }
  return undefined;
}
