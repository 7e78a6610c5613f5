// The logs module (spec logs.md): Foreman reads the proxy's recent log and module failures here.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { logsRoutes } from './api.ts';

export default defineModule({
  name: 'logs',
  summary: "Recent log lines and module failures (/logs), read by Foreman's proxy page.",
  prefixes: ['/logs'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  enabledByDefault: true,
  settings: setting.EMPTY_SETTINGS,
  exposedSettings: [],
  // The reference answers any failure of /logs with 400 and the error's text.
  errors: { untypedStatus: 400 },
  create: (ctx) => ({ routes: (app) => logsRoutes(app, ctx.proxy) }),
});
