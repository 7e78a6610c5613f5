// A module's connection to Foreman for relayed host requests (templates, registration): one
// pooled client and one bulkhead, sized by the module's upstream_* settings, so a burst of hosts
// waits its turn instead of collapsing Foreman. Each relaying module declares the same settings
// (upstream-settings.ts, kept apart so that declaring them loads no HTTP client) and opens its own
// link when it is created.

import { Bulkhead } from '../bulkhead.ts';
import type { GlobalSettings } from '../settings/global.ts';
import type { UpstreamSettings } from './upstream-settings.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';

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
