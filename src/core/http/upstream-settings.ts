// The upstream_* settings of a module that relays host requests to Foreman (templates,
// registration), spread into each module's settings schema. Kept apart from foreman-link.ts so a
// module definition declaring them loads no HTTP client at start-up.

import * as setting from '../settings/schema.ts';

/** Our additions (not in the reference): limits on the work sent to Foreman. */
export const UPSTREAM_SETTINGS = {
  upstream_timeout: setting.number({
    default: 55,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Deadline of one relayed request to Foreman, answer included.',
  }),
  upstream_concurrency: setting.integer({
    default: 64,
    minimum: 1,
    maximum: 10000,
    extension: true,
    description: 'Relayed requests at Foreman at once (also the size of the connection pool).',
  }),
  upstream_queue: setting.integer({
    default: 2000,
    minimum: 0,
    maximum: 1000000,
    extension: true,
    description: 'Requests allowed to wait for a free slot; beyond that hosts get 503 with Retry-After.',
  }),
  upstream_queue_timeout: setting.number({
    default: 60,
    exclusiveMinimum: 0,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'Longest wait for a free slot before the host gets 503 with Retry-After.',
  }),
};

export type UpstreamSettings = setting.Static<setting.TObject<typeof UPSTREAM_SETTINGS>>;

