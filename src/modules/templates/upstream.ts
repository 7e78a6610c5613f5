// The templates module's connection to Foreman: one pooled client and one bulkhead per running
// module, created at start and closed on shutdown. Kept apart from the routes so api.ts only
// deals with HTTP semantics.

import { Bulkhead } from '../../core/bulkhead.ts';
import type { ModuleContext, Settings } from '../../core/module.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';

export interface Upstream {
  /** undefined when foreman_url is not set (the module still runs, as the reference does). */
  readonly client: HttpClient | undefined;
  readonly bulkhead: Bulkhead;
  readonly templateUrl: string;
  /** Host name of foreman_url, shown in error texts as the reference does. */
  readonly foremanHost: string;
}

const upstreams = new WeakMap<object, Upstream>();

function positive(settings: Settings, key: string, integer: boolean): number {
  const v = settings[key];
  if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v))) {
    throw new Error(`Setting '${key}' must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export async function startUpstream(ctx: ModuleContext): Promise<void> {
  const s = ctx.settings;
  const timeoutMs = Math.round(positive(s, 'upstream_timeout', false) * 1000);
  const concurrency = positive(s, 'upstream_concurrency', true);
  const queue = s['upstream_queue'];
  if (typeof queue !== 'number' || !Number.isInteger(queue) || queue < 0) {
    throw new Error(`Setting 'upstream_queue' must be a non-negative integer, got ${JSON.stringify(queue)}`);
  }
  const queueTimeoutMs = Math.round(positive(s, 'upstream_queue_timeout', false) * 1000);
  const foremanUrl = ctx.global.foremanUrl;
  const client = foremanUrl === null ? undefined : await createForemanClient(ctx.global, { timeoutMs, connections: concurrency });
  const upstream: Upstream = {
    client,
    bulkhead: new Bulkhead({ name: ctx.name, limit: concurrency, queue, queueTimeoutMs }),
    templateUrl: typeof s['template_url'] === 'string' ? s['template_url'] : '',
    foremanHost: foremanUrl === null ? '' : new URL(foremanUrl).hostname,
  };
  upstreams.set(ctx, upstream);
  ctx.signal.addEventListener('abort', () => void client?.close().catch(() => undefined), { once: true });
}

export function upstreamOf(ctx: ModuleContext): Upstream {
  const u = upstreams.get(ctx);
  if (!u) throw new Error(`${ctx.name}: routes mounted before the module started`);
  return u;
}
