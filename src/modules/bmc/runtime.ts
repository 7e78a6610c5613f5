// The BMC module's shared runtime: one Redfish connection pool and one bulkhead per module
// context, created when the module starts.

import { Agent } from 'undici';
import type { ModuleContext } from '../../core/module.ts';
import { Bulkhead } from '../../core/bulkhead.ts';
import { readBmcSettings } from './settings.ts';
import type { BmcRuntime } from './request.ts';

// routes() runs once per prefix and listener; the pool and bulkhead must be shared by all.
const runtimes = new WeakMap<object, BmcRuntime>();

export function runtimeFor(ctx: ModuleContext): BmcRuntime {
  let rt = runtimes.get(ctx);
  if (rt) return rt;
  const settings = readBmcSettings(ctx.settings);
  const agent = new Agent({
    connections: 4,
    keepAliveTimeout: 4_000,
    connectTimeout: Math.min(settings.timeoutMs, 10_000),
    headersTimeout: settings.timeoutMs,
    bodyTimeout: settings.timeoutMs,
    connect: { rejectUnauthorized: settings.redfishVerifySsl },
  });
  ctx.signal.addEventListener('abort', () => void agent.close().catch(() => undefined), { once: true });
  rt = {
    settings,
    log: ctx.log,
    signal: ctx.signal,
    redfishDispatcher: agent,
    bulkhead: new Bulkhead({
      name: 'bmc',
      limit: settings.maxConcurrent,
      queue: settings.maxConcurrent * 4,
      queueTimeoutMs: settings.timeoutMs,
    }),
  };
  runtimes.set(ctx, rt);
  return rt;
}
