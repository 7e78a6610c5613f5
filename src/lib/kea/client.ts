// A small typed client for the Kea Control Agent's HTTP command API, over the proxy's HTTP layer
// (lib/http/client.ts): pooled keep-alive connections to the agent, one deadline on every command
// (connect + headers + body), a cap on the reply size, and errors that say which of the three
// things went wrong: the agent could not be reached, it answered something that is not a Kea
// reply, or the daemon behind it refused the command.

import { createHttpClient, HttpClientError, type HttpClient } from '../http/client.ts';

/** Kea's documented result codes. */
export const KEA_SUCCESS = 0;
export const KEA_ERROR = 1;
export const KEA_UNSUPPORTED = 2;
export const KEA_EMPTY = 3;

export interface KeaReply<A = unknown> {
  result: number;
  text?: string;
  arguments?: A;
}

export type KeaErrorKind =
  /** Connection refused/reset, DNS failure, TLS failure… */
  | 'unreachable'
  /** The deadline passed before a complete reply arrived. */
  | 'timeout'
  /** HTTP status other than 200 (401 = bad credentials). */
  | 'http'
  /** The body is not a Kea reply (not JSON, wrong shape, too large). */
  | 'protocol'
  /** Kea answered with a result code other than success (or "empty" where that is not allowed). */
  | 'command';

export class KeaError extends Error {
  readonly kind: KeaErrorKind;
  readonly command: string;
  /** Kea result code for kind `command`, HTTP status for kind `http`. */
  readonly code: number | undefined;

  constructor(kind: KeaErrorKind, command: string, message: string, code?: number) {
    super(message);
    this.name = 'KeaError';
    this.kind = kind;
    this.command = command;
    this.code = code;
  }
}

export interface KeaClientOptions {
  /** Control Agent URL, e.g. `http://127.0.0.1:8000/`. */
  url: string;
  /** Basic-auth credentials (Kea ≥ 1.9 `authentication` block). */
  user?: string;
  password?: string;
  /** Deadline of one command, from sending to the last byte of the reply. */
  timeoutMs: number;
  /** Largest reply accepted (a config-get of a big server can be several MB). */
  maxReplyBytes?: number;
  /** Concurrent connections to the agent. */
  connections?: number;
  /** TLS towards an https agent: CA to verify it (default: system CAs), client certificate and key. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /**
   * After a command times out, further commands fail at once for this long instead of each
   * waiting out its own deadline behind a hung agent (default: the timeout; 0 = never).
   */
  failFastMs?: number;
}

export interface CommandOptions {
  /** Daemon the agent forwards to (`dhcp4`); omitted = the agent itself. */
  service?: string;
  /** Treat result 3 ("empty") as success: list commands report "nothing found" with it. */
  allowEmpty?: boolean;
  signal?: AbortSignal;
}

const DEFAULT_MAX_REPLY = 64 * 1024 * 1024;

export class KeaClient {
  private readonly http: HttpClient;
  private readonly path: string;
  private readonly origin: string;
  private readonly auth: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxReply: number;
  private readonly failFastMs: number;
  /** While Date.now() is below this, commands fail fast (set by a timeout). */
  private openUntil = 0;
  private lastTimeout = '';

  constructor(options: KeaClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Kea Control Agent URL must be http or https: ${options.url}`);
    }
    if (!(options.timeoutMs > 0)) throw new RangeError('Kea command timeout must be positive');
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}` || '/';
    this.auth =
      options.user !== undefined
        ? `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`
        : undefined;
    this.timeoutMs = options.timeoutMs;
    this.maxReply = options.maxReplyBytes ?? DEFAULT_MAX_REPLY;
    this.failFastMs = options.failFastMs ?? options.timeoutMs;
    this.http = createHttpClient({
      baseUrl: this.origin,
      verify: true,
      ...options.tls,
      timeoutMs: options.timeoutMs,
      connectTimeoutMs: options.timeoutMs,
      connections: options.connections ?? 4,
      keepAliveTimeoutMs: 4_000,
      // No TLS session resumption: kea-ctrl-agent 2.2 answers a resumed handshake with an
      // "internal error" alert, so every new connection after the first would fail.
      ...(url.protocol === 'https:' ? { maxCachedSessions: 0 } : {}),
    });
  }

  /** Where commands go, for messages. */
  get url(): string {
    return `${this.origin}${this.path}`;
  }

  /**
   * Send one command and return the reply of the (single) target. Throws KeaError unless the
   * result is success (or "empty" with `allowEmpty`).
   */
  async command<A = unknown>(command: string, args?: unknown, options: CommandOptions = {}): Promise<KeaReply<A>> {
    const body: Record<string, unknown> = { command };
    if (options.service !== undefined) body.service = [options.service];
    if (args !== undefined) body.arguments = args;
    const wait = this.openUntil - Date.now();
    if (wait > 0) {
      throw new KeaError(
        'timeout',
        command,
        `${this.lastTimeout}; '${command}' not sent, Kea is not asked again for ${Math.ceil(wait / 1000)} s`,
      );
    }
    const raw = await this.post(command, JSON.stringify(body), options.signal);
    const reply = parseReply<A>(command, raw);
    if (reply.result === KEA_SUCCESS || (options.allowEmpty === true && reply.result === KEA_EMPTY)) return reply;
    throw new KeaError(
      'command',
      command,
      `'${command}' failed (result ${reply.result}): ${reply.text ?? 'no text'}`,
      reply.result,
    );
  }

  async close(): Promise<void> {
    await this.http.close().catch(() => undefined);
  }

  private async post(command: string, payload: string, signal?: AbortSignal): Promise<string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.auth) headers.authorization = this.auth;
    try {
      // The HTTP layer's deadline covers the whole exchange, body included, so a trickling agent
      // cannot hold a command past it.
      const res = await this.http.request({ method: 'POST', path: this.path, headers, body: payload, signal });
      const text = await res.text(this.maxReply);
      this.openUntil = 0; // the agent answers again
      if (res.status !== 200) {
        const detail = res.status === 401 ? 'authentication failed (check user and password)' : oneLine(text);
        throw new KeaError('http', command, `HTTP ${res.status} for '${command}': ${detail}`, res.status);
      }
      return text;
    } catch (err) {
      if (err instanceof KeaError) throw err;
      if (err instanceof HttpClientError && err.kind === 'timeout') {
        const message = `no reply to '${command}' from ${this.url} within ${this.timeoutMs} ms`;
        if (this.failFastMs > 0) {
          this.openUntil = Date.now() + this.failFastMs;
          this.lastTimeout = message;
        }
        throw new KeaError('timeout', command, message);
      }
      if (err instanceof HttpClientError && err.kind === 'too_large') {
        throw new KeaError('protocol', command, `reply to '${command}' exceeds ${this.maxReply} bytes`);
      }
      if (signal?.aborted) throw new KeaError('unreachable', command, `'${command}' aborted`);
      // The socket's own error says more than the HTTP layer's summary of it.
      const cause = err instanceof HttpClientError && err.cause !== undefined ? err.cause : err;
      throw new KeaError('unreachable', command, `cannot reach ${this.url} for '${command}': ${describe(cause)}`);
    }
  }
}

/**
 * Kea answers a command for a service with an array of one reply per service, and a command for
 * the agent itself (or an HTTP-level error such as 401) with a bare object.
 */
export function parseReply<A = unknown>(command: string, text: string): KeaReply<A> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KeaError('protocol', command, `reply to '${command}' is not JSON: ${oneLine(text)}`);
  }
  const first = Array.isArray(data) ? data[0] : data;
  if (first === null || typeof first !== 'object' || typeof (first as { result?: unknown }).result !== 'number') {
    throw new KeaError('protocol', command, `reply to '${command}' has no result code: ${oneLine(text)}`);
  }
  const r = first as { result: number; text?: unknown; arguments?: unknown };
  const reply: KeaReply<A> = { result: r.result };
  if (typeof r.text === 'string') reply.text = r.text;
  if (r.arguments !== undefined) reply.arguments = r.arguments as A;
  return reply;
}

function oneLine(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || '(empty)';
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const cause = (err as { cause?: unknown }).cause;
    const base = typeof code === 'string' ? `${code} ${err.message}` : err.message;
    return cause instanceof Error && cause.message !== err.message ? `${base} (${cause.message})` : base;
  }
  return String(err);
}
