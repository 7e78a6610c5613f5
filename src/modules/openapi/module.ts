// The openapi module: the OpenAPI 3.1 description of every route this proxy serves, built from
// the running modules' own routes and their openapi.ts docs (core/openapi/generate.ts). Not a
// Foreman feature (published: false); control-plane listeners only, behind trusted_hosts and the
// client certificate like every Foreman-facing module.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';

export default defineModule({
  name: 'openapi',
  summary: 'The OpenAPI 3.1 description of the routes of this proxy (/apidoc), for operators and API clients.',
  published: false,
  prefixes: ['/apidoc'],
  audience: 'foreman',
  authorize: true,
  // Cheap (nothing is built until the document is asked for) and behind authorization.
  enabledByDefault: true,
  settings: setting.EMPTY_SETTINGS,
  exposedSettings: [],
  apiDocs: async () => (await import('./openapi.ts')).default,
  create: async (ctx) => (await import('./api.ts')).openapiModule(ctx.proxy, ctx.log),
});
