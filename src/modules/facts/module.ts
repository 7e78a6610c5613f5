// The facts module (spec facts.md): the proxy host's own facts, gathered natively in Facter 4's
// shape (the reference needs the Ruby facter library; nothing external is needed here).

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';

export default defineModule({
  name: 'facts',
  summary: "The proxy host's own facts (/facts), in Facter 4's shape.",
  prefixes: ['/facts'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: setting.EMPTY_SETTINGS,
  exposedSettings: [],
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async () => (await import('./api.ts')).factsModule(),
});
