// The shellhooks module (spec plugins.md §5): foreman_webhooks runs local executables from one
// directory through POST /shellhook/<name>, with the webhook's body on standard input and
// X-Shellhook-Arg-N headers as arguments. Setting names follow smart_proxy_shellhooks.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { SHELLHOOK_ERRORS } from './errors.ts';

export const SHELLHOOKS_SETTINGS = setting.settings({
  directory: setting.file({
    default: '/var/lib/foreman/shellhooks',
    description: 'Directory of the hooks: executable regular files (the installer writes /var/lib/foreman-proxy/shellhooks).',
  }),
  hook_timeout: setting.integer({
    default: 300,
    minimum: 1,
    maximum: 86_400,
    unit: 'seconds',
    extension: true,
    description: 'A hook still running after this long is stopped (TERM, then KILL 2 s later). The plugin never stops one.',
  }),
  max_running: setting.integer({
    default: 8,
    minimum: 1,
    maximum: 256,
    extension: true,
    description: 'Hooks running at once; up to 32 times as many wait their turn, beyond that POST answers 503 with Retry-After.',
  }),
  max_output: setting.integer({
    default: 65_536,
    minimum: 0,
    unit: 'bytes',
    extension: true,
    description: 'Bytes of each of standard output and standard error of a run that are logged; the rest is dropped.',
  }),
});

export default defineModule({
  name: 'shellhooks',
  summary: 'Shell hooks (/shellhook): foreman_webhooks runs executables of one directory, the webhook body on their standard input.',
  prefixes: ['/shellhook'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: SHELLHOOKS_SETTINGS,
  exposedSettings: [],
  errors: SHELLHOOK_ERRORS,
  async create(ctx) {
    return (await import('./api.ts')).shellhooksModule(ctx);
  },
});
