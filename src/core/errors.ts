// Errors that cross the HTTP edge. A handler throws a ProxyError; the core turns it into the
// reference's plain-text error response (spec README §6.3) and logs it once, there.

export class ProxyError extends Error {
  readonly status: number;
  /** Stable machine-readable code, e.g. `dns.conflict`; never shown to Foreman. */
  readonly code: string;
  /** Extra response headers (e.g. Retry-After on 503). */
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, code = 'proxy.error', headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ProxyError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** One row of a module's error table: the HTTP status, and Retry-After seconds for a 503. */
export type ErrorRow = number | { readonly status: number; readonly retryAfter?: number };

export type ErrorFactories<T extends Record<string, ErrorRow>> = {
  /**
   * `status` overrides the row's only where the status is not the proxy's to choose: a relayed
   * answer passes the upstream's own status on (templates relays Foreman's 404 as 404).
   */
  readonly [K in keyof T]: (message: string, status?: number) => ProxyError;
};

/**
 * A module's errors, declared once with their statuses (as fastify's own errors.js does): every
 * error the module or its providers throw comes from this table, so its stable code is
 * `<module>.<key>` and its status is written nowhere else.
 *
 *   export const DnsError = errorTable('dns', { conflict: 409, not_found: 404, busy: { status: 503, retryAfter: 5 } });
 *   throw DnsError.conflict(`'${fqdn} 'is already in use`);
 */
export function errorTable<const T extends Record<string, ErrorRow>>(module: string, table: T): ErrorFactories<T> {
  const out: Record<string, (message: string, status?: number) => ProxyError> = {};
  for (const [key, row] of Object.entries(table)) {
    const { status, retryAfter } = typeof row === 'number' ? { status: row, retryAfter: undefined } : row;
    const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
    out[key] = (message: string, override?: number) => new ProxyError(override ?? status, message, `${module}.${key}`, { ...headers });
  }
  return out as ErrorFactories<T>;
}

/** Raised while loading settings: names the file and key so the operator can fix it. */
export class SettingsError extends Error {
  readonly file: string;
  readonly key: string | undefined;
  constructor(file: string, key: string | undefined, reason: string) {
    super(key === undefined ? `${file}: ${reason}` : `${file}: ${key}: ${reason}`);
    this.name = 'SettingsError';
    this.file = file;
    this.key = key;
  }
}

/** Text of an unknown thrown value, as the reference shows it (class name when no message). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message === '' ? err.constructor.name : err.message;
  return String(err);
}
