// The facts module (spec facts.md): the proxy host's own facts, gathered natively in Facter 4's
// shape (the reference needs the Ruby facter library; nothing external is needed here).

import { defineModule } from '../../core/module.ts';
import { factsRoutes } from './api.ts';
import { gatherFacts, type Facts } from './gather.ts';

// Concurrent requests share one gathering; the next request after it finishes gathers afresh.
let inflight: Promise<Facts> | undefined;
function freshFacts(): Promise<Facts> {
  inflight ??= gatherFacts().finally(() => {
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
  routes: (app) => {
    factsRoutes(app, freshFacts);
  },
});
