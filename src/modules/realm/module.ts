// The realm module (spec realm.md): host entries with one-time passwords in an identity realm,
// through the provider named by use_provider (realm_freeipa).

import { defineModule, type Providers } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { RealmProvider } from './provider.ts';

export const REALM_SETTINGS = setting.settings({
  use_provider: setting.string({ default: 'realm_freeipa', description: 'The realm provider: realm_freeipa (FreeIPA). Shown in /v2/features.' }),
});

export default defineModule({
  name: 'realm',
  summary: 'Realm join (/realm): host entries with one-time passwords in an identity realm such as FreeIPA.',
  prefixes: ['/realm'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: REALM_SETTINGS,
  exposedSettings: ['use_provider'],
  providerIds: (s) => [s.use_provider],
  // IPA's own errors (and a hung IPA) are answered 400 with their message, as the reference does.
  errors: { untypedStatus: 400 },
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  async create(ctx, providers: Providers<RealmProvider>) {
    return (await import('./api.ts')).realmModule(providers.get(ctx.settings.use_provider));
  },
});
