// FreeIPA JSON-RPC (`/ipa/session/json`) over pooled keep-alive HTTPS with a session cookie. The
// session is obtained lazily, kept across requests, and renewed once when IPA answers 401 (its
// sessions expire after ~20 minutes). Every call has the client's deadline.

import { createHttpClient, HttpClientError, type HttpClient } from '../../../../lib/http/client.ts';

/** A JSON-RPC error reply from IPA (`{"error": {"code", "name", "message"}}`). */
export class IpaFault extends Error {
  readonly code: number | undefined;
  readonly faultName: string | undefined;
  constructor(message: string, code?: number, faultName?: string) {
    super(message);
    this.name = 'IpaFault';
    this.code = code;
    this.faultName = faultName;
  }
}

/** Obtains an `ipa_session` cookie value (`ipa_session=…`) within `timeoutMs`. */
export type IpaLogin = (http: HttpClient, referer: string, timeoutMs: number) => Promise<string>;

export interface IpaClientOptions {
  /** https://ipa.example.com[:port] */
  readonly origin: string;
  readonly verify: boolean;
  readonly ca?: Buffer;
  readonly timeoutMs: number;
  readonly login: IpaLogin;
}

export interface IpaClient {
  /** One JSON-RPC call, login included when needed, within `timeoutMs`. */
  call(method: string, args: unknown[], options: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

const MAX_REPLY = 8 * 1024 * 1024;

/** The `ipa_session=…` pair from Set-Cookie header(s), or undefined. */
export function sessionCookie(setCookie: string | string[] | undefined): string | undefined {
  const list = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  for (const c of list) {
    const pair = c.split(';')[0].trim();
    if (pair.startsWith('ipa_session=') && pair.length > 'ipa_session='.length) return pair;
  }
  return undefined;
}

/** Password login (`/ipa/session/login_password`), our extension next to keytab login. */
export function passwordLogin(user: string, password: string): IpaLogin {
  return async (http, referer, timeoutMs) => {
    const res = await http.request({
      method: 'POST',
      timeoutMs,
      path: '/ipa/session/login_password',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/plain',
        referer,
      },
      body: new URLSearchParams({ user, password }).toString(),
    });
    await res.dump();
    if (res.status !== 200) {
      const reason = res.headers['x-ipa-rejection-reason'];
      throw new Error(`FreeIPA password login as ${user} failed: HTTP ${res.status}${reason ? ` (${String(reason)})` : ''}`);
    }
    const cookie = sessionCookie(res.headers['set-cookie']);
    if (!cookie) throw new Error('FreeIPA password login returned no session cookie');
    return cookie;
  };
}

export function createIpaClient(opts: IpaClientOptions): IpaClient {
  const http = createHttpClient({
    baseUrl: opts.origin,
    verify: opts.verify,
    ca: opts.ca,
    timeoutMs: opts.timeoutMs,
    connections: 4,
  });
  const referer = `${opts.origin}/ipa`;
  let session: Promise<string> | undefined;
  let id = 0;

  const login = (timeoutMs: number): Promise<string> => {
    session ??= opts.login(http, referer, timeoutMs).catch((err: unknown) => {
      session = undefined;
      throw err;
    });
    return session;
  };

  async function post(cookie: string, body: string, end: number): Promise<{ status: number; text: string }> {
    const res = await http.request({
      method: 'POST',
      timeoutMs: Math.max(1, end - Date.now()),
      path: '/ipa/session/json',
      headers: { 'content-type': 'application/json', accept: 'application/json', referer, cookie },
      body,
    });
    if (res.status === 401) {
      await res.dump();
      return { status: 401, text: '' };
    }
    return { status: res.status, text: await res.text(MAX_REPLY) };
  }

  async function call(method: string, args: unknown[], options: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    const body = JSON.stringify({ method, params: [args, options], id: id++ });
    const end = Date.now() + timeoutMs;
    const left = (): number => {
      const ms = end - Date.now();
      if (ms < 50) throw new Error(`FreeIPA ${method}: no answer within the deadline`);
      return ms;
    };
    let reply: { status: number; text: string };
    try {
      const used = await login(left());
      reply = await post(used, body, end);
      if (reply.status === 401) {
        // Session expired or revoked: log in again once.
        if (session !== undefined && (await session.catch(() => undefined)) === used) session = undefined;
        reply = await post(await login(left()), body, end);
      }
    } catch (err) {
      if (err instanceof HttpClientError) throw new Error(`FreeIPA ${method}: ${err.message}`);
      throw err;
    }
    if (reply.status !== 200) throw new Error(`FreeIPA ${method}: HTTP ${reply.status}`);
    let envelope: Record<string, unknown>;
    try {
      envelope = JSON.parse(reply.text) as Record<string, unknown>;
    } catch {
      throw new Error(`FreeIPA ${method}: the answer is not JSON`);
    }
    const error = envelope.error as { message?: unknown; code?: unknown; name?: unknown } | null | undefined;
    if (error) {
      throw new IpaFault(
        typeof error.message === 'string' ? error.message : 'unknown FreeIPA error',
        typeof error.code === 'number' ? error.code : undefined,
        typeof error.name === 'string' ? error.name : undefined,
      );
    }
    const result = envelope.result;
    if (typeof result !== 'object' || result === null) throw new Error(`FreeIPA ${method}: reply without result`);
    return result as Record<string, unknown>;
  }

  return { call, close: () => http.close() };
}
