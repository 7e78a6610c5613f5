// The metrics module (issue 13): the proxy's Prometheus metrics (/metrics), and a status page for
// operators (/status, /status.json). Not a Foreman feature (published: false); an operator usually
// gives it a listener of its own (`listeners:` in settings.yml with `modules: [metrics]`).

import { addressEntryProblem } from '../../lib/net/address-list.ts';
import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { Static } from '../../core/settings/schema.ts';

export const METRICS_SETTINGS = setting.settings({
  scrape_addresses: setting.list({
    default: [],
    extension: true,
    example: ['192.0.2.15', '198.51.100.0/24'],
    description:
      'Addresses or subnets (address/prefix) allowed to read /metrics without passing trusted_hosts or presenting a client certificate, over HTTP or HTTPS: Prometheus scrapers rarely have a client certificate. Everyone else is authorized as on any other module.',
  }),
  status_addresses: setting.list({
    default: [],
    extension: true,
    example: ['192.0.2.0/24'],
    description:
      'Addresses or subnets (address/prefix) allowed to read /status and /status.json without passing trusted_hosts or presenting a client certificate (an operator\'s browser). Everyone else is authorized as on any other module.',
  }),
  status_refresh: setting.integer({
    default: 10,
    minimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'How often the status page reloads itself in the browser; 0 turns reloading off.',
  }),
  status_recent_errors: setting.integer({
    default: 20,
    minimum: 0,
    maximum: 1000,
    extension: true,
    description: 'ERROR and FATAL lines of the log buffer shown on the status page, newest first.',
  }),
});

export type MetricsSettings = Static<typeof METRICS_SETTINGS>;

export default defineModule({
  name: 'metrics',
  summary: 'Prometheus metrics (/metrics) and an operator status page (/status, /status.json). Not a Foreman feature.',
  published: false,
  prefixes: ['/metrics', '/status', '/status.json'],
  audience: 'foreman',
  // The module authorizes its own requests (api.ts): trusted_hosts and the client certificate as the
  // core does, except for the peers its settings list; the rest of the proxy is untouched.
  authorize: false,
  settings: METRICS_SETTINGS,
  exposedSettings: [],
  validate: (s) => {
    for (const key of ['scrape_addresses', 'status_addresses'] as const) {
      for (const [i, entry] of s[key].entries()) {
        const problem = addressEntryProblem(entry);
        if (problem) return { key: `${key}[${i}]`, message: `metrics.yml: ${key}[${i}]: ${problem}` };
      }
    }
    return undefined;
  },
  apiDocs: async () => (await import('./openapi.ts')).default,
  create: async (ctx) => (await import('./api.ts')).metricsModule(ctx),
});
