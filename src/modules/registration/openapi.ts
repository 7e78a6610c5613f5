// OpenAPI docs of the registration relay (spec registration.md §1); merged by
// core/openapi/generate.ts. Client audience: hosts call it with their registration token.

import { header, text } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation, OpenApiResponse } from '../../core/openapi/types.ts';

const SNIPPET = 'echo "Internal Server Error"\nexit 1\n';
const failure: OpenApiResponse = text(
  'Foreman could not be reached or answered without a Content-Type: a shell snippet that fails, since the host pipes the answer into a shell.',
  SNIPPET,
  'text/html',
);
const refused: OpenApiResponse = text(
  "Foreman's own error status is passed through (401 shown): its text/plain body, or the failing shell snippet for another content type.",
  'Unauthorized',
  'text/html',
);

const relay = (summary: string, extra: Partial<OpenApiOperation>): OpenApiOperation => ({
  summary,
  description:
    'Relayed to Foreman\'s `/register` (the path prefix of `foreman_url` is dropped, as in the reference) with `url=<registration_url or this proxy>` ' +
    'so that the generated script keeps talking to the proxy. Headers, including the bearer token, are forwarded.',
  ...extra,
  responses: {
    '200': text("Foreman's script (any 2xx), labelled text/html.", '#!/bin/sh', 'text/html'),
    '401': refused,
    '500': failure,
    '503': { $ref: '#/components/responses/Busy' },
  },
});

const authorization = header('Authorization', '`Bearer <jwt>` from the registration command; forwarded to Foreman.');

const docs: ModuleApiDocs = {
  'GET /register': relay('The global registration script', { parameters: [authorization] }),
  'POST /register': relay('The host registration script', {
    parameters: [authorization],
    requestBody: {
      required: false,
      description: 'A form body is forwarded as is (its query dropped); any other body is forwarded labelled JSON, with the query.',
      content: { 'application/x-www-form-urlencoded': { schema: { type: 'object' } }, 'application/json': { schema: { type: 'object' } } },
    },
  }),
};

export default docs;
