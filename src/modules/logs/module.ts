// The logs module (spec logs.md): Foreman reads the proxy's recent log and module failures here.

import { defineModule } from '../../core/module.ts';
import { logsRoutes } from './api.ts';

export default defineModule({
  name: 'logs',
  prefixes: ['/logs'],
  audience: 'foreman',
  authorize: true,
  enabledByDefault: true,
  settings: {},
  exposedSettings: [],
  routes: logsRoutes,
});
