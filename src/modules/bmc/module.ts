// The BMC module (spec bmc.md): power, boot device, identify, LAN, FRU, sensors. Backends are
// chosen per request (bmc_provider), so they are internal classes, not core providers.

import { defineModule } from '../../core/module.ts';
import { BMC_SETTINGS } from './settings.ts';
import { installedIpmiTools } from './tools.ts';

export default defineModule({
  name: 'bmc',
  prefixes: ['/bmc'],
  audience: 'foreman',
  authorize: true,
  settings: BMC_SETTINGS,
  exposedSettings: [],
  capabilities: ['redfish', 'shell', 'ssh'],
  dynamicCapabilities: () => installedIpmiTools(),
  // Code is loaded when the module starts, so a disabled module costs no start-up time or memory.
  start: async (ctx) => {
    // Validates the extension settings now, so a bad value fails the module at start-up.
    (await import('./runtime.ts')).runtimeFor(ctx);
  },
  routes: async (app, ctx, prefix) => {
    const [{ registerBmcRoutes }, { runtimeFor }] = await Promise.all([import('./api.ts'), import('./runtime.ts')]);
    registerBmcRoutes(app, runtimeFor(ctx), prefix);
  },
});
