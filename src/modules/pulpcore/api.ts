// The running pulpcore module: one pooled client to Pulp's status API, the capabilities cache, and
// GET /pulpcore/status (spec content.md §3.3).

import type { FastifyInstance } from 'fastify';
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../core/logging-types.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { Static } from '../../core/settings/schema.ts';
import { createHttpClient, HttpClientError, type HttpClient } from '../../lib/http/client.ts';
import { CapabilitiesCache, componentsOf } from './capabilities.ts';
import { PulpcoreError } from './errors.ts';
import type { PULPCORE_SETTINGS } from './module.ts';

type PulpcoreSettings = Static<typeof PULPCORE_SETTINGS>;

/** Pulp status bodies are a few kB; anything near this is not Pulp. */
const MAX_STATUS_BYTES = 4 * 1024 * 1024;

/** Status path below pulp_url (Katello appends /pulp/api/v3 to pulp_url the same way). */
export function statusUrl(pulpUrl: string): string {
  const base = pulpUrl.endsWith('/') ? pulpUrl : `${pulpUrl}/`;
  return new URL('pulp/api/v3/status/', base).href;
}

/** The CA that verifies Pulp: ssl_ca, else foreman_ssl_ca, else ssl_ca_file (spec §3.1). */
function caFile(s: PulpcoreSettings, global: GlobalSettings): { path: string; setting: string } | undefined {
  if (s.ssl_ca) return { path: s.ssl_ca, setting: 'ssl_ca' };
  if (global.foremanSslCa) return { path: global.foremanSslCa, setting: 'foreman_ssl_ca' };
  if (global.sslCaFile) return { path: global.sslCaFile, setting: 'ssl_ca_file' };
  return undefined;
}

async function pulpClient(s: PulpcoreSettings, global: GlobalSettings): Promise<HttpClient> {
  const file = caFile(s, global);
  let ca: Buffer | undefined;
  if (file && new URL(s.pulp_url).protocol === 'https:') {
    try {
      ca = await readFile(file.path);
    } catch (err) {
      throw new Error(`cannot read ${file.setting} '${file.path}' for connections to Pulp: ${(err as Error).message}`, { cause: err });
    }
  }
  // Plain TLS as the reference: Pulp's certificate verified, no client certificate.
  return createHttpClient({
    verify: true,
    ...(ca ? { ca } : {}),
    timeoutMs: Math.round(s.status_timeout * 1000),
    connections: 4,
  });
}

export async function pulpcoreModule(s: PulpcoreSettings, global: GlobalSettings, log: Logger): Promise<ModuleInstance> {
  const client = await pulpClient(s, global);
  const url = statusUrl(s.pulp_url);
  const pulpHost = new URL(s.pulp_url).hostname;
  const stop = new AbortController();

  const status = async (): Promise<{ status: number; body: string; reason: string }> => {
    const res = await client.request({ method: 'GET', path: url, headers: { accept: 'application/json' }, signal: stop.signal });
    const body = await res.text(MAX_STATUS_BYTES);
    return { status: res.status, body, reason: statusText(res.status) };
  };

  const cache = new CapabilitiesCache({
    ttlMs: s.capabilities_ttl * 1000,
    waitMs: s.capabilities_wait * 1000,
    log,
    fetch: async () => {
      const r = await status();
      if (r.status < 200 || r.status >= 300) throw new Error(`Pulp server at ${s.pulp_url} returned an error: '${r.reason}'`);
      return componentsOf(JSON.parse(r.body) as unknown);
    },
  });

  return {
    capabilities: () => cache.get(),
    // Warm the cache, so the first /v2/features after start-up need not wait for Pulp.
    start: async () => {
      void cache.refresh();
    },
    routes(app: FastifyInstance) {
      app.get('/status', async (_request, reply) => {
        let r;
        try {
          r = await status();
        } catch (err) {
          if (err instanceof HttpClientError) throw PulpcoreError.unreachable(`Communication error with '${pulpHost}': ${err.message}`);
          throw err;
        }
        if (r.status >= 200 && r.status < 300) return reply.type('application/json').send(Buffer.from(r.body));
        // QUIRK (spec §3.3): the reference hands the code to its error helper as text, which the
        // framework does not take for a status, so the answer is a 200 with the code before the text.
        return reply.code(200).type('text/html;charset=utf-8').send(Buffer.from(`${r.status}Pulp server at ${s.pulp_url} returned an error: '${r.reason}'`));
      });
    },
    close: async () => {
      stop.abort(new Error('the proxy is shutting down'));
      await cache.close();
      await client.close();
    },
  };
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The reason phrase Pulp's reply carried (HTTP/1.1 reason phrases are fixed per code in practice). */
function statusText(status: number): string {
  return REASONS[status] ?? 'Error';
}
