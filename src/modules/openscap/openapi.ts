// OpenAPI docs of the openscap routes (spec plugins.md §2.3); merged by core/openapi/generate.ts.

import { arrayOf, error, json, obj, path, ref, str, text } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const xmlBody = (description: string) => ({ required: true, description, content: { 'application/xml': { schema: { type: 'string' } } } });
const reportParams = [
  path('id', 'The report id Foreman gave.', { type: 'string', pattern: '^\\d+$' }),
  path('cname', 'Host name (certificate CN) the report came from.'),
  path('date', 'Receive time in epoch seconds.', { type: 'string', pattern: '^\\d+$' }),
  path('digest', 'SHA-256 hex of the uploaded (compressed) report.'),
];
const reportAccess =
  ' Callers: Foreman (trusted_hosts), or the host `cname` itself with its own certificate (read only); any other host gets 403.';
const profiles = json('Profile id → title.', { type: 'object', additionalProperties: { type: 'string' } }, { 'xccdf_org.ssgproject.content_profile_ospp': 'Protection Profile for General Purpose Operating Systems' });
const profilesError = error('Not XML, or no profile in it.', 'Error occurred: Failed to parse profiles');
const validation = json('The problems found (an empty list: valid).', obj({ errors: arrayOf({ type: 'string' }) }), { errors: [] });
const guide = (withPolicy: boolean): OpenApiOperation => ({
  summary: withPolicy ? 'HTML guide of one profile of a data stream' : 'HTML guide of a data stream',
  description: 'Output of `oscap xccdf generate [--profile <policy>] guide`.',
  ...(withPolicy ? { parameters: [path('policy', 'Profile id.')] } : {}),
  requestBody: xmlBody('The SCAP data stream.'),
  responses: {
    '200': json('The guide.', obj({ html: str('The HTML document.') })),
    '500': error('oscap failed.', 'Error occurred: Failed to generate policy guide, cause: …'),
    '503': error("oscap is not installed.", "'oscap' utility is not available"),
  },
});
const policyFile = (kind: 'content' | 'tailoring'): OpenApiOperation => ({
  summary: kind === 'content' ? "SCAP data stream of a policy (hosts)" : 'Tailoring file of a policy (hosts)',
  description: `Served from the ${kind === 'content' ? 'contentdir' : 'tailoring_dir'} cache, fetched from Foreman once per digest. Callers: hosts with a certificate.`,
  parameters: [path('policy_id', 'Foreman policy id.', { type: 'string', pattern: '^\\d+$' }), path('digest', 'Digest of the file, from the host configuration.')],
  responses: {
    '200': text('The XML file.', undefined, 'application/xml'),
    '400': error('policy_id is not a number.'),
    '403': ref.forbidden,
    '404': error("Foreman does not know the policy (Foreman's status is passed on).", 'File not found on Foreman. Wrong policy id?'),
    '502': error('Foreman could not be reached.'),
  },
});

const docs: ModuleApiDocs = {
  'POST /compliance/arf/:policy': {
    summary: 'Upload an ARF report (hosts)',
    description:
      'Body: the bzip2-compressed ARF report (foreman_scap_client sends `Content-Type: text/xml`, `Content-Encoding: x-bzip2`; both ignored). ' +
      "The host is the CN of its client certificate. The report is parsed, committed to the spool, and forwarded to Foreman; the host gets Foreman's answer " +
      'when it comes within `upload_wait` seconds, else 202.',
    parameters: [path('policy', 'Foreman policy id.', { type: 'string', pattern: '^\\d+$' })],
    requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
    responses: {
      '200': json("Foreman's answer.", { type: 'object', additionalProperties: true }, { result: 'ok', id: '42' }),
      '202': json('Spooled; Foreman gets it when it accepts it.', obj({ result: str('What happened.') })),
      '400': error('Not a bzip2 stream, or the policy id is not a number.', 'Failed to decompress received report bzip, cause: …'),
      '403': ref.forbidden,
      '422': error('Not a readable ARF report (kept in corrupted_dir), or refused by Foreman.', 'Failed to parse Arf Report (…), moving to /var/lib/foreman-proxy/openscap/corrupted on proxy'),
      '500': error('The spool could not be written.'),
      '503': error('The spool is full; retry later.'),
    },
  },
  'GET /compliance/arf/:id/:cname/:date/:digest/xml': {
    summary: 'Stored report (bzip2)',
    description: `The original upload, also while it still waits in the spool.${reportAccess}`,
    parameters: reportParams,
    responses: { '200': text('The bzip2-compressed ARF.', undefined, 'application/x-bzip2'), '400': error('Malformed parameter.'), '403': ref.forbidden, '404': error('Not stored here.') },
  },
  'GET /compliance/arf/:id/:cname/:date/:digest/html': {
    summary: 'Stored report as HTML',
    description: `Output of \`oscap xccdf generate report\`.${reportAccess}`,
    parameters: reportParams,
    responses: {
      '200': text('The HTML report.', undefined, 'text/html'),
      '400': error('Malformed parameter.'),
      '403': ref.forbidden,
      '404': error('Not stored here.'),
      '500': error('oscap failed.', 'Failed to generate report HTML, cause: …'),
      '503': error('oscap is not installed.'),
    },
  },
  'DELETE /compliance/arf/:id/:cname/:date/:digest': {
    summary: 'Delete a stored report (all its dates)',
    description: 'Foreman only (trusted_hosts).',
    parameters: reportParams,
    responses: {
      '200': json('Deleted.', obj({ id: str('Report id.'), deleted: { type: 'boolean' } }), { id: '42', deleted: true }),
      '400': error('Malformed parameter.'),
      '403': ref.forbidden,
      '404': error('Nothing stored for this id.'),
    },
  },
  'GET /compliance/policies/:policy_id/content/:digest': policyFile('content'),
  'GET /compliance/policies/:policy_id/tailoring/:digest': policyFile('tailoring'),
  'POST /compliance/scap_content/policies': {
    summary: 'Profiles of a SCAP data stream',
    requestBody: xmlBody('The data stream.'),
    responses: { '200': profiles, '403': ref.forbidden, '422': profilesError },
  },
  'POST /compliance/tailoring_file/profiles': {
    summary: 'Profiles of a tailoring file',
    requestBody: xmlBody('The tailoring file.'),
    responses: { '200': profiles, '403': ref.forbidden, '422': profilesError },
  },
  'POST /compliance/scap_file/validator/:type': {
    summary: 'Validate a data stream or tailoring file',
    description: 'Well-formed XML with the expected root element (`data-stream-collection` or `Benchmark`; `Tailoring`).',
    parameters: [path('type', 'What the file is.', { type: 'string', enum: ['scap_content', 'tailoring_file'] })],
    requestBody: xmlBody('The file.'),
    responses: { '200': validation, '400': error('Unknown type.'), '403': ref.forbidden },
  },
  'POST /compliance/scap_content/validator': {
    summary: 'Validate a data stream (deprecated form)',
    requestBody: xmlBody('The data stream.'),
    responses: { '200': validation, '403': ref.forbidden },
  },
  'POST /compliance/scap_content/guide': guide(false),
  'POST /compliance/scap_content/guide/:policy': guide(true),
  'GET /compliance/spool_errors': {
    summary: 'Hosts with unparsable uploads',
    responses: { '200': json('Per-host directories under corrupted_dir/arf.', obj({ errors_count: { type: 'integer' } }), { errors_count: 0 }), '403': ref.forbidden },
  },
  'GET /compliance/spool': {
    summary: 'State of the forwarding spool (our addition)',
    responses: {
      '200': json('Counters and the last reports Foreman refused.', { type: 'object', additionalProperties: true }, { pending: 0, pendingBytes: 0, delivered: 12, retries: 3, backingOff: false, rejected_reports: [] }),
      '403': ref.forbidden,
    },
  },
};

export default docs;
