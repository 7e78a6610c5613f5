// OpenAPI docs of /metrics, /status and /status.json (README.md); merged by core/openapi/generate.ts.

import { arrayOf, int, json, obj, ref, str, text } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const nullableNumber = (description: string) => ({ type: ['number', 'null'], description });

const status = obj(
  {
    generated_at: str('When the answer was made (ISO 8601).'),
    uptime_seconds: int('Seconds since the proxy process started.'),
    modules: arrayOf(
      obj({
        name: str('Module name.'),
        state: str('running, disabled or failed.', { enum: ['running', 'disabled', 'failed'] }),
        enabled: str('The `:enabled:` value (false, both, http, https).'),
        published: { type: 'boolean', description: 'Whether it is a Foreman feature.' },
        prefixes: arrayOf(str('A URL prefix the module owns.')),
        failure: { type: ['string', 'null'], description: 'Why the module failed (or its soft failure while running).' },
      }),
    ),
    listeners: arrayOf(
      obj({
        name: str('Listener name.'),
        scheme: str('http or https.'),
        audience: str('foreman or client.'),
        addresses: arrayOf(str('A bound `host:port`.')),
        modules: arrayOf(str('A module mounted on it.')),
      }),
    ),
    requests: arrayOf(
      obj({
        module: str('Module (`core` for the root routes, `none` for unmatched requests).'),
        requests_total: int('Requests answered since start.'),
        server_errors_total: int('Of which answered with a 5xx status.'),
        rate_per_second: nullableNumber('Requests per second over the window; null until a sample is a second old.'),
        mean_latency_seconds: nullableNumber('Mean latency over the window; null without requests in it.'),
        window_seconds: nullableNumber('Length of the window (at most 60 s).'),
      }),
    ),
    bulkheads: arrayOf(obj({ name: str('Bulkhead name.'), in_flight: int('Calls running.'), queued: int('Calls waiting.'), limit: int('Calls run at once.') })),
    recent_errors: arrayOf(
      obj({
        time: str('When it was logged (ISO 8601).'),
        level: str('ERROR or FATAL.'),
        message: str('The log line.'),
        request_id: { type: ['string', 'null'], description: 'The request it belongs to.' },
      }),
    ),
  },
  undefined,
  { required: ['generated_at', 'uptime_seconds', 'modules', 'listeners', 'requests', 'bulkheads', 'recent_errors'] },
);

const access =
  'Authorized as every module (trusted_hosts and the client certificate), except for the peers listed in the module setting ';

const docs: ModuleApiDocs = {
  'GET /metrics': {
    summary: "The proxy's Prometheus metrics",
    description: `${access}\`scrape_addresses\`. Not a Foreman feature.`,
    responses: {
      '200': text('Metrics in the Prometheus text exposition format 0.0.4.', undefined, 'text/plain; version=0.0.4'),
      '403': ref.forbidden,
    },
  },
  'GET /status': {
    summary: 'The operator status page (HTML)',
    description: `${access}\`status_addresses\`. Modules and states, listeners, request rates, bulkheads and recent errors; reloads itself every \`status_refresh\` seconds.`,
    responses: {
      '200': text('The page.', undefined, 'text/html'),
      '403': ref.forbidden,
    },
  },
  'GET /status.json': {
    summary: 'The status page as data',
    description: `${access}\`status_addresses\`.`,
    responses: {
      '200': json('What the status page shows.', status),
      '403': ref.forbidden,
    },
  },
};

export default docs;
