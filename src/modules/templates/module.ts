// Templates (spec templates.md): hosts being provisioned fetch Foreman-rendered templates through
// the proxy. Client audience, no authorization, as in the reference.

import { defineModule } from '../../core/module.ts';
import { UPSTREAM_SETTINGS } from '../../core/http/upstream-settings.ts';
import * as setting from '../../core/settings/schema.ts';
import { parseShareRules } from './sharing.ts';

export const TEMPLATES_SETTINGS = setting.settings({
  template_url: setting.url({
    required: true,
    example: 'http://smart-proxy.example.com:8000',
    description:
      "The URL hosts use to reach this proxy's template endpoints; Foreman embeds it in the templates it renders. " +
      'Most installers do not support https, so an http listener is usual here. Answered by /unattended/templateServer and shown in /v2/features.',
  }),
  ...UPSTREAM_SETTINGS,
  shared_requests: setting.list({
    default: ['template/*/*', 'iPXE?bootstrap', 'gPXE?bootstrap'],
    extension: true,
    description:
      'Template requests that may share one answer from Foreman: identical requests arriving together are relayed once ' +
      '(and cached when shared_cache_ttl is set). Each entry is <kind>[?param[&param…]] (GET /unattended/<kind> with exactly ' +
      'those params besides url) or <kind>/<template>/<hostgroup> (* for any segment). Requests with token, mac, hostname, ' +
      'spoof or ip, MAC headers or credentials (Authorization, Cookie) never share. Empty: every request goes to Foreman on its own.',
  }),
  shared_across_hosts: setting.boolean({
    default: false,
    extension: true,
    description:
      'Foreman picks the host of a /unattended/<kind> request by its address, even for the iPXE bootstrap, so by default only ' +
      'requests from the same address share. true: requests from different hosts share and are relayed without X-Forwarded-For. ' +
      'Only when Foreman knows none of the booting hosts (nor this proxy) by address, or hosts it knows would get the wrong template.',
  }),
  shared_cache_ttl: setting.number({
    default: 0,
    minimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description:
      "Keep a shared answer this long at most, within Foreman's Cache-Control (no-store, private, no-cache: not kept; " +
      'max-age/s-maxage: shorter). 0: coalescing only. Stock Foreman marks its answers private, max-age=0.',
  }),
  shared_cache_entries: setting.integer({
    default: 256,
    minimum: 1,
    maximum: 100000,
    extension: true,
    description: 'Most shared answers kept at once (least recently used dropped first).',
  }),
  shared_body_limit: setting.integer({
    default: 1048576,
    minimum: 1024,
    maximum: 67108864,
    unit: 'bytes',
    extension: true,
    description:
      'Largest answer that is shared (held in memory). A larger one is streamed to the request that caused it; the requests ' +
      'that waited for it are then relayed on their own.',
  }),
});

export default defineModule({
  name: 'templates',
  summary:
    'Templates: hosts being provisioned fetch Foreman-rendered templates (/unattended/*, /userdata/*) through the proxy, ' +
    'for networks where they cannot reach Foreman. Needs :foreman_url: in settings.yml; the connection to Foreman uses ' +
    ':foreman_ssl_ca:/:foreman_ssl_cert:/:foreman_ssl_key: (falling back to :ssl_ca_file:/:ssl_certificate:/:ssl_private_key:).',
  prefixes: ['/unattended', '/userdata'],
  audience: 'client',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: false,
  settings: TEMPLATES_SETTINGS,
  exposedSettings: ['template_url'],
  validate: (settings) => {
    try {
      parseShareRules(settings.shared_requests);
      return undefined;
    } catch (err) {
      return { key: 'shared_requests', message: err instanceof Error ? err.message : String(err) };
    }
  },
  // No error policy: every failure is a TemplatesError with the reference's status (the route's,
  // or Foreman's own passed on); anything else is a bug, answered as an unhandled 500.
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async (ctx) => (await import('./api.ts')).templatesModule(ctx.settings, ctx.global),
});
