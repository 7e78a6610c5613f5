// OpenAPI docs of the capsule's host-facing front end (spec content.md §4; README of this
// module); merged by core/openapi/generate.ts. Every prefix answers every method at its root and
// below: Katello and Pulp decide what exists, the capsule relays.

import { empty, error, json, obj, path, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation, OpenApiResponseObject } from '../../core/openapi/types.ts';
import { CONTENT_ROUTES, KATELLO_ROUTES, PUB_PREFIX } from './routes.ts';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const apachePage = (description: string, message: string, status: string): OpenApiResponseObject =>
  json(
    description,
    obj({ displayMessage: str('Shown by subscription-manager.'), errors: { type: 'array', items: { type: 'string' } }, status: str('The status, as a string.') }),
    { displayMessage: message, errors: [message], status },
  );

const rest = path('path', 'The rest of the path, relayed as is (may contain `/`).');

function katello(prefix: string, method: string, below: boolean): OpenApiOperation {
  return {
    summary: `${method} ${prefix}${below ? '/…' : ''}: relayed to Katello`,
    description:
      'Relayed to the same path on Katello (katello_url, default foreman_url) with the host\'s client certificate in `X-RHSM-SSL-Client-Cert`; ' +
      'bodies stream both ways. Katello\'s answer is passed through.',
    ...(below ? { parameters: [rest] } : {}),
    responses: {
      '200': empty("Katello's answer (any status, body and headers passed through)."),
      '400': apachePage('A path that climbs out of its prefix.', 'bad path', '400'),
      '502': apachePage('Katello answered something that is not HTTP.', 'bad gateway', '502'),
      '503': {
        ...apachePage('Katello cannot be reached (Retry-After).', 'Service unavailable or restarting, try later', '503'),
        headers: { 'Retry-After': { schema: { type: 'integer' } } },
      },
      '504': apachePage('Katello did not answer in time.', 'timeout', '504'),
    },
  };
}

function content(prefix: string, method: string, below: boolean): OpenApiOperation {
  return {
    summary: `${method} ${prefix}${below ? '/…' : ''}: relayed to Pulp's content app`,
    description: "Relayed to Pulp's content app (the client certificate forwarded where Pulp needs it); redirects, ranges and bodies pass through.",
    ...(below ? { parameters: [rest] } : {}),
    responses: {
      '200': empty("Pulp's answer (any status, body and headers passed through)."),
      '400': error('A path that climbs out of its prefix.'),
      '502': error('Pulp answered something that is not HTTP.'),
      '503': { $ref: '#/components/responses/Busy' },
      '504': error('Pulp did not answer in time.'),
    },
  };
}

function pub(method: string, below: boolean): OpenApiOperation {
  const read = method === 'GET' || method === 'HEAD';
  return {
    summary: read ? `${method} ${PUB_PREFIX}${below ? '/…' : ''}: a file of pub_dir, or a listing` : `${method} ${PUB_PREFIX}${below ? '/…' : ''}: not allowed`,
    description: read
      ? 'Files of pub_dir (CA certificate, katello-ca-consumer RPM, bootstrap scripts) with Range and If-Modified-Since; directories get an HTML listing.'
      : 'Only GET and HEAD are served.',
    ...(below ? { parameters: [rest] } : {}),
    responses: read
      ? {
          '200': { description: 'The file, or a directory listing (text/html).', content: { 'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } }, 'text/html': { schema: { type: 'string' } } } },
          '206': empty('A byte range.'),
          '301': empty('A directory without its trailing slash.'),
          '304': empty('Not modified.'),
          '400': error('A path outside pub_dir.'),
          '404': error('No such file.'),
          '416': error('Unsatisfiable range.'),
        }
      : { '405': error('Method not allowed.') },
  };
}

const docs: Record<string, OpenApiOperation> = {};
for (const method of METHODS) {
  for (const below of [false, true]) {
    const suffix = below ? '/*' : '';
    for (const r of KATELLO_ROUTES) docs[`${method} ${r.prefix}${suffix}`] = katello(r.prefix, method, below);
    for (const r of CONTENT_ROUTES) docs[`${method} ${r.prefix}${suffix}`] = content(r.prefix, method, below);
    docs[`${method} ${PUB_PREFIX}${suffix}`] = pub(method, below);
  }
}

export default docs satisfies ModuleApiDocs;
