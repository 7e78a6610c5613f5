// OpenAPI docs of the Puppet routes (spec puppet.md §1); merged by core/openapi/generate.ts.

import { arrayOf, error, json, obj, path, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const environment = path('environment', 'Puppet environment name.');
const unknown = error('No such environment.', "Could not find environment 'staging'");
const slow = {
  ...error('Puppet Server is still computing the classes (the request continues and fills the cache).', 'Puppet is taking too long to respond, please try again later.'),
  headers: { 'Retry-After': { description: 'Seconds.', schema: { type: 'integer' } } },
};

const docs: ModuleApiDocs = {
  'POST /puppet/run': {
    summary: 'Puppet run (removed)',
    deprecated: true,
    responses: { '501': error('Always: the feature was removed.', 'Puppetrun support has been removed in version 2.3') },
  },
  'GET /puppet/environments': {
    summary: 'List the Puppet environments',
    responses: {
      '200': json('Environment names, in Puppet\'s order.', arrayOf({ type: 'string' }), ['production', 'development']),
      '406': error('Puppet Server could not be queried.', 'Failed to list puppet environments: connection refused'),
    },
  },
  'GET /puppet/environments/:environment': {
    summary: 'One Puppet environment',
    parameters: [environment],
    responses: {
      '200': json('The environment and its module paths.', obj({ name: str('Name.'), paths: arrayOf({ type: 'string' }) }), {
        name: 'production',
        paths: ['/etc/puppetlabs/code/environments/production/modules'],
      }),
      '404': unknown,
      '406': error('Puppet Server could not be queried.', 'Failed to show puppet environment: connection refused'),
    },
  },
  'GET /puppet/environments/:environment/classes': {
    summary: 'Puppet classes of an environment (legacy format)',
    description: 'One single-key object per class; manifests that failed to parse are skipped.',
    parameters: [environment],
    responses: {
      '200': json('The classes.', arrayOf({ type: 'object', additionalProperties: obj({ name: str('Class name after the module.'), module: { type: ['string', 'null'] }, params: { type: 'object' } }) })),
      '404': unknown,
      '406': error('Puppet Server failed.', 'Failed to show puppet classes: 500 Internal Server Error'),
      '503': slow,
    },
  },
  'GET /puppet/environments/:environment/classes_and_errors': {
    summary: 'Puppet classes of an environment, per manifest, with parse errors',
    parameters: [environment],
    responses: {
      '200': json('One entry per manifest: `{path, classes}` or `{path, error}`.', arrayOf(obj({ path: str('Manifest file.'), classes: arrayOf({ type: 'object' }), error: str('Parse error.') }))),
      '404': unknown,
      '406': error('Puppet Server failed.', 'Failed to show puppet classes: 500 Internal Server Error'),
      '501': error('The provider cannot list parse errors.'),
      '503': slow,
    },
  },
};

export default docs;
