// Salt (spec plugins.md §8.1): the Salt master's autosign lists and minion keys, highstate runs,
// the Salt environments and states Foreman imports (through the Salt API), and the `salt`
// operation on the dynflow engine for Salt remote execution. Foreman's routes: trusted_hosts and
// its client certificate.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { SALT_ERRORS } from './errors.ts';

export const SALT_SETTINGS = setting.settings({
  autosign_file: setting.file({ default: '/etc/salt/autosign.conf', description: "The Salt master's autosign file (minion names, one a line)." }),
  autosign_key_file: setting.file({
    default: '/var/lib/foreman-proxy/salt/grains/autosign_key',
    description: 'File of autosign grain values (one a line) that the Salt master accepts (autosign_grains_dir).',
  }),
  salt_command_user: setting.string({ default: 'root', description: 'User the salt and salt-key commands run as (`sudo -n -u <user>`).' }),
  use_api: setting.boolean({ default: false, description: 'Use the Salt API (salt-api) for the environment and state listings; without it they answer 406.' }),
  api_url: setting.url({ optional: true, example: 'https://localhost:8080', description: 'URL of the Salt API (rest_cherrypy); required with use_api.' }),
  api_auth: setting.string({ default: 'pam', description: 'Salt eauth backend of the API user.' }),
  api_username: setting.string({ example: 'saltuser', description: 'Salt API user.' }),
  api_password: setting.string({ example: 'saltpassword', description: 'Password of the Salt API user (sent in the form body only; never logged).' }),
  saltfile: setting.file({
    default: '/etc/foreman-proxy/settings.d/salt.saltfile',
    description: 'Saltfile passed to salt (`--saltfile`) for remote execution runs, when it exists.',
  }),
  api_ssl_verify: setting.boolean({
    default: false,
    extension: true,
    description: "Verify the Salt API's TLS certificate (against api_ssl_ca, else the system CAs). Off by default, as in the reference (salt-api often runs with a self-signed certificate).",
  }),
  api_ssl_ca: setting.file({ extension: true, checks: ['readable'], example: '/etc/pki/salt-api/ca.pem', description: 'CA bundle that signed the Salt API certificate (with api_ssl_verify).' }),
  api_timeout: setting.number({ default: 30, exclusiveMinimum: 0, maximum: 3600, unit: 'seconds', extension: true, description: 'Deadline of one Salt API call.' }),
  command_timeout: setting.number({
    default: 60,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Deadline of one salt-key or `salt --async` command of the HTTP routes; it is stopped (TERM, then KILL) after it.',
  }),
  command_concurrency: setting.integer({ default: 4, minimum: 1, maximum: 256, extension: true, description: 'salt-key/salt commands and Salt API calls of the HTTP routes at once; more wait.' }),
  command_queue: setting.integer({ default: 100, minimum: 0, maximum: 100000, extension: true, description: 'Commands allowed to wait for a slot; beyond that Foreman gets 503 with Retry-After.' }),
  max_concurrent_runs: setting.integer({ default: 50, minimum: 1, maximum: 10000, extension: true, description: 'Remote execution salt runs at once; more wait for a slot (their tasks stay running).' }),
  kill_grace_period: setting.integer({
    default: 10,
    minimum: 0,
    maximum: 600,
    unit: 'seconds',
    extension: true,
    description: 'Grace between SIGTERM and SIGKILL when a salt run is cancelled or times out.',
  }),
});

export type SaltSettings = setting.Static<typeof SALT_SETTINGS>;

export default defineModule({
  name: 'salt',
  summary: 'Salt (/salt): autosign entries, minion keys, highstate, Salt environments and states, and the `salt` remote execution operation; needs the dynflow module.',
  prefixes: ['/salt'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  requires: ['dynflow'],
  settings: SALT_SETTINGS,
  errors: SALT_ERRORS,
  validate(s) {
    if (s.use_api && (s.api_url === undefined || s.api_url === '')) return { key: 'api_url', message: 'api_url must be set when use_api is true' };
    if (s.api_ssl_ca !== undefined && s.api_ssl_ca !== '' && !s.api_ssl_verify) {
      return { key: 'api_ssl_ca', message: 'api_ssl_ca is set but api_ssl_verify is false: set api_ssl_verify: true to verify the Salt API against it' };
    }
    return undefined;
  },
  create: async (ctx) => (await import('./api.ts')).saltModule(ctx),
});
