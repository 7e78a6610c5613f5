// A client of Infoblox's WAPI (the grid master's REST API), shared by dns_infoblox and
// dhcp_infoblox: HTTPS with basic authentication through the proxy's pooled HTTP client, one
// deadline per operation, a bulkhead so a slow grid master cannot take every proxy request with
// it, list queries followed across pages, and WAPI's error bodies turned into errors that say
// what the grid refused and why. The password only ever goes into the Authorization header.

import { Bulkhead } from '../../core/bulkhead.ts';
import { createHttpClient, HttpClientError, type HttpClient, type HttpMethod } from '../http/client.ts';

export interface WapiOptions {
  /** Grid master: `host`, `host:port` or `https://host[:port]` (the plugins' setting holds a host). */
  server: string;
  username: string;
  password: string;
  /** `2.0` in the plugins; the path segment `/wapi/v<version>/`. */
  wapiVersion: string;
  /** Time one operation (all its WAPI calls) may take. */
  timeoutMs: number;
  /** Verify the grid's certificate (default true). */
  verify?: boolean;
  /** PEM CA bundle that signed the grid's certificate (default: the system CAs). */
  ca?: string;
  /** WAPI calls at once; further calls wait in the bulkhead's queue. */
  concurrency?: number;
  /** Prefix of every message (`dns_infoblox`, `dhcp_infoblox`). */
  origin: string;
  /** Objects per page of a list query (WAPI's own limit is 1000 without paging). */
  pageSize?: number;
  signal?: AbortSignal;
}

/** Why a WAPI call failed, for callers that react to some of them (conflicts, missing objects). */
export type WapiFailure = 'unreachable' | 'timeout' | 'auth' | 'conflict' | 'not_found' | 'refused' | 'bad_answer' | 'busy';

export class WapiError extends Error {
  readonly failure: WapiFailure;
  /** HTTP status of the answer, when there was one. */
  readonly status: number | undefined;
  /** WAPI's `code` (`Client.Ibap.Data.Conflict` …). */
  readonly code: string | undefined;
  constructor(failure: WapiFailure, message: string, status?: number, code?: string) {
    super(message);
    this.name = 'WapiError';
    this.failure = failure;
    this.status = status;
    this.code = code;
  }
}

/** One WAPI object as returned: `_ref` plus the fields asked for. */
export type WapiObject = { _ref: string } & Record<string, unknown>;

/** Search arguments: `name`, `name~` (regular expression), `ipv4addr`, …; undefined ones are left out. */
export type WapiQuery = Record<string, string | number | boolean | undefined>;

/** Ends of one operation: every call of it shares this deadline (epoch milliseconds). */
export type Deadline = number;

const DEFAULT_PAGE_SIZE = 1000;
/** More pages than this is a grid answering in circles (or a page size of one over a huge set). */
const MAX_PAGES = 10_000;

function query(params: WapiQuery): string {
  // Keys keep their `~`/`!`/`<` modifiers unescaped; encodeURIComponent leaves `~` alone.
  return Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k).replace(/%3C/gi, '<').replace(/%3E/gi, '>').replace(/%21/g, '!')}=${encodeURIComponent(String(v))}`)
    .join('&');
}

/** `_return_fields` when some are named (none: WAPI's defaults for the object type). */
function fields(names: readonly string[]): WapiQuery {
  return names.length > 0 ? { _return_fields: names.join(',') } : {};
}

/** The base URL of the WAPI: the setting may be a bare host (as in the plugins) or a URL. */
export function wapiBaseUrl(server: string, version: string): URL {
  const withScheme = /^[a-z]+:\/\//i.test(server) ? server : `https://${server}`;
  const url = new URL(withScheme);
  if (url.username !== '' || url.password !== '') throw new Error('the Infoblox server must not carry credentials; use username and password');
  url.pathname = `/wapi/v${version}/`;
  url.search = '';
  return url;
}

export class WapiClient {
  readonly base: URL;
  private readonly opts: WapiOptions;
  private readonly http: HttpClient;
  private readonly bulkhead: Bulkhead;
  private readonly authorization: string;

  constructor(opts: WapiOptions) {
    this.opts = opts;
    this.base = wapiBaseUrl(opts.server, opts.wapiVersion);
    this.authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    const concurrency = opts.concurrency ?? 8;
    this.http = createHttpClient({
      baseUrl: this.base.href,
      verify: opts.verify ?? true,
      ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
      connections: concurrency,
      keepAliveTimeoutMs: 10_000,
      timeoutMs: opts.timeoutMs,
    });
    this.bulkhead = new Bulkhead({ name: opts.origin, limit: concurrency, queue: 256, queueTimeoutMs: opts.timeoutMs });
  }

  /** A deadline for an operation starting now. */
  deadline(): Deadline {
    return Date.now() + this.opts.timeoutMs;
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  /**
   * Every object of `objtype` matching `params`, following WAPI's pages (`_paging=1`,
   * `_return_as_object=1`, then `_page_id` until no `next_page_id` comes back).
   */
  async list(objtype: string, params: WapiQuery, returnFields: readonly string[], deadline: Deadline): Promise<WapiObject[]> {
    const pageSize = this.opts.pageSize ?? DEFAULT_PAGE_SIZE;
    const first = { ...params, ...fields(returnFields), _paging: 1, _return_as_object: 1, _max_results: pageSize };
    const out: WapiObject[] = [];
    let pageId: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const path = pageId === undefined ? `${objtype}?${query(first)}` : `${objtype}?${query({ _page_id: pageId })}`;
      const body = await this.call('GET', path, undefined, deadline);
      if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray((body as { result?: unknown }).result)) {
        throw this.badAnswer('GET', objtype, 'expected an object with a result list (paged answer)');
      }
      const { result, next_page_id: next } = body as { result: unknown[]; next_page_id?: unknown };
      for (const o of result) out.push(this.object(o, 'GET', objtype));
      if (next === undefined || next === null || next === '') return out;
      if (typeof next !== 'string') throw this.badAnswer('GET', objtype, 'next_page_id is not a string');
      pageId = next;
    }
    throw this.badAnswer('GET', objtype, `more than ${MAX_PAGES} pages`);
  }

  /** At most `max` objects, without paging (lookups that need one or two). */
  async find(objtype: string, params: WapiQuery, returnFields: readonly string[], deadline: Deadline, max = 1): Promise<WapiObject[]> {
    const body = await this.call('GET', `${objtype}?${query({ ...params, ...fields(returnFields), _max_results: max })}`, undefined, deadline);
    if (!Array.isArray(body)) throw this.badAnswer('GET', objtype, 'expected a list');
    return body.map((o) => this.object(o, 'GET', objtype));
  }

  /** Create an object; returns its reference. */
  async create(objtype: string, fields: Record<string, unknown>, deadline: Deadline): Promise<string> {
    const body = await this.call('POST', objtype, fields, deadline);
    if (typeof body !== 'string' || body === '') throw this.badAnswer('POST', objtype, 'expected the new object\'s reference');
    return body;
  }

  async delete(ref: string, deadline: Deadline): Promise<void> {
    const body = await this.call('DELETE', this.refPath(ref), undefined, deadline);
    if (typeof body !== 'string') throw this.badAnswer('DELETE', ref.split('/')[0] ?? ref, 'expected the deleted object\'s reference');
  }

  /** Call a WAPI function (`next_available_ip`, `restartservices`) of an object. */
  async func(ref: string, name: string, args: Record<string, unknown>, deadline: Deadline): Promise<unknown> {
    return this.call('POST', `${this.refPath(ref)}?_function=${encodeURIComponent(name)}`, args, deadline);
  }

  private refPath(ref: string): string {
    // A reference is `objtype/<base64>:<readable part>`; each segment is escaped (colons and slashes kept).
    if (!/^[a-z0-9:_-]+\/[^/]+/i.test(ref)) throw new WapiError('bad_answer', `${this.opts.origin}: not a WAPI object reference: ${ref.slice(0, 80)}`);
    const [type, ...rest] = ref.split('/');
    return `${type}/${rest.map((s) => encodeURIComponent(s).replace(/%3A/gi, ':')).join('/')}`;
  }

  private object(o: unknown, method: string, objtype: string): WapiObject {
    if (typeof o !== 'object' || o === null || typeof (o as { _ref?: unknown })._ref !== 'string') {
      throw this.badAnswer(method, objtype, 'an entry has no _ref');
    }
    return o as WapiObject;
  }

  private badAnswer(method: string, objtype: string, why: string): WapiError {
    return new WapiError('bad_answer', `${this.opts.origin}: unexpected answer from the Infoblox WAPI at ${this.base.host} to ${method} ${objtype}: ${why}`);
  }

  private async call(method: HttpMethod, path: string, json: unknown, deadline: Deadline): Promise<unknown> {
    const objtype = path.split(/[/?]/)[0] ?? path;
    const origin = this.opts.origin;
    const where = `the Infoblox WAPI at ${this.base.host}`;
    return this.bulkhead.run(async () => {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new WapiError('timeout', `${origin}: no answer from ${where} within ${Math.round(this.opts.timeoutMs / 1000)} s`);
      let status: number;
      let text: string;
      try {
        const res = await this.http.request({
          method,
          // Origin-relative: a relative `record:a` would parse as a URL of scheme `record:`.
          path: `${this.base.pathname}${path}`,
          headers: {
            authorization: this.authorization,
            accept: 'application/json',
            ...(json === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: json === undefined ? null : JSON.stringify(json),
          timeoutMs: remaining,
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        });
        status = res.status;
        text = await res.text(16 * 1024 * 1024);
      } catch (err) {
        if (!(err instanceof HttpClientError)) throw err;
        if (err.kind === 'timeout' || err.kind === 'aborted') {
          throw new WapiError('timeout', `${origin}: no answer from ${where} within ${Math.round(this.opts.timeoutMs / 1000)} s (${method} ${objtype})`);
        }
        if (err.kind === 'tls') throw new WapiError('unreachable', `${origin}: TLS failure with ${where}: ${err.message} (is its CA in ssl_ca or the system store?)`);
        throw new WapiError('unreachable', `${origin}: cannot reach ${where}: ${err.message}`);
      }
      if (status === 401 || status === 403) {
        throw new WapiError('auth', `${origin}: ${where} refused the credentials of user '${this.opts.username}' (HTTP ${status}); check username and password`, status);
      }
      let body: unknown;
      const trimmed = text.trim();
      if (trimmed !== '') {
        try {
          body = JSON.parse(trimmed);
        } catch {
          if (status >= 200 && status < 300) throw this.badAnswer(method, objtype, `not JSON (${trimmed.slice(0, 60)})`);
          throw new WapiError('refused', `${origin}: ${where} answered ${method} ${objtype} with HTTP ${status}: ${trimmed.slice(0, 200)}`, status);
        }
      }
      if (status >= 200 && status < 300) return body;
      throw this.refusal(method, objtype, status, body);
    });
  }

  /** WAPI's error body: `{ "Error": "AdmConDataError: …", "code": "Client.Ibap.Data.Conflict", "text": "…" }`. */
  private refusal(method: string, objtype: string, status: number, body: unknown): WapiError {
    const e = (typeof body === 'object' && body !== null ? body : {}) as { Error?: unknown; code?: unknown; text?: unknown };
    const code = typeof e.code === 'string' ? e.code : undefined;
    const text = typeof e.text === 'string' ? e.text : typeof e.Error === 'string' ? e.Error : JSON.stringify(body ?? '').slice(0, 200);
    const detail = typeof e.Error === 'string' ? e.Error : '';
    const failure: WapiFailure =
      code === 'Client.Ibap.Data.Conflict' || /IB\.Data\.Conflict/.test(detail)
        ? 'conflict'
        : code === 'Client.Ibap.Data.NotFound' || status === 404
          ? 'not_found'
          : status === 503 || status === 429
            ? 'busy'
            : 'refused';
    return new WapiError(failure, `${this.opts.origin}: Infoblox refused ${method} ${objtype} (HTTP ${status}${code ? `, ${code}` : ''}): ${text}`, status, code);
  }
}
