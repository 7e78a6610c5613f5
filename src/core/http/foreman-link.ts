// A module's connection to Foreman for relayed host requests (templates, registration): one
// pooled client and one bulkhead, sized by the module's upstream_* settings, so a burst of hosts
// waits its turn instead of collapsing Foreman. Each relaying module declares the same settings
// and opens its own link.

import { Bulkhead } from '../bulkhead.ts';
import type { GlobalSettings } from '../settings/global.ts';
import * as setting from '../settings/schema.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';

/** Our additions (not in the reference): limits on the work sent to Foreman. */
export const UPSTREAM_SETTINGS = {
  upstream_timeout: setting.number({
    default: 55,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Deadline of one relayed request to Foreman, answer included.',
  }),
  upstream_concurrency: setting.integer({
    default: 64,
    minimum: 1,
    maximum: 10000,
    extension: true,
    description: 'Relayed requests at Foreman at once (also the size of the connection pool).',
  }),
  upstream_queue: setting.integer({
    default: 2000,
    minimum: 0,
    maximum: 1000000,
    extension: true,
    description: 'Requests allowed to wait for a free slot; beyond that hosts get 503 with Retry-After.',
  }),
  upstream_queue_timeout: setting.number({
    default: 60,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Longest wait for a free slot before the host gets 503 with Retry-After.',
  }),
};

export type UpstreamSettings = setting.Static<setting.TObject<typeof UPSTREAM_SETTINGS>>;

/** A module's pooled Foreman client (undefined when foreman_url is not set) and its bulkhead. */
export interface ForemanLink {
  readonly client: HttpClient | undefined;
  readonly bulkhead: Bulkhead;
  /** Host name of foreman_url, shown in error texts as the reference does ('' when unset). */
  readonly foremanHost: string;
  close(): Promise<void>;
}

/** Open the link of module `name` (its bulkhead is named after it). */
export async function openForemanLink(name: string, s: UpstreamSettings, global: GlobalSettings): Promise<ForemanLink> {
  const timeoutMs = Math.round(s.upstream_timeout * 1000);
  const client =
    global.foremanUrl === null ? undefined : await createForemanClient(global, { timeoutMs, connections: s.upstream_concurrency });
  const bulkhead = new Bulkhead({
    name,
    limit: s.upstream_concurrency,
    queue: s.upstream_queue,
    queueTimeoutMs: Math.round(s.upstream_queue_timeout * 1000),
  });
  return {
    client,
    bulkhead,
    foremanHost: global.foremanUrl === null ? '' : new URL(global.foremanUrl).hostname,
    close: async () => {
      await client?.close();
    },
  };
}
