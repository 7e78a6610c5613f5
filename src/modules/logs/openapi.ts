// OpenAPI docs of GET /logs (spec logs.md); merged by core/openapi/generate.ts.

import { arrayOf, error, int, json, obj, query, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const docs: ModuleApiDocs = {
  'GET /logs': {
    summary: 'Recent log entries and the failed modules',
    description: 'Foreman reads `failed_modules` to show why a feature is not running.',
    parameters: [query('from_timestamp', 'Only entries logged at or after this Unix time (seconds, fractional); 0 or absent: all.', { type: 'number' })],
    responses: {
      '400': error('Internal error.'),
      '200': json(
        'The log buffer.',
        obj(
          {
            info: obj({
              size: int('Entries the buffer holds.'),
              tail_size: int('Entries kept for errors once the buffer is full.'),
              level: { type: 'null' },
              level_tail: int('Level from which entries go to the tail.'),
              failed_modules: { type: 'object', additionalProperties: { type: 'string' }, description: 'Module or provider name → failure message.' },
            }),
            logs: arrayOf(obj({ timestamp: { type: 'number' }, level: str('Log level.'), message: str('The line.') }, undefined, { additionalProperties: true })),
          },
          undefined,
          { required: ['info', 'logs'] },
        ),
      ),
    },
  },
};

export default docs;
