// Registration (spec registration.md): hosts run `curl <proxy>/register … | bash` and the proxy
// relays to Foreman, for networks where hosts cannot reach Foreman. Client audience, no
// authorization (the host authenticates to Foreman with its Bearer token, which is relayed).

import { defineModule } from '../../core/module.ts';

export default defineModule({
  name: 'registration',
  prefixes: ['/register'],
  audience: 'client',
  authorize: false,
  requires: ['templates'],
  settings: {
    registration_url: { type: 'string', checks: ['optional_url'] },
    // our additions (not in the reference): a burst of registering hosts queues here, at most
    // upstream_concurrency of them reaching Foreman at once
    upstream_timeout: { type: 'number', default: 55 },
    upstream_concurrency: { type: 'integer', default: 64 },
    upstream_queue: { type: 'integer', default: 2000 },
    upstream_queue_timeout: { type: 'number', default: 60 },
  },
  computeSettings: (settings) => {
    const url = settings['registration_url'];
    return typeof url === 'string' && url.endsWith('/') ? { ...settings, registration_url: url.slice(0, -1) } : settings;
  },
  exposedSettings: ['registration_url'],
  // Code is loaded when the module starts, so a disabled module costs no start-up time or memory.
  start: async (ctx) => (await import('./upstream.ts')).startUpstream(ctx),
  routes: async (app, ctx) => (await import('./api.ts')).registrationRoutes(app, ctx),
});
