// The JSON-over-HTTP exchange both providers make, through the proxy's pooled HTTP client: each
// call gets what is left of the /ipam request's deadline, the answer is read with a size cap and
// parsed, and an answer that is not JSON becomes a clear backend error. Credentials travel in
// headers the caller gives and are never part of a logged line.

import type { Logger } from '../../core/logging-types.ts';
import { createHttpClient, HttpClientError, type HttpClient, type HttpMethod } from '../../lib/http/client.ts';
import { IpamError } from './errors.ts';
import type { CallOptions } from './provider.ts';

export interface JsonAnswer {
  status: number;
  /** The parsed body; undefined for an empty body. */
  body: unknown;
}

const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export class IpamHttp {
  readonly client: HttpClient;
  private readonly name: string;
  private readonly log: Logger;

  constructor(name: string, baseUrl: string, log: Logger, connections: number) {
    this.name = name;
    this.log = log;
    this.client = createHttpClient({
      baseUrl,
      verify: true,
      connections,
      keepAliveTimeoutMs: 10_000,
      // Replaced per call by what is left of the request's deadline.
      timeoutMs: 55_000,
    });
  }

  /** `path` is relative to the base URL (no leading slash) or origin-relative (`/api/...`). */
  async call(method: HttpMethod, path: string, headers: Record<string, string>, call: CallOptions, body?: unknown): Promise<JsonAnswer> {
    const remaining = call.deadline - Date.now();
    if (remaining <= 0) throw new HttpClientError('timeout', path, `${this.name}: no time left for ${method} ${path}`);
    const res = await this.client.request({
      method,
      path,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: remaining,
    });
    const text = await res.text(MAX_ANSWER_BYTES);
    this.log.debug(`${this.name}: ${method} ${res.url.pathname}${res.url.search} → ${res.status}`);
    if (text.trim() === '') return { status: res.status, body: undefined };
    try {
      return { status: res.status, body: JSON.parse(text) as unknown };
    } catch {
      throw IpamError.backend(`${this.name}: ${method} ${res.url.pathname} answered ${res.status} with a body that is not JSON`);
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** `value` as an object, or an empty one. */
export function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function text(value: unknown): string {
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value);
}
