// Templates (spec templates.md): hosts being provisioned fetch Foreman-rendered templates through
// the proxy. Client audience, no authorization, as in the reference.

import { defineModule } from '../../core/module.ts';

export default defineModule({
  name: 'templates',
  prefixes: ['/unattended', '/userdata'],
  audience: 'client',
  authorize: false,
  settings: {
    template_url: { type: 'string', checks: ['url'] },
    // our additions (not in the reference): limits on the work sent to Foreman
    upstream_timeout: { type: 'number', default: 55 },
    upstream_concurrency: { type: 'integer', default: 64 },
    upstream_queue: { type: 'integer', default: 2000 },
    upstream_queue_timeout: { type: 'number', default: 60 },
  },
  exposedSettings: ['template_url'],
  // The reference checks foreman_url in its legacy init hook: the failure is recorded but the
  // module stays running (and every relayed request then fails).
  softCheck: (ctx) => (ctx.global.foremanUrl === null ? 'missing :foreman_url: from configuration.' : undefined),
  // Code is loaded when the module starts, so a disabled module costs no start-up time or memory.
  start: async (ctx) => (await import('./upstream.ts')).startUpstream(ctx),
  routes: async (app, ctx, prefix) => {
    const api = await import('./api.ts');
    if (prefix === '/userdata') api.userdataRoutes(app, ctx);
    else api.unattendedRoutes(app, ctx);
  },
});
