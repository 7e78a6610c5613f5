// Environments and classes from a Puppet Server's v3 API (spec puppet.md §2), over one pooled
// HTTPS client with the proxy's client certificate.

import { Bulkhead } from '../../../../core/bulkhead.ts';
import { defineProvider, type Closeable } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { environmentList } from '../../../../lib/puppet/classes.ts';
import { puppetServerSettings } from '../../../../lib/puppet/server-settings.ts';
import { createPuppetServerClient, parseJson, type PuppetServerClient } from '../../../../lib/puppet/server-client.ts';
import { PUPPET_SETTINGS } from '../../module.ts';
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
  /** Aborts background class requests at shutdown (close() aborts them too). */
  signal?: AbortSignal;
  log?: { error(message: string, err?: unknown): void };
}

/** The provider; its close() stops background class requests and closes the client's sockets. */
export function puppetApi(o: PuppetApiOptions): PuppetProvider & Closeable {
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const bulkhead = new Bulkhead({ name: 'puppet', limit: 8, queue: 100, queueTimeoutMs: 10_000 });
  const fetchClasses: ClassesFetcher = async (environment, etag) => {
    const reply = await bulkhead.run(() =>
      o.client.call('GET', `puppet/v3/environment_classes?environment=${encodeURIComponent(environment)}`, {
        timeoutMs: CLASSES_TIMEOUT_MS,
        signal,
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
    onBackgroundError: (env, err) => {
      // Requests cut short by shutdown are not Puppet's errors.
      if (!signal.aborted) o.log?.error(`Error while retrieving puppet classes for '${env}' environment`, err);
    },
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
    async close() {
      stop.abort();
      await o.client.close();
    },
  };
}

export default defineProvider({
  id: 'puppet_proxy_puppet_api',
  module: 'puppet',
  summary: "Puppet Server's v3 API for environments and classes, with the proxy's client certificate.",
  moduleSettings: PUPPET_SETTINGS,
  settings: setting.settings({
    ...puppetServerSettings({
      urlDescription: 'URL of the Puppet Server (required), also shown to Foreman. A path prefix is kept.',
      caDefault: '/var/lib/puppet/ssl/certs/ca.pem',
    }),
    api_timeout: setting.number({
      default: 30,
      exclusiveMinimum: 0,
      unit: 'seconds',
      description:
        "How long a request for classes waits when Puppet's class cache is cold (Puppet then parses every manifest); " +
        'past that the answer is 503 and the listing goes on in the background.',
    }),
  }),
  async create(ctx) {
    const s = ctx.settings;
    const client = await createPuppetServerClient(s, { timeoutMs: ENVIRONMENTS_TIMEOUT_MS, connections: 8 });
    return puppetApi({ client, apiTimeoutMs: s.api_timeout * 1000, signal: ctx.signal, log: ctx.log });
  },
});
