// The host-facing front end of a capsule (spec content.md §1.3, §4), which the reference leaves to
// Apache: subscription-manager, Insights and registration-command traffic relayed to Katello with
// the host's verified certificate in X-RHSM-SSL-Client-Cert; the content paths relayed to Pulp's
// content app with the X-CLIENT-CERT handling of its cert guard; /pub served from a directory.
// Not a Foreman feature (published: false), mounted on client listeners only.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { CAPSULE_ERRORS } from './errors.ts';
import { ALL_PREFIXES, parseContentOrigin } from './routes.ts';

const timeout = (what: string, seconds: number) =>
  setting.number({
    default: seconds,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description:
      `Longest wait for ${what}, counted from the request's arrival (time waiting for a free slot included), and longest ` +
      'silence in the answer. Keep it at least as long as the clients wait themselves: shorter, and they get errors they ' +
      'would not have had.',
  });

const concurrency = (what: string, count: number) =>
  setting.integer({
    default: count,
    minimum: 1,
    maximum: 100000,
    extension: true,
    description: `Requests relayed to ${what} at once (also the size of its connection pool); further requests wait in turn.`,
  });

const queue = (count: number) =>
  setting.integer({
    default: count,
    minimum: 0,
    maximum: 1000000,
    extension: true,
    description: 'Requests allowed to wait for a free slot; beyond that the client gets 503 with Retry-After.',
  });

export const CAPSULE_SETTINGS = setting.settings({
  katello_url: setting.url({
    optional: true,
    example: 'https://katello.example.com',
    extension: true,
    description: 'Where /rhsm, /redhat_access, /api/lightspeed and /api/registration_commands are relayed. Default: foreman_url of settings.yml.',
  }),
  katello_ssl_ca: setting.file({
    checks: ['readable'],
    extension: true,
    description: "CA bundle that verifies Katello's certificate. Default: foreman_ssl_ca, then ssl_ca_file (neither: not verified, as for Foreman).",
  }),
  katello_ssl_cert: setting.file({
    checks: ['readable'],
    requires: ['katello_ssl_key'],
    extension: true,
    description: "The proxy's client certificate towards Katello. Default: foreman_ssl_cert, then ssl_certificate.",
  }),
  katello_ssl_key: setting.file({
    checks: ['readable'],
    requires: ['katello_ssl_cert'],
    extension: true,
    description: 'Key of katello_ssl_cert. Default: foreman_ssl_key, then ssl_private_key.',
  }),
  rhsm_timeout: timeout('the answer of Katello to /rhsm, /api/registration_commands and /katello/api/v2/repositories (subscription-manager waits 180 s)', 180),
  rhsm_concurrency: concurrency('Katello for /rhsm, /api/registration_commands and /katello/api/v2/repositories', 128),
  rhsm_queue: queue(10000),
  insights_timeout: timeout('the answer of Katello to /redhat_access and /api/lightspeed (insights-client waits 120 s)', 120),
  insights_concurrency: concurrency('Katello for /redhat_access and /api/lightspeed', 32),
  insights_queue: queue(2000),
  pulp_content_url: setting.string({
    default: 'unix:/run/pulpcore-content.sock',
    extension: true,
    description:
      "Pulp's content app: `unix:<socket path>`, or an http:// or https:// origin without a path. /pulp/content, /pulp/repos, " +
      '/pulp/isos and /pulp/deb go to its /pulp/content, /pulp/container to its /pulp/container.',
  }),
  content_timeout: setting.number({
    default: 600,
    exclusiveMinimum: 0,
    maximum: 86400,
    unit: 'seconds',
    extension: true,
    description:
      "Longest wait for the content app's answer, and longest silence while its body streams (Apache's timeout=600 of the " +
      'reference). A download as such has no deadline: large files take what they take.',
  }),
  content_concurrency: concurrency("Pulp's content app", 512),
  content_queue: queue(10000),
  content_queue_timeout: setting.number({
    default: 30,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Longest wait for a free content slot before the client gets 503 with Retry-After (dnf itself gives up after 30 s of silence).',
  }),
  pub_dir: setting.string({
    default: '/var/www/html/pub',
    extension: true,
    description: 'Directory served under /pub (CA certificate, katello-ca-consumer RPM, bootstrap scripts), with a listing.',
  }),
  trusted_frontends: setting.list({
    extension: true,
    example: ['127.0.0.1'],
    description:
      'Addresses of reverse proxies in front of this listener that terminate TLS themselves and pass the client certificate ' +
      'they verified on in X-RHSM-SSL-Client-Cert and X-Client-Cert: from these peers those headers are relayed as received. ' +
      'From anyone else they are removed and replaced by the certificate this listener verified.',
  }),
});

export default defineModule({
  name: 'capsule',
  published: false,
  summary:
    "Capsule front end (host-facing, what Apache does on the reference's capsule): /rhsm, /redhat_access, /api/lightspeed and " +
    "/api/registration_commands relayed to Katello; /pulp/{content,repos,isos,deb,container} relayed to Pulp's content app; /pub.",
  prefixes: ALL_PREFIXES,
  audience: 'client',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: false,
  settings: CAPSULE_SETTINGS,
  validate: (s) => {
    const problem = parseContentOrigin(s.pulp_content_url);
    return typeof problem === 'string' ? { key: 'pulp_content_url', message: `capsule.yml: pulp_content_url ${problem}` } : undefined;
  },
  errors: CAPSULE_ERRORS,
  create: async (ctx) => (await import('./api.ts')).capsuleModule(ctx.settings, ctx.global, ctx.log),
});
