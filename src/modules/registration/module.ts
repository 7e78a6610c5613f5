// Registration (spec registration.md): hosts run `curl <proxy>/register … | bash` and the proxy
// relays to Foreman, for networks where hosts cannot reach Foreman. Client audience, no
// authorization (the host authenticates to Foreman with its Bearer token, which is relayed).

import { defineModule } from '../../core/module.ts';
import { UPSTREAM_SETTINGS } from '../../core/http/upstream-settings.ts';
import * as setting from '../../core/settings/schema.ts';
import { REGISTRATION_ERRORS } from './errors.ts';

export const REGISTRATION_SETTINGS = setting.settings({
  registration_url: setting.url({
    optional: true,
    example: 'https://loadbalancer.example.com',
    description:
      'The URL Foreman puts into the registration script so hosts keep talking to this proxy (for example a load balancer ' +
      'in front of several proxies). Default: the URL the host used. A trailing / is removed. Shown in /v2/features.',
  }),
  ...UPSTREAM_SETTINGS,
});

export default defineModule({
  name: 'registration',
  summary:
    'Registration: hosts run the `curl … /register … | bash` command Foreman generates against this proxy, which relays it ' +
    'to Foreman. Requires the templates module and :foreman_url: in settings.yml (TLS to Foreman as for templates).',
  prefixes: ['/register'],
  audience: 'client',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: false,
  requires: ['templates'],
  settings: REGISTRATION_SETTINGS,
  computeSettings: (settings) => {
    const url = settings['registration_url'];
    return typeof url === 'string' && url.endsWith('/') ? { ...settings, registration_url: url.slice(0, -1) } : settings;
  },
  exposedSettings: ['registration_url'],
  errors: REGISTRATION_ERRORS,
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async (ctx) => (await import('./api.ts')).registrationModule(ctx.settings, ctx.global),
});
