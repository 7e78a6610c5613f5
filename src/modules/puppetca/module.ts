// The puppetca module (spec puppetca.md): Puppet CA certificates and autosigning, for Foreman's
// host build ("Cleanup PuppetCA certificates", "Enable PuppetCA autosigning") and its UI.

import { defineModule, type Settings } from '../../core/module.ts';
import type { PuppetCaProvider } from './provider.ts';

export const CERTIFICATE_PROVIDER = 'puppetca_http_api';

/** use_provider as a list, with the certificate provider always last (and only once). */
export function providerList(value: unknown): string[] {
  const list = (Array.isArray(value) ? value : value === undefined || value === null || value === '' ? [] : [value]).map(String);
  return [...new Set(list.filter((id) => id !== CERTIFICATE_PROVIDER)), CERTIFICATE_PROVIDER];
}

export default defineModule<PuppetCaProvider>({
  name: 'puppetca',
  prefixes: ['/puppet/ca'],
  audience: 'foreman',
  authorize: true,
  settings: {
    use_provider: { default: 'puppetca_hostname_whitelisting' },
  },
  computeSettings: (settings: Settings) =>
    settings.use_provider === undefined || settings.use_provider === null || settings.use_provider === ''
      ? settings // left for the presence check to report
      : { ...settings, use_provider: providerList(settings.use_provider) },
  providerIds: (settings: Settings) => (Array.isArray(settings.use_provider) ? providerList(settings.use_provider) : []),
  exposedSettings: ['puppet_url', 'use_provider'],
  // Code is loaded when the module starts, so a disabled module costs no start-up time or memory.
  async start(ctx) {
    (await import('./api.ts')).backends(ctx.providers); // fail the group now, not on the first request, when misconfigured
  },
  routes: async (app, ctx) => (await import('./api.ts')).puppetcaRoutes(app, ctx),
});
