// The templates module's connection to Foreman: one pooled client and one bulkhead per running
// module, created at start and closed on shutdown. Kept apart from the routes so api.ts only
// deals with HTTP semantics. The registration module (which requires templates) opens its own
// link the same way, from the same upstream_* settings.

import { Bulkhead } from '../../core/bulkhead.ts';
import type { ModuleContext, Settings } from '../../core/module.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';

/** A module's pooled Foreman client (undefined when foreman_url is not set) and its bulkhead. */
export interface ForemanLink {
  readonly client: HttpClient | undefined;
  readonly bulkhead: Bulkhead;
}

export interface Upstream extends ForemanLink {
  /** undefined when foreman_url is not set (the module still runs, as the reference does). */
  readonly client: HttpClient | undefined;
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

/**
 * Validate the module's upstream_* settings and open its Foreman client and bulkhead (named after
 * the module); the client is closed when the module shuts down.
 */
export async function openForemanLink(ctx: ModuleContext): Promise<ForemanLink> {
  const s = ctx.settings;
  const timeoutMs = Math.round(positive(s, 'upstream_timeout', false) * 1000);
  const concurrency = positive(s, 'upstream_concurrency', true);
  const queue = s['upstream_queue'];
  if (typeof queue !== 'number' || !Number.isInteger(queue) || queue < 0) {
    throw new Error(`Setting 'upstream_queue' must be a non-negative integer, got ${JSON.stringify(queue)}`);
  }
  const queueTimeoutMs = Math.round(positive(s, 'upstream_queue_timeout', false) * 1000);
  const client =
    ctx.global.foremanUrl === null ? undefined : await createForemanClient(ctx.global, { timeoutMs, connections: concurrency });
  const bulkhead = new Bulkhead({ name: ctx.name, limit: concurrency, queue, queueTimeoutMs });
  ctx.signal.addEventListener('abort', () => void client?.close().catch(() => undefined), { once: true });
  return { client, bulkhead };
}

export async function startUpstream(ctx: ModuleContext): Promise<void> {
  const link = await openForemanLink(ctx);
  const foremanUrl = ctx.global.foremanUrl;
  const templateUrl = ctx.settings['template_url'];
  upstreams.set(ctx, {
    ...link,
    templateUrl: typeof templateUrl === 'string' ? templateUrl : '',
    foremanHost: foremanUrl === null ? '' : new URL(foremanUrl).hostname,
  });
}

export function upstreamOf(ctx: ModuleContext): Upstream {
  const u = upstreams.get(ctx);
  if (!u) throw new Error(`${ctx.name}: routes mounted before the module started`);
  return u;
}
