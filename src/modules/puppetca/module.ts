// The puppetca module (spec puppetca.md): Puppet CA certificates and autosigning, for Foreman's
// host build ("Cleanup PuppetCA certificates", "Enable PuppetCA autosigning") and its UI.

import { defineModule, type Providers } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { PuppetCaError } from './errors.ts';
import { NotPresentError, type PuppetCaProvider } from './provider.ts';

export const CERTIFICATE_PROVIDER = 'puppetca_http_api';

const ONE_AUTOSIGN_PROVIDER =
  "use_provider must name exactly one autosign provider ('puppetca_hostname_whitelisting' or 'puppetca_token_whitelisting')";

/** use_provider as a list, with the certificate provider always last (and only once). */
export function providerList(ids: readonly string[]): string[] {
  return [...new Set(ids.filter((id) => id !== CERTIFICATE_PROVIDER)), CERTIFICATE_PROVIDER];
}

/** The autosign provider of the computed use_provider list: its one entry besides the certificates'. */
export function autosignProviderId(useProvider: readonly string[]): string | undefined {
  const others = useProvider.filter((id) => id !== CERTIFICATE_PROVIDER);
  return others.length === 1 ? others[0] : undefined;
}

export const PUPPETCA_SETTINGS = setting.settings({
  use_provider: setting.list({
    default: ['puppetca_hostname_whitelisting'],
    description:
      "The autosign provider, a name or a one-element list: puppetca_hostname_whitelisting (Puppet's autosign.conf) " +
      "or puppetca_token_whitelisting (one-time JWT tokens checked by Puppet's policy executable). puppetca_http_api " +
      '(the Puppet CA HTTP API, see puppetca_http_api.yml) is always added; /v2/features shows the resulting list.',
  }),
});

export default defineModule({
  name: 'puppetca',
  summary:
    "Puppet CA management: certificates of the Puppet CA and autosigning (Foreman's host build cleans a host's " +
    'certificate and enables autosigning for it).',
  prefixes: ['/puppet/ca'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: PUPPETCA_SETTINGS,
  computeSettings: (settings) =>
    Array.isArray(settings.use_provider)
      ? { ...settings, use_provider: providerList(settings.use_provider.map(String)) }
      : settings, // empty: left for the presence check to report
  providerIds: (s) => (Array.isArray(s.use_provider) ? s.use_provider : []),
  validate: (s) => (autosignProviderId(s.use_provider) === undefined ? { key: 'use_provider', message: ONE_AUTOSIGN_PROVIDER } : undefined),
  exposedSettings: ['puppet_url', 'use_provider'],
  // A provider's plain failure is 406 with the route's `Failed to … for <certname>: ` prefix, as
  // the reference answers; an autosign entry that is not there is 404 with the provider's text.
  errors: {
    untypedStatus: 406,
    translate: (err) => (err instanceof NotPresentError ? PuppetCaError.autosign_not_found(err.message) : undefined),
  },
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  async create(ctx, providers: Providers<PuppetCaProvider>) {
    const autosignId = autosignProviderId(ctx.settings.use_provider);
    if (autosignId === undefined) throw new Error(ONE_AUTOSIGN_PROVIDER);
    return (await import('./api.ts')).puppetcaModule(providers.get(autosignId), providers.get(CERTIFICATE_PROVIDER));
  },
});
