// The proxy's one outbound HTTP(S) layer, for every backend it talks to: Foreman, Kea, Redfish
// BMCs, FreeIPA, Puppet Server, PowerDNS, and boot-file downloads. One undici Agent per client
// keeps a bounded pool of keep-alive connections per origin, so a burst of requests reuses
// sockets instead of paying a TCP + TLS handshake each time. Every request has a deadline that
// covers the whole exchange, body included, so a backend that stalls mid-body cannot pin a proxy
// request forever; failures to get an answer at all come out as one error type with a kind.

import { Agent, buildConnector, errors as undiciErrors, interceptors, type Dispatcher } from 'undici';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

export interface HttpClientOptions {
  /**
   * Base URL; relative request paths resolve against it (a path prefix is kept). Without one,
   * every request path must be an absolute URL (clients that talk to many hosts: BMCs, media).
   */
  baseUrl?: string;
  /** PEM CA bundle used to verify the server (only meaningful with `verify`; default: system CAs). */
  ca?: string | Buffer;
  /** PEM client certificate and key, presented when both are given. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server certificate and host name (https only). */
  verify: boolean;
  /** Deadline of one request, from sending to the last body byte. */
  timeoutMs: number;
  /** Longest silence while waiting for headers or between body bytes (default: the deadline). */
  idleTimeoutMs?: number;
  /** Deadline of the TCP + TLS connect (default: the deadline, at most 10 s). */
  connectTimeoutMs?: number;
  /** Most sockets kept per origin; further requests wait inside undici for a free one. */
  connections: number;
  /** How long an idle socket is kept; below typical server keep-alive timeouts to avoid races. */
  keepAliveTimeoutMs?: number;
  /** Follow up to this many redirects (default: none, the response is returned as is). */
  maxRedirections?: number;
  /** TLS sessions kept for resumption (0 for servers that fail resumed handshakes, e.g. Kea 2.2). */
  maxCachedSessions?: number;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface HttpRequestOptions {
  method: HttpMethod;
  /** `/abs/path?q` (origin-relative) or `rel/path?q` (relative to the base URL's path). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string | null;
  /** Aborts the request, e.g. when the client that caused it went away. */
  signal?: AbortSignal;
  /** Overrides the client's deadline for this request. */
  timeoutMs?: number;
}

export interface HttpResponse {
  readonly status: number;
  /** Lower-cased names. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly url: URL;
  /** Must be consumed, piped or dumped, or the socket is not returned to the pool. */
  readonly body: Readable;
  /** The body as UTF-8, failing when it exceeds `limitBytes`. */
  text(limitBytes?: number): Promise<string>;
  /** Discard the body so the connection can be reused. */
  dump(): Promise<void>;
}

export type HttpClientErrorKind = 'connect' | 'tls' | 'timeout' | 'aborted' | 'protocol' | 'too_large';

/** A failure to get a response at all (the backend's HTTP errors are responses, not this). */
export class HttpClientError extends Error {
  readonly kind: HttpClientErrorKind;
  readonly url: string;
  constructor(kind: HttpClientErrorKind, url: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'HttpClientError';
    this.kind = kind;
    this.url = url;
  }
}

export interface HttpClient {
  readonly baseUrl: URL | undefined;
  request(options: HttpRequestOptions): Promise<HttpResponse>;
  /** Close pooled sockets; in-flight requests finish first. */
  close(): Promise<void>;
}

const DEFAULT_TEXT_LIMIT = 1024 * 1024;

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function hostPort(url: URL): string {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `${url.hostname}:${port}`;
}

/** How far a connection got before its connect timeout fired, recorded by the connector. */
const connectTimeoutPhase = new WeakMap<Error, 'tcp' | 'tls'>();

const PHASE_TEXT = { tcp: 'TCP connection not established', tls: 'TLS handshake not completed' } as const;

/**
 * undici's connector, noting for a connect timeout whether the TCP connection was up (so only the
 * TLS handshake was missing: a port that accepts but never speaks TLS) or not even that.
 */
function phaseTrackingConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return (target, callback) => {
    let tcpUp = false;
    const done: buildConnector.Callback = (...args) => {
      const [err] = args;
      if (err instanceof undiciErrors.ConnectTimeoutError) connectTimeoutPhase.set(err, tcpUp ? 'tls' : 'tcp');
      callback(...args);
    };
    // undici's connector returns the socket it opened (its types say void).
    const socket = (connect as unknown as (t: buildConnector.Options, cb: buildConnector.Callback) => Socket | undefined)(target, done);
    socket?.once?.('connect', () => {
      tcpUp = true;
    });
  };
}

/** The timeouts a failure may name: the idle one (headers, between body bytes) and the connect one. */
export interface FailureTimeouts {
  idleMs: number;
  connectMs?: number;
}

/**
 * Turn whatever undici or the socket threw into an HttpClientError with a readable message. A
 * timeout names the one that fired: connect, or idle (`timeouts`, or a number: the idle timeout).
 * The whole-exchange deadline is the caller's own timer, not undici's.
 */
export function describeFailure(err: unknown, url: URL, timeouts: number | FailureTimeouts): HttpClientError {
  if (err instanceof HttpClientError) return err;
  const { idleMs, connectMs } = typeof timeouts === 'number' ? { idleMs: timeouts, connectMs: undefined } : timeouts;
  const href = url.href;
  const cause = (err as { cause?: unknown } | null)?.cause;
  const code = errorCode(err) ?? errorCode(cause);
  const text = err instanceof Error ? err.message : String(err);
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    const phase = connectTimeoutPhase.get(err);
    const after = connectMs === undefined ? 'Timed out' : `Timed out after ${connectMs} ms`;
    const what = phase === undefined ? (url.protocol === 'https:' ? 'TCP connection or TLS handshake not completed' : PHASE_TEXT.tcp) : PHASE_TEXT[phase];
    return new HttpClientError('timeout', href, `${after} connecting to ${hostPort(url)} (${what})`, err);
  }
  if (err instanceof undiciErrors.HeadersTimeoutError) {
    return new HttpClientError('timeout', href, `Timed out after ${idleMs} ms waiting for the response headers from ${href}`, err);
  }
  if (err instanceof undiciErrors.BodyTimeoutError) {
    return new HttpClientError('timeout', href, `Timed out after ${idleMs} ms waiting for more of the response body from ${href}`, err);
  }
  if (code !== undefined && (TLS_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS'))) {
    const detail = cause instanceof Error && cause !== err ? cause.message : text;
    return new HttpClientError('tls', href, `TLS error talking to ${hostPort(url)}: ${detail}`, err);
  }
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new HttpClientError('connect', href, `Failed to open TCP connection to ${hostPort(url)} (${text})`, err);
  }
  if (err instanceof undiciErrors.RequestAbortedError || (err as Error | null)?.name === 'AbortError') {
    return new HttpClientError('aborted', href, `Request to ${href} was aborted`, err);
  }
  return new HttpClientError('protocol', href, `Error talking to ${hostPort(url)}: ${text}`, err);
}

async function readText(body: Readable, limit: number, url: URL): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    if (size > limit) {
      body.destroy();
      throw new HttpClientError('too_large', url.href, `Response from ${url.href} exceeds ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const SAFE_METHODS = new Set<HttpMethod>(['GET', 'HEAD']);

/** A connection that broke before any response arrived (not a timeout, refusal or TLS failure). */
function isStaleSocket(err: unknown): boolean {
  const code = errorCode(err) ?? errorCode((err as { cause?: unknown } | null)?.cause);
  return err instanceof undiciErrors.SocketError || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET';
}

/** Resolve a request path against the base URL the way RFC 3986 reference resolution does. */
export function resolveUrl(base: URL | undefined, path: string): URL {
  return new URL(path, base);
}

function checkScheme(url: URL, what: string): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`${what}: unsupported scheme '${url.protocol}' (use http or https)`);
  }
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const baseUrl = options.baseUrl === undefined ? undefined : new URL(options.baseUrl);
  if (baseUrl) checkScheme(baseUrl, 'baseUrl');
  if (!(options.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
  if (!(options.connections >= 1)) throw new RangeError('connections must be at least 1');
  const withClientCert = options.cert !== undefined && options.key !== undefined;
  const idle = options.idleTimeoutMs ?? options.timeoutMs;
  const connectTimeout = options.connectTimeoutMs ?? Math.min(options.timeoutMs, 10_000);
  const timeouts: FailureTimeouts = { idleMs: idle, connectMs: connectTimeout };
  const agent = new Agent({
    connections: options.connections,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
    keepAliveMaxTimeout: Math.max(options.keepAliveTimeoutMs ?? 4_000, 4_000),
    headersTimeout: idle,
    bodyTimeout: idle,
    connect: phaseTrackingConnector({
      timeout: connectTimeout,
      rejectUnauthorized: options.verify,
      ...(options.verify && options.ca !== undefined ? { ca: options.ca } : {}),
      ...(withClientCert ? { cert: options.cert, key: options.key } : {}),
      ...(options.maxCachedSessions !== undefined ? { maxCachedSessions: options.maxCachedSessions } : {}),
    }),
  });
  const dispatcher: Dispatcher = options.maxRedirections
    ? agent.compose(interceptors.redirect({ maxRedirections: options.maxRedirections }))
    : agent;

  async function request(req: HttpRequestOptions): Promise<HttpResponse> {
    const url = resolveUrl(baseUrl, req.path);
    checkScheme(url, 'request URL');
    const timeoutMs = req.timeoutMs ?? options.timeoutMs;
    const deadline = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      deadline.abort(new HttpClientError('timeout', url.href, `Timed out after ${timeoutMs} ms waiting for ${url.href}`));
    }, timeoutMs);
    // The socket keeps the process alive while the exchange is live; a body nobody read must not
    // pin the process until its deadline.
    timer.unref();
    const onCallerAbort = (): void => deadline.abort(req.signal?.reason);
    if (req.signal) {
      if (req.signal.aborted) onCallerAbort();
      else req.signal.addEventListener('abort', onCallerAbort, { once: true });
    }
    const finish = (): void => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onCallerAbort);
    };
    const send = () =>
      dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method,
        headers: req.headers,
        body: req.body ?? null,
        signal: deadline.signal,
      });
    let res;
    try {
      try {
        res = await send();
      } catch (err) {
        // A pooled socket the server closed while idle fails the next request before any answer.
        // Safe methods get one more try on a fresh socket; the deadline still covers both.
        if (!SAFE_METHODS.has(req.method) || deadline.signal.aborted || !isStaleSocket(err)) throw err;
        res = await send();
      }
    } catch (err) {
      finish();
      if (timedOut) throw new HttpClientError('timeout', url.href, `Timed out after ${timeoutMs} ms waiting for ${url.href}`, err);
      throw describeFailure(err, url, timeouts);
    }
    const body = res.body as unknown as Readable;
    body.once('end', finish);
    body.once('close', finish);
    body.once('error', finish);
    return {
      status: res.statusCode,
      headers: res.headers,
      url,
      body,
      text: async (limitBytes = DEFAULT_TEXT_LIMIT) => {
        try {
          return await readText(body, limitBytes, url);
        } catch (err) {
          if (timedOut) throw new HttpClientError('timeout', url.href, `Timed out after ${timeoutMs} ms waiting for ${url.href}`, err);
          throw describeFailure(err, url, timeouts);
        }
      },
      dump: async () => {
        try {
          await res.body.dump();
        } catch {
          // a body we throw away may fail to drain; the socket is then discarded by undici
        }
      },
    };
  }

  return {
    baseUrl,
    request,
    close: () => agent.close(),
  };
}
