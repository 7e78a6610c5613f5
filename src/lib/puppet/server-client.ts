// A pooled HTTPS client towards a Puppet Server, with the TLS rules of spec README §5.4: verify
// against puppet_ssl_ca when it is set and non-empty (no verification otherwise), present
// puppet_ssl_cert + puppet_ssl_key when both are set. Used by the puppetca_http_api and
// puppet_proxy_puppet_api providers.

import { readFile } from 'node:fs/promises';
import { createHttpClient, type HttpClient, type HttpMethod } from '../http/client.ts';

export interface PuppetServerSettings {
  readonly puppet_url: string;
  readonly puppet_ssl_ca?: string | null;
  readonly puppet_ssl_cert?: string | null;
  readonly puppet_ssl_key?: string | null;
}

export interface PuppetReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface PuppetServerClient {
  /** `path` is relative to puppet_url's path, e.g. `puppet-ca/v1/certificate_status/x`. */
  call(method: HttpMethod, path: string, options?: { body?: string; headers?: Record<string, string>; timeoutMs?: number; signal?: AbortSignal }): Promise<PuppetReply>;
  close(): Promise<void>;
}

/** Puppet answers are small; a larger one is refused rather than buffered. */
const MAX_REPLY_BYTES = 32 * 1024 * 1024;

const nonEmpty = (v: string | null | undefined): v is string => typeof v === 'string' && v !== '';

async function readSetting(name: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`cannot read ${name} '${path}': ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export async function createPuppetServerClient(
  s: PuppetServerSettings,
  options: { timeoutMs: number; connections: number },
): Promise<PuppetServerClient> {
  // Keep the path prefix of puppet_url: relative request paths resolve below a trailing slash.
  const base = `${s.puppet_url.replace(/\/+$/, '')}/`;
  const verify = nonEmpty(s.puppet_ssl_ca);
  const ca = verify ? await readSetting('puppet_ssl_ca', s.puppet_ssl_ca as string) : undefined;
  const withCert = nonEmpty(s.puppet_ssl_cert) && nonEmpty(s.puppet_ssl_key);
  const cert = withCert ? await readSetting('puppet_ssl_cert', s.puppet_ssl_cert as string) : undefined;
  const key = withCert ? await readSetting('puppet_ssl_key', s.puppet_ssl_key as string) : undefined;
  const client: HttpClient = createHttpClient({
    baseUrl: base,
    verify,
    ...(ca ? { ca } : {}),
    ...(cert && key ? { cert, key } : {}),
    timeoutMs: options.timeoutMs,
    connections: options.connections,
  });
  return {
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
      const res = await client.request({
        method,
        path,
        headers,
        body: o.body ?? null,
        ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const body = await res.text(MAX_REPLY_BYTES);
      return { status: res.status, headers: res.headers, body };
    },
    close: () => client.close(),
  };
}

/** Parse a JSON reply, naming the API in the error when Puppet sent something else. */
export function parseJson(reply: PuppetReply, context: string): unknown {
  try {
    return JSON.parse(reply.body);
  } catch {
    throw new Error(`${context}: invalid JSON in response (${reply.status})`);
  }
}
