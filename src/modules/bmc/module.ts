// The BMC module (spec bmc.md): power, boot device, identify, LAN, FRU, sensors. Backends are
// chosen per request (bmc_provider), so they are internal classes, not core providers.

import { Agent } from 'undici';
import { defineModule, type ModuleContext } from '../../core/module.ts';
import { Bulkhead } from '../../core/bulkhead.ts';
import { registerBmcRoutes } from './api.ts';
import { BMC_SETTINGS, readBmcSettings } from './settings.ts';
import type { BmcRuntime } from './request.ts';
import { installedIpmiTools } from './tools.ts';

// routes() runs once per prefix and listener; the pool and bulkhead must be shared by all.
const runtimes = new WeakMap<object, BmcRuntime>();

function runtimeFor(ctx: ModuleContext): BmcRuntime {
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

export default defineModule({
  name: 'bmc',
  prefixes: ['/bmc'],
  audience: 'foreman',
  authorize: true,
  settings: BMC_SETTINGS,
  exposedSettings: [],
  capabilities: ['redfish', 'shell', 'ssh'],
  dynamicCapabilities: () => installedIpmiTools(),
  start: (ctx) => {
    // Validates the extension settings now, so a bad value fails the module at start-up.
    runtimeFor(ctx);
  },
  routes: (app, ctx, prefix) => {
    registerBmcRoutes(app, runtimeFor(ctx), prefix);
  },
});
