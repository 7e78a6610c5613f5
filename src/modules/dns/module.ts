// The DNS module (spec dns.md): create and delete A, AAAA, PTR, CNAME and SRV records through the
// provider named by use_provider (dns_nsupdate by default, or dns_powerdns).

import { Bulkhead } from '../../core/bulkhead.ts';
import { defineModule, type ModuleContext } from '../../core/module.ts';
import type { DnsRuntime } from './api.ts';
import type { DnsProvider } from './provider.ts';

// routes() runs once per prefix and listener; one bulkhead must cover all of them.
const runtimes = new WeakMap<object, DnsRuntime>();

function runtimeFor(ctx: ModuleContext<DnsProvider>): DnsRuntime {
  let rt = runtimes.get(ctx);
  if (!rt) {
    const provider = ctx.providers[0];
    if (!provider) throw new Error('dns: no provider configured (use_provider)');
    // A slow DNS server queues DNS requests only; past the queue, callers get 503 + Retry-After.
    rt = { provider, bulkhead: new Bulkhead({ name: 'dns', limit: 32, queue: 256, queueTimeoutMs: 30_000 }) };
    runtimes.set(ctx, rt);
  }
  return rt;
}

export default defineModule<DnsProvider>({
  name: 'dns',
  prefixes: ['/dns'],
  audience: 'foreman',
  authorize: true,
  settings: {
    use_provider: { default: 'dns_nsupdate', type: 'string' },
    dns_ttl: { default: 86400, type: 'integer' },
  },
  exposedSettings: ['use_provider'],
  providerIds: (settings) => [String(settings.use_provider)],
  start: (ctx) => {
    runtimeFor(ctx);
  },
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app, ctx) => {
    (await import('./api.ts')).dnsRoutes(app, runtimeFor(ctx));
  },
});
