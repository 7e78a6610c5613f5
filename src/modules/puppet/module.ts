// The puppet module (spec puppet.md): Puppet environments and classes for the foreman_puppet
// plugin, always through the Puppet Server API provider.

import { defineModule, type Providers } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { PuppetError } from './errors.ts';
import { EnvironmentNotFoundError, PuppetTimeoutError, type PuppetProvider } from './provider.ts';

export const PUPPET_PROVIDER = 'puppet_proxy_puppet_api';

/** Nothing but `enabled`: the reference forces the provider whatever use_provider says. */
export const PUPPET_SETTINGS = setting.settings({});

export default defineModule({
  name: 'puppet',
  summary: 'Puppet environments and classes, for the foreman_puppet plugin. The provider is always puppet_proxy_puppet_api.',
  prefixes: ['/puppet'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: PUPPET_SETTINGS,
  computeSettings: (settings) => ({ ...settings, use_provider: [PUPPET_PROVIDER] }),
  providerIds: () => [PUPPET_PROVIDER],
  exposedSettings: ['puppet_url', 'use_provider'],
  // A provider's plain failure is 406 with the route's `Failed to … : ` prefix, as the reference.
  errors: {
    untypedStatus: 406,
    translate(err) {
      if (err instanceof EnvironmentNotFoundError) return PuppetError.environment_not_found(err.message);
      if (err instanceof PuppetTimeoutError) return PuppetError.timeout(err.message);
      return undefined;
    },
  },
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  async create(_ctx, providers: Providers<PuppetProvider>) {
    return (await import('./api.ts')).puppetModule(providers.get(PUPPET_PROVIDER));
  },
});
