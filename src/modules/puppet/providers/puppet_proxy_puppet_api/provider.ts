// Environments and classes from a Puppet Server's v3 API (spec puppet.md §2), over one pooled
// HTTPS client with the proxy's client certificate.

import { Bulkhead } from '../../../../core/bulkhead.ts';
import { defineProvider } from '../../../../core/module.ts';
import { environmentList } from '../../../../lib/puppet/classes.ts';
import { createPuppetServerClient, parseJson, type PuppetServerClient } from '../../../../lib/puppet/server-client.ts';
import { EnvironmentNotFoundError, type PuppetProvider } from '../../provider.ts';
import { ClassesCache, type ClassesFetcher } from './classes-cache.ts';

const ENVIRONMENTS_TIMEOUT_MS = 55_000;
/** Puppet may take minutes to parse every manifest of a large environment the first time. */
const CLASSES_TIMEOUT_MS = 300_000;
const WARM_WAIT_MS = 15_000;

export interface PuppetApiOptions {
  client: PuppetServerClient;
  apiTimeoutMs: number;
  warmWaitMs?: number;
  /** Aborts background class requests at shutdown. */
  signal?: AbortSignal;
  log?: { error(message: string, err?: unknown): void };
}

export function puppetApi(o: PuppetApiOptions): PuppetProvider {
  const bulkhead = new Bulkhead({ name: 'puppet', limit: 8, queue: 100, queueTimeoutMs: 10_000 });
  const fetchClasses: ClassesFetcher = async (environment, etag) => {
    const reply = await bulkhead.run(() =>
      o.client.call('GET', `puppet/v3/environment_classes?environment=${encodeURIComponent(environment)}`, {
        timeoutMs: CLASSES_TIMEOUT_MS,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(etag !== undefined ? { headers: { 'if-none-match': etag } } : {}),
      }),
    );
    if (reply.status === 304) return 'not-modified';
    if (reply.status === 404) throw new EnvironmentNotFoundError(environment);
    if (reply.status !== 200) throw new Error(`${reply.status} ${reply.body}`);
    const header = reply.headers.etag;
    return {
      body: parseJson(reply, 'Failed to query Puppet environment classes v3 API'),
      etag: typeof header === 'string' && header !== '' ? header : undefined,
    };
  };
  const cache = new ClassesCache({
    fetch: fetchClasses,
    warmWaitMs: o.warmWaitMs ?? WARM_WAIT_MS,
    coldWaitMs: o.apiTimeoutMs,
    onBackgroundError: (env, err) => o.log?.error(`Error while retrieving puppet classes for '${env}' environment`, err),
  });
  return {
    id: 'puppet_proxy_puppet_api',
    async environments() {
      // Queueing counts against the same deadline, so Foreman (60 s) always gets an answer.
      const until = Date.now() + ENVIRONMENTS_TIMEOUT_MS;
      const reply = await bulkhead.run(() => o.client.call('GET', 'puppet/v3/environments', { timeoutMs: Math.max(1, until - Date.now()) }));
      const context = 'Failed to query Puppet find environments v3 API';
      if (reply.status !== 200) throw new Error(`${context}: ${reply.status} ${reply.body}`);
      return environmentList(parseJson(reply, context));
    },
    classes: (environment) => cache.get(environment),
  };
}

export default defineProvider<PuppetProvider>({
  id: 'puppet_proxy_puppet_api',
  module: 'puppet',
  settings: {
    puppet_url: { type: 'string', checks: ['url'] },
    puppet_ssl_ca: { default: '/var/lib/puppet/ssl/certs/ca.pem', type: 'string', checks: ['readable'] },
    puppet_ssl_cert: { type: 'string', checks: ['readable'] },
    puppet_ssl_key: { type: 'string', checks: ['readable'] },
    api_timeout: { default: 30, type: 'number' },
  },
  async create(ctx) {
    const s = ctx.settings;
    const apiTimeout = s.api_timeout;
    if (typeof apiTimeout !== 'number' || !(apiTimeout > 0)) {
      throw new Error(`Setting 'api_timeout' must be a positive number of seconds, got ${JSON.stringify(apiTimeout)}`);
    }
    const client = await createPuppetServerClient(
      {
        puppet_url: String(s.puppet_url),
        puppet_ssl_ca: (s.puppet_ssl_ca as string | null | undefined) ?? null,
        puppet_ssl_cert: (s.puppet_ssl_cert as string | null | undefined) ?? null,
        puppet_ssl_key: (s.puppet_ssl_key as string | null | undefined) ?? null,
      },
      { timeoutMs: ENVIRONMENTS_TIMEOUT_MS, connections: 8 },
    );
    ctx.signal.addEventListener('abort', () => void client.close(), { once: true });
    return puppetApi({ client, apiTimeoutMs: apiTimeout * 1000, signal: ctx.signal, log: ctx.log });
  },
});
