// The realm module (spec realm.md): host entries with one-time passwords in an identity realm,
// through the provider named by use_provider (realm_freeipa).

import { Bulkhead } from '../../core/bulkhead.ts';
import { defineModule, type ModuleContext } from '../../core/module.ts';
import type { RealmRuntime } from './api.ts';
import type { RealmProvider } from './provider.ts';

// routes() runs once per prefix and listener; one bulkhead must cover all of them.
const runtimes = new WeakMap<object, RealmRuntime>();

function runtimeFor(ctx: ModuleContext<RealmProvider>): RealmRuntime {
  let rt = runtimes.get(ctx);
  if (!rt) {
    const provider = ctx.providers[0];
    if (!provider) throw new Error('realm: no provider configured (use_provider)');
    // A slow IPA server queues realm requests only; past the queue, callers get 503 + Retry-After.
    rt = { provider, bulkhead: new Bulkhead({ name: 'realm', limit: 8, queue: 128, queueTimeoutMs: 30_000 }) };
    runtimes.set(ctx, rt);
  }
  return rt;
}

export default defineModule<RealmProvider>({
  name: 'realm',
  prefixes: ['/realm'],
  audience: 'foreman',
  authorize: true,
  settings: {
    use_provider: { default: 'realm_freeipa', type: 'string' },
  },
  exposedSettings: ['use_provider'],
  providerIds: (settings) => [String(settings.use_provider)],
  start: (ctx) => {
    runtimeFor(ctx);
  },
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app, ctx) => {
    (await import('./api.ts')).realmRoutes(app, runtimeFor(ctx));
  },
});
