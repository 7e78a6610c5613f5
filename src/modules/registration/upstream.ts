// The registration module's connection to Foreman: a pooled client and the bulkhead that makes a
// burst of registering hosts wait their turn instead of collapsing Foreman.

import { Bulkhead } from '../../core/bulkhead.ts';
import type { ModuleContext, Settings } from '../../core/module.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { createForemanClient } from '../../lib/http/foreman.ts';

export interface Upstream {
  /** undefined when foreman_url is not set: every request then fails with the shell snippet. */
  readonly client: HttpClient | undefined;
  readonly bulkhead: Bulkhead;
  /** registration_url without its trailing `/`, or undefined to derive it from the request. */
  readonly registrationUrl: string | undefined;
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
  const client =
    ctx.global.foremanUrl === null ? undefined : await createForemanClient(ctx.global, { timeoutMs, connections: concurrency });
  const url = s['registration_url'];
  upstreams.set(ctx, {
    client,
    bulkhead: new Bulkhead({ name: 'registration', limit: concurrency, queue, queueTimeoutMs }),
    registrationUrl: typeof url === 'string' && url !== '' ? url : undefined,
  });
  ctx.signal.addEventListener('abort', () => void client?.close().catch(() => undefined), { once: true });
}

export function upstreamOf(ctx: ModuleContext): Upstream {
  const u = upstreams.get(ctx);
  if (!u) throw new Error(`${ctx.name}: routes mounted before the module started`);
  return u;
}
