// OpenAPI docs of the reports routes (spec plugins.md §4); merged by core/openapi/generate.ts.

import { empty, error, json, path, query, ref } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const upload: OpenApiOperation = {
  summary: 'Upload a Puppet or Ansible run report',
  description: 'Converted to a Foreman host report and spooled; Foreman receives it (and Ansible facts found in it) in upload order, retried while it is down.',
  parameters: [
    path('format', 'Report format.', { type: 'string', enum: ['puppet', 'ansible'] }),
    query('json_body', 'false: send the report body to Foreman as an object instead of a JSON string.', { type: 'string', default: 'true' }),
  ],
  requestBody: {
    required: true,
    content: { 'application/x-yaml': { schema: { type: 'string', description: 'Puppet report.' } }, 'application/json': { schema: { type: 'object', description: 'Ansible report.' } } },
  },
  responses: {
    '202': empty('Spooled (empty body).'),
    '403': ref.forbidden,
    '415': error('Unknown format, wrong content type, empty body or unreadable report.', 'Content type must be application/json, was: text/plain'),
    '500': error('The spool could not be written.'),
    '503': error('The spool is full; retry later.'),
  },
};

const spool: OpenApiOperation = {
  summary: 'State of the forwarding spool (our addition)',
  responses: {
    '200': json('Counters and the last reports Foreman refused.', { type: 'object', additionalProperties: true }, { pending: 0, delivered: 5, retries: 0, backingOff: false, rejected_reports: [] }),
    '403': ref.forbidden,
  },
};

const docs: ModuleApiDocs = {
  'POST /reports/:format': upload,
  'POST /host_reports/:format': upload,
  'GET /reports/spool': spool,
  'GET /host_reports/spool': spool,
};

export default docs;
