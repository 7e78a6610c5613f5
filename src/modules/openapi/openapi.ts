// OpenAPI docs of the openapi module's own routes; merged by core/openapi/generate.ts.

import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const description =
  'Built from the routes the running modules register and their docs on the first request, and kept until a module is restarted. ' +
  '`servers` names the origin of the request. Control-plane listeners only.';

const docs: ModuleApiDocs = {
  'GET /apidoc/openapi.json': {
    summary: 'This document',
    description,
    responses: {
      '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } },
      '500': { $ref: '#/components/responses/InternalError' },
    },
  },
};

export default docs;
