// OpenAPI docs of GET /pulpcore/status (spec content.md §3.3); merged by core/openapi/generate.ts.

import { error, json, ref, text } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const docs: ModuleApiDocs = {
  'GET /pulpcore/status': {
    summary: "Pulp's status, relayed",
    description:
      "Pulp's `/pulp/api/v3/status/` body as is. No authorization. A Pulp error status is answered 200 with the code before the message " +
      '(the reference\'s quirk, text/html).',
    responses: {
      '200': {
        description: "Pulp's status (JSON), or the quirk's text for a Pulp error.",
        content: {
          ...(json('', { type: 'object', additionalProperties: true }).content as Record<string, unknown>),
          ...(text('', "500Pulp server at https://pulp.example.com returned an error: 'Internal Server Error'", 'text/html').content as Record<string, unknown>),
        },
      },
      '500': ref.internal,
      '503': error('Pulp could not be reached.', "Communication error with 'pulp.example.com': connection refused"),
    },
  },
};

export default docs;
