// Templates (spec templates.md): hosts being provisioned fetch Foreman-rendered templates through
// the proxy. Client audience, no authorization, as in the reference.

import { defineModule } from '../../core/module.ts';
import { UPSTREAM_SETTINGS } from '../../core/http/upstream-settings.ts';
import * as setting from '../../core/settings/schema.ts';

export const TEMPLATES_SETTINGS = setting.settings({
  template_url: setting.url({
    required: true,
    example: 'http://smart-proxy.example.com:8000',
    description:
      "The URL hosts use to reach this proxy's template endpoints; Foreman embeds it in the templates it renders. " +
      'Most installers do not support https, so an http listener is usual here. Answered by /unattended/templateServer and shown in /v2/features.',
  }),
  ...UPSTREAM_SETTINGS,
});

export default defineModule({
  name: 'templates',
  summary:
    'Templates: hosts being provisioned fetch Foreman-rendered templates (/unattended/*, /userdata/*) through the proxy, ' +
    'for networks where they cannot reach Foreman. Needs :foreman_url: in settings.yml; the connection to Foreman uses ' +
    ':foreman_ssl_ca:/:foreman_ssl_cert:/:foreman_ssl_key: (falling back to :ssl_ca_file:/:ssl_certificate:/:ssl_private_key:).',
  prefixes: ['/unattended', '/userdata'],
  audience: 'client',
  authorize: false,
  settings: TEMPLATES_SETTINGS,
  exposedSettings: ['template_url'],
  // No error policy: every failure is a TemplatesError with the reference's status (the route's,
  // or Foreman's own passed on); anything else is a bug, answered as an unhandled 500.
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async (ctx) => (await import('./api.ts')).templatesModule(ctx.settings, ctx.global),
});
