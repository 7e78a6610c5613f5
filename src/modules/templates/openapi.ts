// OpenAPI docs of the template relay routes (spec templates.md §1); merged by
// core/openapi/generate.ts. Client audience: provisioned hosts call these, without authorization.

import { error, header, json, obj, path, query, ref, str, text } from '../../core/openapi/components.ts';
import type { OpenApiOperation, ModuleApiDocs } from '../../core/openapi/types.ts';

const kind = path('kind', 'Template kind: provision, finish, iPXE, PXELinux, built …');
const hostParameters = [
  query('token', 'The host\'s build token (identifies the host).'),
  query('mac', 'A MAC of the host (identifies the host).'),
  header('X-RHN-Provisioning-MAC-0', 'Anaconda\'s MAC header (identifies the host); forwarded with the other headers.'),
];
const relayDescription =
  'Relayed to Foreman (`foreman_url`) with the query and form parameters, `url=<template_url>` and `X-Forwarded-For` (Foreman identifies the host by IP, token or MAC). ';

const relayed = (summary: string, extra: Partial<OpenApiOperation>, errorStatus: 'foreman' | 500): OpenApiOperation => ({
  summary,
  ...extra,
  responses: {
    '200': text("Foreman's rendered template (Foreman's 200 or 201), labelled text/html.", '#!/bin/sh', 'text/html'),
    ...(errorStatus === 'foreman'
      ? {
          '400': error('Foreman could not be reached (connection, TLS, deadline), or a parameter is an array or map.', 'Failed to proxy /provision for {"kind"=>"provision"}: Failed to open TCP connection'),
          '404': error("Foreman's own error status is passed through (404 shown; any non-2xx status).", 'Failed to proxy /provision for ...: Net::HTTPNotFound: 404 '),
        }
      : { '500': error('Any failure, Foreman\'s status or unreachable Foreman (always 500).', 'Failed to retrieve user-data userdata template for ...') }),
    '503': ref.busy,
  },
});

const docs: ModuleApiDocs = {
  'GET /unattended/templateServer': {
    summary: 'The URL rendered templates should use to reach this proxy',
    responses: {
      '200': json('`{"templateServer": "<template_url>"}` (empty string when unset).', obj({ templateServer: str('template_url.') }), { templateServer: 'http://proxy.example.com:8000' }),
      '400': error('Internal error.'),
    },
  },
  'GET /unattended/:kind/:template/:hostgroup': relayed(
    'A hostgroup template from Foreman',
    { description: relayDescription, parameters: [kind, path('template', 'Template name.'), path('hostgroup', 'Hostgroup title.')] },
    'foreman',
  ),
  'GET /unattended/:kind': relayed('A host\'s rendered template from Foreman', { description: relayDescription, parameters: [kind, ...hostParameters] }, 'foreman'),
  'POST /unattended/:kind': relayed(
    'Report to Foreman (built, failed …) or post a template request',
    {
      description: `${relayDescription}The body is forwarded unchanged; the reference's \`Content-Type=text/plain\` pseudo-parameter is appended to the query.`,
      parameters: [kind, ...hostParameters],
      requestBody: { required: false, content: { 'text/plain': { schema: { type: 'string' } }, 'application/x-www-form-urlencoded': { schema: { type: 'object' } } } },
    },
    'foreman',
  ),
  'GET /userdata/:kind': relayed('Cloud-init user data from Foreman', { description: relayDescription, parameters: [kind] }, 500),
};

export default docs;
