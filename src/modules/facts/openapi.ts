// OpenAPI docs of the facts routes (spec facts.md); merged by core/openapi/generate.ts.

import { error, json, path } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const docs: ModuleApiDocs = {
  'GET /facts': {
    summary: 'Facts of the proxy host',
    description: 'Gathered on request; concurrent requests share one gathering.',
    responses: { '200': json('Fact name → value.', { type: 'object', additionalProperties: true }), '400': error('The facts could not be gathered.') },
  },
  'GET /facts/:fact': {
    summary: 'One fact of the proxy host',
    parameters: [path('fact', 'The fact name.')],
    responses: {
      '200': json('`{"<fact>": <value>}`; values keep their JSON type.', { type: 'object', additionalProperties: true }, { hostname: 'proxy' }),
      '400': error('A name the fact gatherer does not know (400, not 404: the reference\'s quirk), or a gathering failure.'),
      '404': error('The fact exists but has no value.', 'Fact ipaddress6 not found'),
    },
  },
};

export default docs;
