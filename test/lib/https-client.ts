// Minimal HTTPS/HTTP client for tests, with explicit TLS material and no connection reuse.

import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';

export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function fetchUrl(url: string, opts: { method?: string; tls?: TlsMaterial; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<SimpleResponse> {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const tls = opts.tls ?? {};
  return new Promise((resolve, reject) => {
    const req = (isHttps ? httpsRequest : httpRequest)(
      u,
      {
        method: opts.method ?? 'GET',
        headers: { accept: 'application/json', ...opts.headers },
        agent: false,
        ...(isHttps
          ? {
              ca: tls.ca ? readFileSync(tls.ca) : undefined,
              cert: tls.cert ? readFileSync(tls.cert) : undefined,
              key: tls.key ? readFileSync(tls.key) : undefined,
            }
          : {}),
        timeout: opts.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}
