// The dns_powerdns provider's logic: the PowerDNS Authoritative HTTP API (v1), through the proxy's
// pooled HTTP client. Existing records are read through the API too, so the proxy needs no DNS
// port of the server, only the API URL and key.

import { ProxyError } from '../../../../core/errors.ts';
import type { Logger } from '../../../../core/logging-types.ts';
import { createHttpClient, HttpClientError, type HttpClient, type HttpMethod } from '../../../../lib/http/client.ts';
import { classify, conflictError, ownerAndData } from '../../conflicts.ts';
import { DnsError } from '../../errors.ts';
import type { DnsProvider, DnsRecordType } from '../../provider.ts';

export interface PowerDnsOptions {
  /** e.g. http://127.0.0.1:8081/api/v1/servers/localhost (no trailing slash). */
  url: string;
  apiKey: string;
  ttl: number;
  timeoutMs: number;
  log: Logger;
  signal?: AbortSignal;
  /** How long the zone list is remembered. */
  zoneCacheMs?: number;
}

interface Zone {
  id: string;
  name: string;
}

interface RRset {
  name: string;
  type: string;
  records?: { content: string; disabled?: boolean }[];
}

const abs = (name: string): string => (name.endsWith('.') ? name : `${name}.`);
const canon = (name: string): string => abs(name).toLowerCase();

/** PowerDNS wants names in record content absolute (`host.example.test.`). */
function contentFor(type: DnsRecordType, data: string): string {
  if (type === 'CNAME' || type === 'PTR') return abs(data);
  if (type === 'SRV') {
    const [p, w, port, target] = data.split(' ');
    return `${p} ${w} ${port} ${abs(target)}`;
  }
  return data;
}

export class PowerDnsError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'PowerDnsError';
    this.status = status;
  }
}

export class DnsPowerDnsProvider implements DnsProvider {
  private readonly opts: PowerDnsOptions;
  private readonly http: HttpClient;
  private zones: { list: Zone[]; until: number } | undefined;

  constructor(opts: PowerDnsOptions) {
    this.opts = { ...opts, url: opts.url.replace(/\/+$/, '') };
    this.http = createHttpClient({
      baseUrl: `${this.opts.url}/`,
      verify: true,
      connections: 16,
      keepAliveTimeoutMs: 10_000,
      timeoutMs: opts.timeoutMs,
    });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  async create(type: DnsRecordType, fqdn: string, value: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const { owner, data } = ownerAndData(type, fqdn, value);
    await this.described(`create ${owner} ${type} ${data}`, async () => {
      const zone = await this.zoneFor(owner, deadline);
      if (!zone) throw DnsError.no_zone(`dns_powerdns: no zone in PowerDNS contains ${owner}`);
      const current = await this.records(zone, owner, type, deadline);
      const content = contentFor(type, data);
      let records: string[];
      if (type === 'SRV') {
        if (current.some((c) => c.toLowerCase() === content.toLowerCase())) return;
        records = [...current, content];
      } else {
        const seen = classify(type, current, data);
        if (seen === 'same') return;
        if (seen === 'different') throw conflictError(type, fqdn, value);
        records = [content];
      }
      try {
        await this.patch(zone, { name: abs(owner), type, ttl: this.opts.ttl, changetype: 'REPLACE', records: records.map((c) => ({ content: c, disabled: false })) }, deadline);
      } catch (err) {
        // e.g. a CNAME where other data exists, or the reverse: PowerDNS refuses with 422
        if (err instanceof PowerDnsError && err.status === 422 && /conflicts with pre-existing/i.test(err.message)) {
          throw conflictError(type, fqdn, value);
        }
        throw err;
      }
    });
  }

  async remove(type: DnsRecordType, name: string): Promise<void> {
    const deadline = Date.now() + this.opts.timeoutMs;
    await this.described(`delete ${name} ${type}`, async () => {
      const zone = await this.zoneFor(name, deadline);
      if (!zone) throw DnsError.not_found(`dns_powerdns: no zone in PowerDNS contains ${name}`);
      const current = await this.records(zone, name, type, deadline);
      if (current.length === 0) throw DnsError.not_found(`Cannot find DNS entry for ${name} (${type})`);
      await this.patch(zone, { name: abs(name), type, changetype: 'DELETE', records: [] }, deadline);
    });
  }

  /** The longest zone that contains `name`, from a briefly cached zone list. */
  private async zoneFor(name: string, deadline: number): Promise<Zone | undefined> {
    const n = canon(name);
    const pick = (list: Zone[]): Zone | undefined =>
      list
        .filter((z) => n === canon(z.name) || n.endsWith(`.${canon(z.name)}`))
        .sort((a, b) => b.name.length - a.name.length)[0];
    if (this.zones && this.zones.until > Date.now()) {
      const hit = pick(this.zones.list);
      if (hit) return hit;
    }
    const body = await this.call('GET', '/zones', undefined, deadline);
    if (!Array.isArray(body)) throw new PowerDnsError('PowerDNS API GET /zones did not return a list');
    const list = body
      .filter((z): z is Zone => typeof z === 'object' && z !== null && typeof z.id === 'string' && typeof z.name === 'string')
      .map((z) => ({ id: z.id, name: z.name }));
    this.zones = { list, until: Date.now() + (this.opts.zoneCacheMs ?? 30_000) };
    return pick(list);
  }

  private async records(zone: Zone, owner: string, type: DnsRecordType, deadline: number): Promise<string[]> {
    const q = new URLSearchParams({ rrsets: 'true', rrset_name: abs(owner), rrset_type: type });
    const body = (await this.call('GET', `/zones/${encodeURIComponent(zone.id)}?${q}`, undefined, deadline)) as { rrsets?: RRset[] } | null;
    // Filter again: older servers ignore rrset_name/rrset_type and return the whole zone.
    const sets = (body?.rrsets ?? []).filter((s) => s.type === type && canon(s.name) === canon(owner));
    return sets.flatMap((s) => (s.records ?? []).filter((r) => !r.disabled).map((r) => r.content));
  }

  private async patch(zone: Zone, rrset: Record<string, unknown>, deadline: number): Promise<void> {
    await this.call('PATCH', `/zones/${encodeURIComponent(zone.id)}`, { rrsets: [rrset] }, deadline);
  }

  private async call(method: HttpMethod, path: string, json: unknown, deadline: number): Promise<unknown> {
    const remaining = deadline - Date.now();
    const shown = path.split('?')[0];
    if (remaining <= 0) throw new PowerDnsError(`PowerDNS API ${method} ${shown}: deadline exceeded`);
    let status: number;
    let text: string;
    try {
      const res = await this.http.request({
        method,
        // relative to the API URL (up to the server id)
        path: path.slice(1),
        headers: { 'x-api-key': this.opts.apiKey, accept: 'application/json', ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
        body: json === undefined ? null : JSON.stringify(json),
        timeoutMs: remaining,
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (!(err instanceof HttpClientError)) throw err;
      const why =
        err.kind === 'timeout' || err.kind === 'aborted'
          ? `no answer within ${Math.round(this.opts.timeoutMs / 1000)} s`
          : err.kind === 'connect' && err.message.includes('ECONNREFUSED')
            ? 'connection refused (is pdns_server running with api=yes and webserver=yes?)'
            : err.message;
      throw new PowerDnsError(`cannot reach the PowerDNS API at ${this.opts.url}: ${why}`);
    }
    if (status === 401) {
      throw new PowerDnsError(`PowerDNS API at ${this.opts.url} rejected the API key (powerdns_rest_api_key)`, 401);
    }
    if (status < 200 || status >= 300) {
      let detail = text.trim().slice(0, 300);
      try {
        const j = JSON.parse(text) as { error?: string };
        if (typeof j.error === 'string') detail = j.error;
      } catch {
        /* not JSON: keep the text */
      }
      if (status === 404 || status === 422) this.zones = undefined;
      throw new PowerDnsError(`PowerDNS API ${method} ${shown} answered ${status}: ${detail}`, status);
    }
    if (text.trim() === '') return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new PowerDnsError(`PowerDNS API ${method} ${shown} returned invalid JSON`);
    }
  }

  /** Run one operation; a PowerDNS failure is reported with the operation and the API's answer. */
  private async described(what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (err instanceof ProxyError || !(err instanceof PowerDnsError)) throw err;
      throw DnsError.failed(`dns_powerdns: ${what} failed: ${err.message}`);
    }
  }
}
