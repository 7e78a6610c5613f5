// The registration module's connection to Foreman: a pooled client and the bulkhead that makes a
// burst of registering hosts wait their turn instead of collapsing Foreman. Opened the way the
// templates module opens its own (registration requires templates).

import type { ModuleContext } from '../../core/module.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { openForemanLink, type ForemanLink } from '../templates/upstream.ts';

export interface Upstream extends ForemanLink {
  /** undefined when foreman_url is not set: every request then fails with the shell snippet. */
  readonly client: HttpClient | undefined;
  /** registration_url without its trailing `/`, or undefined to derive it from the request. */
  readonly registrationUrl: string | undefined;
}

const upstreams = new WeakMap<object, Upstream>();

export async function startUpstream(ctx: ModuleContext): Promise<void> {
  const link = await openForemanLink(ctx);
  const url = ctx.settings['registration_url'];
  upstreams.set(ctx, { ...link, registrationUrl: typeof url === 'string' && url !== '' ? url : undefined });
}

export function upstreamOf(ctx: ModuleContext): Upstream {
  const u = upstreams.get(ctx);
  if (!u) throw new Error(`${ctx.name}: routes mounted before the module started`);
  return u;
}
