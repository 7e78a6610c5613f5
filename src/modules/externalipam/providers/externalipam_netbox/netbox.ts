// The externalipam_netbox provider's logic: NetBox's REST API under <url>/api/, with the
// `Authorization: Token <token>` header. Groups are VRFs. Lists follow NetBox's pagination
// (`next`), which the plugin did not (it saw the first 50 VRFs or prefixes only); `next` is
// followed on the configured origin only, so the token never goes to another host. Addresses
// are looked up in the prefix's own VRF (none = the global table) and inside the prefix, so a
// duplicate address in another VRF is never reported, reserved against, or deleted.

import type { Logger } from '../../../../core/logging-types.ts';
import type { HttpMethod } from '../../../../lib/http/client.ts';
import { IpamHttp, record, text, type JsonAnswer } from '../../backend-http.ts';
import { IpamError } from '../../errors.ts';
import { formatAddress, type Address, type Network } from '../../net.ts';
import type { CallOptions, ExternalIpamProvider, FirstFree, FoundSubnet, IpamGroup, IpamSubnet } from '../../provider.ts';

export interface NetBoxOptions {
  url: string;
  token: string;
  log: Logger;
  connections: number;
}

const DESCRIPTION = 'Address auto added by Foreman';
/** Pages followed at most for one list (NetBox's default page is 50 rows). */
const MAX_PAGES = 200;

/** The VRF a prefix lives in: its id, or null for the global table. */
interface PrefixScope {
  vrfId: number | string | null;
}

function messageOf(a: JsonAnswer): string {
  const b = record(a.body);
  if (typeof b.detail === 'string') return b.detail;
  if (a.body === undefined) return `HTTP ${a.status}`;
  // Field errors: {"address": ["Duplicate IP address found in global table: …"]}
  return Object.entries(b)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.map(text).join(' ') : text(v)}`)
    .join('; ')
    .slice(0, 500);
}

function subnetOf(raw: unknown): { subnet: IpamSubnet; scope: PrefixScope } {
  const r = record(raw);
  const [subnet, mask] = text(r.prefix).split('/');
  const vrf = record(r.vrf);
  const vrfId = typeof vrf.id === 'number' || typeof vrf.id === 'string' ? vrf.id : null;
  return { subnet: { id: r.id as number, subnet, mask: mask ?? '', description: text(r.description) }, scope: { vrfId } };
}

const query = (q: Record<string, string | number | null>): string =>
  new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, v === null ? 'null' : String(v)])).toString();

export class NetBoxProvider implements ExternalIpamProvider {
  private readonly http: IpamHttp;
  private readonly headers: Record<string, string>;
  private readonly origin: string;

  constructor(opts: NetBoxOptions) {
    const base = `${opts.url.replace(/\/+$/, '')}/api/`;
    this.origin = new URL(base).origin;
    this.http = new IpamHttp('NetBox', base, opts.log, opts.connections);
    this.headers = { authorization: `Token ${opts.token}` };
  }

  close(): Promise<void> {
    return this.http.close();
  }

  private async api(method: HttpMethod, path: string, call: CallOptions, body?: unknown): Promise<JsonAnswer> {
    const a = await this.http.call(method, path, this.headers, call, body);
    if (a.status === 401 || a.status === 403) throw IpamError.backend(`NetBox refused ${method} ${path.split('?')[0]}: ${messageOf(a)}`);
    return a;
  }

  /** Every row of a list, following `next` on our own origin. */
  private async list(path: string, call: CallOptions): Promise<unknown[]> {
    const rows: unknown[] = [];
    let next: string | undefined = path;
    for (let page = 0; next !== undefined && page < MAX_PAGES; page++) {
      const a = await this.api('GET', next, call);
      if (a.status !== 200) throw IpamError.backend(`NetBox: GET ${next.split('?')[0]}: ${messageOf(a)}`);
      const b = record(a.body);
      if (!Array.isArray(b.results)) throw IpamError.backend(`NetBox: GET ${next.split('?')[0]} answered without a results list`);
      rows.push(...b.results);
      next = undefined;
      if (typeof b.next === 'string' && b.next !== '') {
        const url = new URL(b.next, this.origin);
        next = `${this.origin}${url.pathname}${url.search}`;
      }
    }
    return rows;
  }

  private async vrf(name: string, call: CallOptions): Promise<IpamGroup | undefined> {
    const [row] = await this.list(`ipam/vrfs/?${query({ name })}`, call);
    if (row === undefined) return undefined;
    const r = record(row);
    return { id: r.id as number, name: text(r.name), description: text(r.description) };
  }

  private async vrfIdOf(group: string, call: CallOptions): Promise<number | string> {
    const vrf = await this.vrf(group, call);
    if (!vrf?.id) throw IpamError.unknown_group('Group not found in External IPAM');
    return vrf.id;
  }

  async findSubnet(n: Network, group: string | undefined, call: CallOptions): Promise<FoundSubnet | undefined> {
    const q: Record<string, string | number> = { status: 'active', prefix: n.cidr };
    if (group !== undefined) q.vrf_id = await this.vrfIdOf(group, call);
    const [row] = await this.list(`ipam/prefixes/?${query(q)}`, call);
    return row === undefined ? undefined : subnetOf(row);
  }

  async firstFree(found: FoundSubnet, _n: Network, call: CallOptions): Promise<FirstFree> {
    const path = `ipam/prefixes/${encodeURIComponent(String(found.subnet.id))}/available-ips/?limit=1`;
    const a = await this.api('GET', path, call);
    if (a.status !== 200 || !Array.isArray(a.body)) throw IpamError.backend(`NetBox: GET ${path.split('?')[0]}: ${messageOf(a)}`);
    const [first] = a.body as unknown[];
    if (first === undefined) return { none: true };
    return { ip: text(record(first).address).split('/')[0] };
  }

  private addressQuery(found: FoundSubnet, n: Network, ip: Address): string {
    const scope = found.scope as PrefixScope;
    return query({ address: formatAddress(ip), parent: n.cidr, vrf_id: scope.vrfId });
  }

  async ipExists(found: FoundSubnet, n: Network, ip: Address, call: CallOptions): Promise<boolean> {
    return (await this.list(`ipam/ip-addresses/?${this.addressQuery(found, n, ip)}`, call)).length > 0;
  }

  async addIp(found: FoundSubnet, n: Network, ip: Address, call: CallOptions): Promise<void> {
    const scope = found.scope as PrefixScope;
    const address = `${formatAddress(ip)}/${n.prefix}`;
    const a = await this.api('POST', 'ipam/ip-addresses/', call, {
      address,
      status: 'active',
      description: DESCRIPTION,
      ...(scope.vrfId === null ? {} : { vrf: scope.vrfId }),
    });
    if (a.status === 201) return;
    throw IpamError.backend(`Unable to add ${address} in External IPAM server: ${messageOf(a)}`);
  }

  async deleteIp(found: FoundSubnet, n: Network, ip: Address, call: CallOptions): Promise<void> {
    const [row] = await this.list(`ipam/ip-addresses/?${this.addressQuery(found, n, ip)}`, call);
    if (row === undefined) throw IpamError.not_found('IP address not found');
    const id = record(row).id;
    const a = await this.api('DELETE', `ipam/ip-addresses/${encodeURIComponent(text(id))}/`, call);
    if (a.status === 204) return;
    throw IpamError.backend(`Unable to delete ${formatAddress(ip)} in External IPAM server: ${messageOf(a)}`);
  }

  async groups(call: CallOptions): Promise<IpamGroup[]> {
    return (await this.list('ipam/vrfs/', call)).map((row) => {
      const r = record(row);
      return { name: text(r.name), description: text(r.description) };
    });
  }

  group(name: string, call: CallOptions): Promise<IpamGroup | undefined> {
    return this.vrf(name, call);
  }

  async groupSubnets(name: string, call: CallOptions): Promise<IpamSubnet[] | undefined> {
    const vrf = await this.vrf(name, call);
    if (!vrf?.id) return undefined;
    return (await this.list(`ipam/prefixes/?${query({ status: 'active', vrf_id: vrf.id })}`, call)).map((row) => subnetOf(row).subnet);
  }
}
