// The pulpcore feature (spec content.md §3, gem smart_proxy_pulp): tells Katello where this
// proxy's Pulp is (`pulp_url`), whether it is the primary or a mirror, the host-facing content and
// RHSM URLs, and which Pulp plugins it runs (capabilities, from Pulp's status API). Katello reads
// all of it from /v2/features; the only route, GET /pulpcore/status, relays Pulp's status.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { PULPCORE_ERRORS } from './errors.ts';

/** Values the reference accepts in `client_authentication`, in its message's order. */
export const CLIENT_AUTHENTICATION_METHODS = ['password', 'client_certificate'] as const;

export const PULPCORE_SETTINGS = setting.settings({
  pulp_url: setting.url({
    required: true,
    example: 'https://capsule.example.com',
    description: 'Base URL of the Pulp API of this proxy (Katello appends /pulp/api/v3). Shown in /v2/features.',
  }),
  mirror: setting.boolean({
    default: false,
    description: 'true on a capsule (its Pulp mirrors the primary); false marks the Pulp primary that Katello itself manages. Shown in /v2/features.',
  }),
  content_app_url: setting.url({
    required: true,
    example: 'https://capsule.example.com/pulp/content',
    description: "Host-facing base of Pulp's content app (rhsm.baseurl of registered hosts). Shown in /v2/features.",
  }),
  username: setting.string({
    description: 'Pulp basic-auth user (unused by the installer). Shown in /v2/features.',
  }),
  password: setting.string({
    description:
      'Pulp basic-auth password. Accepted for compatibility; never published (the reference shows it in plain text in /v2/features, ' +
      'where it is always null here) and not used by the proxy itself.',
  }),
  client_authentication: setting.list({
    default: ['password', 'client_certificate'],
    description: 'How Katello may authenticate to this Pulp: one or more of password, client_certificate. Shown in /v2/features.',
  }),
  rhsm_url: setting.url({
    required: true,
    example: 'https://capsule.example.com:443/rhsm',
    description: 'Host-facing RHSM base (subscription-manager server.hostname/port/prefix); Katello requires https. Shown in /v2/features.',
  }),
  ssl_ca: setting.file({
    checks: ['readable'],
    description: "CA bundle that verifies Pulp's certificate for the status calls. Default: foreman_ssl_ca, then ssl_ca_file, then the system CAs.",
  }),
  capabilities_ttl: setting.number({
    default: 60,
    exclusiveMinimum: 0,
    maximum: 86400,
    unit: 'seconds',
    extension: true,
    description: "How long the capabilities read from Pulp's status are reused before Pulp is asked again.",
  }),
  capabilities_wait: setting.number({
    default: 2,
    minimum: 0,
    maximum: 60,
    unit: 'seconds',
    extension: true,
    description:
      'Longest time /v2/features waits for a refresh of expired capabilities; past it the last known ones are answered ' +
      '(none yet: an empty list) and the refresh finishes in the background.',
  }),
  status_timeout: setting.number({
    default: 10,
    exclusiveMinimum: 0,
    maximum: 600,
    unit: 'seconds',
    extension: true,
    description: "Deadline of one call to Pulp's status API (answer included).",
  }),
});

export default defineModule({
  name: 'pulpcore',
  summary: "Pulpcore: publishes this proxy's Pulp (API and content URLs, mirror or primary, plugins) to Katello in /v2/features.",
  prefixes: ['/pulpcore'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: false,
  settings: PULPCORE_SETTINGS,
  // The password is published as null, whatever the file says (spec content.md §6.3): the key
  // stays in /v2/features for the reference's shape, its value never leaves the proxy.
  computeSettings: (settings) => ({ ...settings, password: null }),
  validate: (s) => {
    const known: readonly string[] = CLIENT_AUTHENTICATION_METHODS;
    if (s.client_authentication.some((m) => !known.includes(m))) {
      return {
        key: 'client_authentication',
        message: `Parameter 'client_authentication' is expected to be one or more of ${JSON.stringify(CLIENT_AUTHENTICATION_METHODS).replace(/","/g, '", "')}`,
      };
    }
    return undefined;
  },
  exposedSettings: ['pulp_url', 'mirror', 'content_app_url', 'username', 'password', 'client_authentication', 'rhsm_url'],
  errors: PULPCORE_ERRORS,
  create: async (ctx) => (await import('./api.ts')).pulpcoreModule(ctx.settings, ctx.global, ctx.log),
});
