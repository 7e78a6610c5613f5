// The facts module (spec facts.md): the proxy host's own facts, gathered natively in Facter 4's
// shape (the reference needs the Ruby facter library; nothing external is needed here).

import { defineModule } from '../../core/module.ts';
import type { Facts } from './gather.ts';

// Concurrent requests share one gathering; the next request after it finishes gathers afresh.
let inflight: Promise<Facts> | undefined;
function freshFacts(): Promise<Facts> {
  inflight ??= import('./gather.ts').then((g) => g.gatherFacts()).finally(() => {
    inflight = undefined;
  });
  return inflight;
}

export default defineModule({
  name: 'facts',
  prefixes: ['/facts'],
  audience: 'foreman',
  authorize: true,
  settings: {},
  exposedSettings: [],
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app) => {
    (await import('./api.ts')).factsRoutes(app, freshFacts);
  },
});
