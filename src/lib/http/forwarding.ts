// Helpers for relaying a host's request to Foreman the way the reference does (spec templates.md
// §1.2, registration.md §1): Ruby's CGI form-encoding of paths and query strings, which incoming
// headers travel on, and the Ruby-flavoured texts that end up in error bodies.

import { isIP } from 'node:net';
import { AddressList } from '../net/address-list.ts';

/** Ruby `CGI.escape`: everything but `A-Za-z0-9_.-~` percent-encoded (UTF-8), space as `+`. */
export function cgiEscape(value: string): string {
  return encodeURIComponent(value)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * True for `.` and `..`: URL resolution (Ruby's and WHATWG's alike, the latter even when they are
 * percent-encoded) would remove them and let a relayed path climb out of `unattended/`.
 */
export function isDotSegment(segment: string): boolean {
  return segment === '.' || segment === '..';
}

export type QueryValue = string | null | QueryValue[] | { [key: string]: QueryValue };

/** Raised when a parameter cannot go into a flat query string (Rack list or map syntax). */
export class NonScalarParamError extends Error {
  readonly param: string;
  constructor(param: string, value: QueryValue) {
    super(`parameter '${param}' must be a single value, not a ${Array.isArray(value) ? 'list' : 'map'}`);
    this.name = 'NonScalarParamError';
    this.param = param;
  }
}

/**
 * `k=v&…` from ordered pairs, CGI-escaped; null values are dropped (Ruby `compact`), lists and
 * maps are refused because the reference cannot encode them either.
 */
export function buildQuery(pairs: Iterable<readonly [string, QueryValue]>): string {
  const parts: string[] = [];
  for (const [key, value] of pairs) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string') throw new NonScalarParamError(key, value);
    parts.push(`${cgiEscape(key)}=${cgiEscape(value)}`);
  }
  return parts.join('&');
}

// Headers that describe one connection, not the request, or that the client library computes
// itself; forwarding them would corrupt the upstream request (undici refuses several of them).
/**
 * Headers that describe one connection, never the message (RFC 9110 §7.6.1, plus HTTP/2's
 * settings): no relay copies them. Each relay adds what it also sets or must not pass on.
 */
export const HOP_BY_HOP_HEADERS: readonly string[] = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
];

/** The names a message's `Connection` header lists: hop-by-hop for that message too (lower case). */
export function connectionTokens(connection: string | string[] | undefined): Set<string> {
  const out = new Set<string>();
  for (const v of Array.isArray(connection) ? connection : connection ? [connection] : []) {
    for (const token of v.split(',')) out.add(token.trim().toLowerCase());
  }
  return out;
}

const NOT_FORWARDED = new Set([
  ...HOP_BY_HOP_HEADERS,
  'host',
  'version',
  'content-length',
  'content-type',
  'expect',
  // we ask Foreman for an identity body, so what reaches the host is exactly what Foreman rendered
  'accept-encoding',
  // httpoxy: a `Proxy` header must never look like proxy configuration downstream
  'proxy',
]);
export interface ForwardOptions {
  /** Extra lower-case names not to forward (e.g. x-forwarded-for when the proxy sets its own). */
  drop?: readonly string[];
}

/**
 * The incoming headers that travel to Foreman, with their original (hyphenated) names. The
 * reference sends them with underscores (`User_agent`) because it rebuilds them from CGI
 * variables; Rack maps both spellings to the same variable, and proxies in front of Foreman may
 * drop underscore names, so hyphens are the safer equivalent.
 */
export function forwardedHeaders(
  incoming: Record<string, string | string[] | undefined>,
  options: ForwardOptions = {},
): Record<string, string> {
  const drop = new Set(options.drop ?? []);
  const listed = connectionTokens(incoming['connection']);
  const out: Record<string, string> = {};
  for (const [rawName, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (name.startsWith(':') || NOT_FORWARDED.has(name) || drop.has(name) || listed.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The Accept value the reference ends up sending: its client default, Foreman's API v2, then the host's own. */
export function upstreamAccept(clientAccept: string | string[] | undefined): string {
  const own = Array.isArray(clientAccept) ? clientAccept.join(', ') : clientAccept;
  return own === undefined || own === '' ? '*/*, application/json,version=2' : `*/*, application/json,version=2, ${own}`;
}

/** Peer address as the reference shows it: IPv4 clients on a dual-stack socket without `::ffff:`. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return '';
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
}

/**
 * Front ends (the router, a load balancer) whose X-Forwarded-For is believed (settings.yml
 * `trusted_proxies`). Behind them, the host's own address is the right-most entry of the header
 * that is not itself a trusted front end; from anyone else the header is ignored, so a host cannot
 * claim another host's address (Foreman picks a template's host by it).
 */
export class TrustedProxies {
  private readonly listed: AddressList;

  /** `entries`: addresses or subnets (`192.0.2.10`, `198.51.100.0/24`), already validated. */
  constructor(entries: readonly string[]) {
    this.listed = new AddressList(entries);
  }

  /** The requesting host's address, given the TCP peer and the X-Forwarded-For header(s). */
  clientOf(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const direct = clientAddress(peer);
    if (this.listed.empty || forwardedFor === undefined || !this.listed.has(direct)) return direct;
    const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = clientAddress(hops[i].trim().replace(/^\[(.*)\]$/, '$1'));
      // Junk in the chain: believe nothing further left than the last front end that wrote it.
      if (isIP(hop) === 0) return direct;
      if (!this.listed.has(hop)) return hop;
    }
    return direct;
  }
}

function inspectString(s: string): string {
  // the escapes Ruby's String#inspect uses for the characters that matter in logs
  const body = s.replace(/[\\"\n\r\t]/g, (c) => {
    switch (c) {
      case '\\': return '\\\\';
      case '"': return '\\"';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return c;
    }
  });
  return `"${body.replace(/#(?=[{$@])/g, '\\#')}"`;
}

/** Ruby `inspect` of a params hash, for error texts: `{"token"=>"abc", "kind"=>"provision"}`. */
export function rubyInspect(value: QueryValue | undefined): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return inspectString(value);
  if (Array.isArray(value)) return `[${value.map(rubyInspect).join(', ')}]`;
  return `{${Object.entries(value).map(([k, v]) => `${inspectString(k)}=>${rubyInspect(v)}`).join(', ')}}`;
}

const NET_HTTP_CLASSES: Record<number, string> = {
  200: 'HTTPOK', 201: 'HTTPCreated', 202: 'HTTPAccepted', 203: 'HTTPNonAuthoritativeInformation',
  204: 'HTTPNoContent', 205: 'HTTPResetContent', 206: 'HTTPPartialContent',
  300: 'HTTPMultipleChoices', 301: 'HTTPMovedPermanently', 302: 'HTTPFound', 303: 'HTTPSeeOther',
  304: 'HTTPNotModified', 307: 'HTTPTemporaryRedirect', 308: 'HTTPPermanentRedirect',
  400: 'HTTPBadRequest', 401: 'HTTPUnauthorized', 402: 'HTTPPaymentRequired', 403: 'HTTPForbidden',
  404: 'HTTPNotFound', 405: 'HTTPMethodNotAllowed', 406: 'HTTPNotAcceptable', 408: 'HTTPRequestTimeout',
  409: 'HTTPConflict', 410: 'HTTPGone', 412: 'HTTPPreconditionFailed', 413: 'HTTPPayloadTooLarge',
  415: 'HTTPUnsupportedMediaType', 422: 'HTTPUnprocessableEntity', 429: 'HTTPTooManyRequests',
  500: 'HTTPInternalServerError', 501: 'HTTPNotImplemented', 502: 'HTTPBadGateway',
  503: 'HTTPServiceUnavailable', 504: 'HTTPGatewayTimeout',
};

/** The Ruby Net::HTTP response class name of a status, as it appears in the reference's errors. */
export function netHttpClassName(status: number): string {
  const known = NET_HTTP_CLASSES[status];
  if (known) return `Net::${known}`;
  if (status >= 500) return 'Net::HTTPServerError';
  if (status >= 400) return 'Net::HTTPClientError';
  if (status >= 300) return 'Net::HTTPRedirection';
  if (status >= 200) return 'Net::HTTPSuccess';
  return 'Net::HTTPInformation';
}
