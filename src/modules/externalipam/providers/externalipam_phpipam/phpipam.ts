// The externalipam_phpipam provider's logic. phpIPAM's API lives under <url>/api/<app id>/, and the
// app id must equal the user name (the plugin's convention). A session token comes from
// `POST user/` with HTTP Basic and is sent as the `Token` header; unlike the plugin, which logs in
// before every proxy request, the token is kept and a new one fetched once when phpIPAM answers
// 401/403 (expired or revoked). Groups are phpIPAM sections. Answers use phpIPAM's envelope
// `{"code", "success", "data" | "message"}`.

import type { Logger } from '../../../../core/logging-types.ts';
import type { HttpMethod } from '../../../../lib/http/client.ts';
import { IpamHttp, record, text, type JsonAnswer } from '../../backend-http.ts';
import { IpamError } from '../../errors.ts';
import { formatAddress, parseAddress, type Address, type Network } from '../../net.ts';
import type { CallOptions, ExternalIpamProvider, FirstFree, FoundSubnet, IpamGroup, IpamSubnet } from '../../provider.ts';

export interface PhpIpamOptions {
  url: string;
  user: string;
  password: string;
  log: Logger;
  connections: number;
}

const DESCRIPTION = 'Address auto added by Foreman';

/** The message of phpIPAM's error envelope, or the HTTP status. */
function messageOf(a: JsonAnswer): string {
  const m = text(record(a.body).message);
  return m === '' ? `HTTP ${a.status}` : m;
}

function succeeded(a: JsonAnswer): boolean {
  const b = record(a.body);
  return a.status >= 200 && a.status < 300 && (b.success === true || b.success === 1 || b.success === '1');
}

function subnetOf(raw: unknown): IpamSubnet {
  const r = record(raw);
  return { id: text(r.id), subnet: text(r.subnet), mask: text(r.mask), description: text(r.description) };
}

function groupOf(raw: unknown): IpamGroup {
  const r = record(raw);
  return { id: text(r.id), name: text(r.name), description: text(r.description) };
}

/** Whether phpIPAM's subnet row is `n` (addresses compared parsed: IPv6 may be written either way). */
function isNetwork(s: IpamSubnet, n: Network): boolean {
  const a = parseAddress(s.subnet);
  return a !== undefined && a.family === n.family && a.value === n.base && Number(s.mask) === n.prefix;
}

export class PhpIpamProvider implements ExternalIpamProvider {
  private readonly http: IpamHttp;
  private readonly opts: PhpIpamOptions;
  private session: string | undefined;
  private loginInFlight: Promise<string> | undefined;

  constructor(opts: PhpIpamOptions) {
    this.opts = opts;
    const base = `${opts.url.replace(/\/+$/, '')}/api/${encodeURIComponent(opts.user)}/`;
    this.http = new IpamHttp('phpIPAM', base, opts.log, opts.connections);
  }

  close(): Promise<void> {
    return this.http.close();
  }

  /** Log in with HTTP Basic; the token phpIPAM hands out, kept as the session. */
  private async login(call: CallOptions): Promise<string> {
    const basic = Buffer.from(`${this.opts.user}:${this.opts.password}`).toString('base64');
    const a = await this.http.call('POST', 'user/', { authorization: `Basic ${basic}` }, call);
    const token = text(record(record(a.body).data).token);
    if (token === '') {
      this.opts.log.warn(`phpIPAM refused the login of ${this.opts.user}: ${messageOf(a)}`);
      throw IpamError.backend('Invalid credentials for External IPAM');
    }
    this.session = token;
    return token;
  }

  /**
   * The session token, logging in when there is none or when `stale` (a token phpIPAM just
   * refused) is still the current one. Requests that arrive during a login share it.
   */
  private token(stale: string | undefined, call: CallOptions): Promise<string> {
    if (this.loginInFlight) return this.loginInFlight;
    if (this.session !== undefined && this.session !== stale) return Promise.resolve(this.session);
    const attempt = this.login(call).finally(() => {
      this.loginInFlight = undefined;
    });
    this.loginInFlight = attempt;
    return attempt;
  }

  /** One API call with the session token, logging in again once when phpIPAM refuses it (401/403). */
  private async api(method: HttpMethod, path: string, call: CallOptions, body?: unknown): Promise<JsonAnswer> {
    const token = await this.token(undefined, call);
    const a = await this.http.call(method, path, { token }, call, body);
    if (a.status !== 401 && a.status !== 403) return a;
    const again = await this.http.call(method, path, { token: await this.token(token, call) }, call, body);
    if (again.status === 401 || again.status === 403) throw IpamError.backend(`phpIPAM refused ${method} ${path}: ${messageOf(again)}`);
    return again;
  }

  /** `data` of a successful answer; undefined for phpIPAM's "nothing found" (404 or success false). */
  private async data(path: string, call: CallOptions): Promise<unknown> {
    const a = await this.api('GET', path, call);
    if (succeeded(a)) return record(a.body).data;
    if (a.status === 404 || (a.status === 200 && record(a.body).success !== undefined)) return undefined;
    throw IpamError.backend(`phpIPAM: GET ${path}: ${messageOf(a)}`);
  }

  private async section(name: string, call: CallOptions): Promise<IpamGroup | undefined> {
    const data = await this.data(`sections/${encodeURIComponent(name)}/`, call);
    return data === undefined || data === null ? undefined : groupOf(data);
  }

  private async sectionSubnets(id: string, call: CallOptions): Promise<IpamSubnet[]> {
    const data = await this.data(`sections/${encodeURIComponent(id)}/subnets/`, call);
    return Array.isArray(data) ? data.map(subnetOf) : [];
  }

  async findSubnet(n: Network, group: string | undefined, call: CallOptions): Promise<FoundSubnet | undefined> {
    if (group === undefined) {
      const data = await this.data(`subnets/cidr/${n.cidr}`, call);
      const match = (Array.isArray(data) ? data.map(subnetOf) : []).find((s) => isNetwork(s, n));
      return match && { subnet: match };
    }
    const section = await this.section(group, call);
    if (!section) throw IpamError.unknown_group('Group not found in External IPAM');
    const match = (await this.sectionSubnets(text(section.id), call)).find((s) => isNetwork(s, n));
    return match && { subnet: match };
  }

  async firstFree(found: FoundSubnet, _n: Network, call: CallOptions): Promise<FirstFree> {
    const path = `subnets/${encodeURIComponent(text(found.subnet.id))}/first_free/`;
    const a = await this.api('GET', path, call);
    const ip = text(record(a.body).data);
    if (succeeded(a) && ip !== '') return { ip };
    if (/no free/i.test(messageOf(a))) return { none: true };
    throw IpamError.backend(`phpIPAM: ${messageOf(a)}`);
  }

  async ipExists(found: FoundSubnet, _n: Network, ip: Address, call: CallOptions): Promise<boolean> {
    const data = await this.data(`subnets/${encodeURIComponent(text(found.subnet.id))}/addresses/${formatAddress(ip)}/`, call);
    return data !== undefined && data !== null && !(Array.isArray(data) && data.length === 0);
  }

  async addIp(found: FoundSubnet, _n: Network, ip: Address, call: CallOptions): Promise<void> {
    const a = await this.api('POST', 'addresses/', call, { subnetId: found.subnet.id, ip: formatAddress(ip), description: DESCRIPTION });
    if (Number(record(a.body).code) === 201 || a.status === 201) return;
    throw IpamError.backend(`Unable to add IP to External IPAM: ${messageOf(a)}`);
  }

  async deleteIp(found: FoundSubnet, _n: Network, ip: Address, call: CallOptions): Promise<void> {
    const a = await this.api('DELETE', `addresses/${formatAddress(ip)}/${encodeURIComponent(text(found.subnet.id))}/`, call);
    if (succeeded(a)) return;
    if (a.status === 404) throw IpamError.not_found('IP address not found');
    throw IpamError.backend(`Unable to delete IP from External IPAM: ${messageOf(a)}`);
  }

  async groups(call: CallOptions): Promise<IpamGroup[]> {
    const data = await this.data('sections/', call);
    return Array.isArray(data) ? data.map(groupOf) : [];
  }

  group(name: string, call: CallOptions): Promise<IpamGroup | undefined> {
    return this.section(name, call);
  }

  async groupSubnets(name: string, call: CallOptions): Promise<IpamSubnet[] | undefined> {
    const section = await this.section(name, call);
    return section && this.sectionSubnets(text(section.id), call);
  }
}
