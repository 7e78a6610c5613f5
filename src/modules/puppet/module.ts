// The puppet module (spec puppet.md): Puppet environments and classes for the foreman_puppet
// plugin, always through the Puppet Server API provider.

import { defineModule } from '../../core/module.ts';
import type { PuppetProvider } from './provider.ts';

export const PUPPET_PROVIDER = 'puppet_proxy_puppet_api';

export default defineModule<PuppetProvider>({
  name: 'puppet',
  prefixes: ['/puppet'],
  audience: 'foreman',
  authorize: true,
  settings: {},
  // The reference forces its only provider whatever the file says.
  computeSettings: (settings) => ({ ...settings, use_provider: [PUPPET_PROVIDER] }),
  providerIds: () => [PUPPET_PROVIDER],
  exposedSettings: ['puppet_url', 'use_provider'],
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app, ctx) => (await import('./api.ts')).puppetRoutes(app, ctx),
});
