// The rules that decide whether a relayed request may share its upstream answer with others, and
// for how long a shared answer may be reused (Coalescer, coalesce.ts). Kept apart from any
// module: the templates and registration relays both apply them.
//
// Two requests may share one answer only when the upstream could not tell them apart: same
// method, path, query (order aside) and the same values of every header that reaches it, except
// a few that cannot change what it renders. Credentials are never shared, whatever the rest says.

/** Request headers that carry credentials: a request with any of them never shares an answer. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * Forwarded headers that do not change what Foreman renders, left out of the sharing key so that
 * hosts whose firmware or tracing differ still share (the first request's values travel upstream).
 */
const KEY_IGNORED_HEADERS = new Set([
  'user-agent',
  'x-request-id',
  'x-correlation-id',
  'traceparent',
  'tracestate',
  // the client's own caching wishes are applied by the relay (bypassCache), not by the upstream
  'cache-control',
  'pragma',
]);

/** The credential-carrying header of a request, if any (a reason not to share). */
export function credentialHeader(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && CREDENTIAL_HEADERS.has(name.toLowerCase())) return name.toLowerCase();
  }
  return undefined;
}

/** True when the client asked not to be answered from a cache (`Cache-Control: no-cache`/`no-store`/`max-age=0`, `Pragma: no-cache`). */
export function clientWantsFresh(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const join = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join(',') : (v ?? '')).toLowerCase();
  const cc = parseCacheControl(join(headers['cache-control']));
  if (cc.has('no-cache') || cc.has('no-store') || cc.get('max-age') === '0') return true;
  return join(headers['pragma']).split(',').some((t) => t.trim() === 'no-cache');
}

/** `Cache-Control` directives, lower-cased names, unquoted values (`''` for a bare directive). */
export function parseCacheControl(value: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  // directives are comma separated; a quoted value may hold commas (private="a, b")
  const re = /\s*([^=,\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    if (m[0] === '') break;
    const name = m[1].toLowerCase();
    let v = (m[2] ?? '').trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    if (!out.has(name)) out.set(name, v);
  }
  return out;
}

function seconds(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/**
 * How long (ms) a shared cache may reuse an answer with this `Cache-Control`, at most `maxMs`.
 * `no-store`, `private` and `no-cache` forbid reuse without asking again; `s-maxage` (meant for
 * shared caches) wins over `max-age`; no directive about freshness leaves our own bound.
 */
export function cacheTtlMs(cacheControl: string | string[] | undefined, maxMs: number): number {
  if (!(maxMs > 0)) return 0;
  const cc = parseCacheControl(cacheControl);
  if (cc.has('no-store') || cc.has('private') || cc.has('no-cache')) return 0;
  const limit = seconds(cc.get('s-maxage')) ?? seconds(cc.get('max-age'));
  // an unreadable value (max-age=soon) is treated as stale, as RFC 9111 §4.2.1 asks
  if ((cc.has('s-maxage') || cc.has('max-age')) && limit === undefined) return 0;
  return limit === undefined ? maxMs : Math.min(maxMs, limit * 1000);
}

/** `a=1&b=2` with its pairs sorted, so that parameter order does not split a key. */
export function normalisedQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .filter((p) => p !== '')
    .sort()
    .join('&');
}

export interface KeyParts {
  readonly method: string;
  /** Upstream path, as sent. */
  readonly path: string;
  /** Upstream query string, as sent (normalised here). */
  readonly query: string;
  /** The headers that go upstream (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The host's address when the upstream chooses its answer by it; undefined when it does not. */
  readonly address?: string;
}

/** The sharing key: every part the upstream's answer can depend on. */
export function sharingKey(parts: KeyParts): string {
  const headers = Object.entries(parts.headers)
    .filter(([name]) => !KEY_IGNORED_HEADERS.has(name) && name !== 'x-forwarded-for')
    .map(([name, value]) => `${name}:${value}`)
    .sort();
  return JSON.stringify([parts.method, parts.path, normalisedQuery(parts.query), parts.address ?? null, headers]);
}
