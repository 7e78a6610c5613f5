// OpenAPI docs of the root routes that core/http/app.ts registers itself (spec README §4).

import { arrayOf, error, json, obj, ref } from './components.ts';
import type { ModuleApiDocs } from './types.ts';

const featureState = obj(
  {
    http_enabled: { type: 'boolean', description: 'The module is served on HTTP (false when disabled or failed).' },
    https_enabled: { type: 'boolean', description: 'The module is served on HTTPS (false when disabled or failed).' },
    settings: { type: 'object', description: 'The settings the module publishes; every value is null while the module is not running.', additionalProperties: true },
    state: { type: 'string', enum: ['running', 'disabled', 'failed'] },
    capabilities: arrayOf({ type: 'string' }, "Union of the module's and its providers' capabilities, sorted; run-time ones only while running."),
  },
  undefined,
  { required: ['http_enabled', 'https_enabled', 'settings', 'state', 'capabilities'] },
);

export const rootDocs: ModuleApiDocs = {
  'GET /features': {
    summary: 'Names of the running features',
    description: 'Every running published module, sorted. No authorization. Served on every listener.',
    'x-audience': 'both',
    responses: {
      '200': json('The running features.', arrayOf({ type: 'string' }), ['dhcp', 'dns', 'logs', 'tftp']),
      '400': error('Internal error while listing the modules.'),
    },
  },
  'GET /version': {
    summary: 'Proxy version and the version of each running feature',
    description: 'No authorization. Served on every listener.',
    'x-audience': 'both',
    responses: {
      '200': json(
        'The versions.',
        obj({ version: { type: 'string' }, modules: { type: 'object', additionalProperties: { type: 'string' } } }, undefined, { required: ['version', 'modules'] }),
        { version: '3.11.0-develop', modules: { dns: '3.11.0', logs: '3.11.0' } },
      ),
      '400': error('Internal error while listing the modules.'),
    },
  },
  'GET /v2/features': {
    summary: 'Every feature with its state, published settings and capabilities',
    description:
      'Every published module, running or not, keyed by name. Foreman reads this to refresh the proxy; failure reasons are in `GET /logs`. ' +
      'trusted_hosts and client certificate required. Control-plane listeners only.',
    responses: {
      '200': json('The features by name.', { type: 'object', additionalProperties: featureState }, {
        dns: { http_enabled: false, https_enabled: true, settings: { use_provider: 'dns_nsupdate' }, state: 'running', capabilities: [] },
      }),
      '403': ref.forbidden,
      '500': error('Internal error while gathering the features (unlike /features, which answers 400).'),
    },
  },
};

/** The root routes as `[method, url]`, as app.ts registers them (the client-audience listener omits /v2/features). */
export const rootRoutes: readonly (readonly [string, string])[] = Object.keys(rootDocs).map((key) => {
  const [method, url] = key.split(' ');
  return [method, url] as const;
});
