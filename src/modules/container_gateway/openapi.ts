// OpenAPI docs of the container gateway (spec content.md §2.6, §2.7); merged by
// core/openapi/generate.ts. Registry routes are public (the identity is evaluated per request:
// host certificate, bearer token or none); management routes need trusted_hosts + certificate.

import { empty, error, form, header, json, obj, path, query, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation, OpenApiResponse } from '../../core/openapi/types.ts';

const registryError = (description: string, code: string, message: string): OpenApiResponse =>
  json(description, obj({ errors: { type: 'array', items: obj({ code: str('Error code.'), message: str('Message.') }) } }), { errors: [{ code, message }] });
const challenge: OpenApiResponse = {
  description: 'No acceptable identity: a Bearer challenge pointing at /v2/token.',
  headers: {
    'WWW-Authenticate': { description: 'Bearer realm="https://<host>/v2/token",service="<host>",scope="repository:registry:pull,push"', schema: { type: 'string' } },
    'Docker-Distribution-API-Version': { schema: { type: 'string', const: 'registry/2.0' } },
  },
  content: { 'application/json': { schema: { type: 'object' } } },
};
const relayed = empty("Pulp's or Katello's error status and body, copied (Content-Type not copied).");
const authorizationHeader = header('Authorization', 'Bearer token from /v2/token, or Basic credentials (optional; hosts use their client certificate).');
const repoPath = path('path', '`<name>/manifests/<ref>`, `<name>/blobs/<digest>` or `<name>/tags/list`; `<name>` may contain `/`.');
const push = (method: string): OpenApiOperation => ({
  summary: `Push (${method}): refused`,
  description: 'The gateway is pull-only.',
  parameters: [repoPath],
  responses: { '404': registryError('Always.', 'UNSUPPORTED', 'Pushing content is unsupported') },
});
const pull = (method: string): OpenApiOperation => ({
  summary: method === 'HEAD' ? 'Check a manifest or blob' : 'Pull a manifest, blob or tag list',
  description:
    'After the pull decision (public repository, host certificate, or a user token mapped to the repository), relayed to Pulp; a Pulp redirect is ' +
    'answered with its host replaced by `client_endpoint` (302 for GET, 303 for HEAD).',
  parameters: [repoPath, authorizationHeader, query('n', 'Tags list: page size.', { type: 'integer' }), query('last', 'Tags list: last tag seen.')],
  responses: {
    '200': empty("Pulp's body (manifest, tag list) with its Content-Type and Docker-Content-Digest."),
    '302': empty('GET: redirect to the content (Location on client_endpoint).'),
    '303': empty('HEAD: redirect to the content.'),
    '401': challenge,
    '404': registryError('Unknown repository, or not allowed.', 'NAME_UNKNOWN', 'Repository name unknown'),
    '502': relayed,
  },
});
const management = (summary: string, description: string, fields: Record<string, Record<string, unknown>>): OpenApiOperation => ({
  summary,
  description: `${description} Katello sends Rack-style nested forms (\`key[][field]=…\`).`,
  requestBody: form(fields),
  responses: {
    '200': empty('Done (empty body).'),
    '400': error('A body that does not have the expected shape.', 'hosts: missing'),
    '413': error('Body larger than the management body limit.'),
  },
});

const docs: ModuleApiDocs = {
  'GET /container_gateway/v1/_ping': {
    summary: "Registry v1 ping (Pulp's answer)",
    responses: { '200': json("Pulp's ping body.", { type: 'object' }, {}), '4XX': relayed, '502': relayed },
  },
  'GET /container_gateway/v1/search': {
    summary: 'Search repositories (v1 API)',
    parameters: [query('q', 'Substring of the repository name.'), query('n', 'Results (default 25).', { type: 'integer' }), authorizationHeader],
    responses: {
      '200': json('Matches.', obj({ num_results: { type: 'integer' }, query: str('The query.'), results: { type: 'array', items: obj({ name: str('Repository.'), description: str('Empty.') }) } })),
      '401': error('Credentials Katello does not accept.', 'unauthorized'),
      '404': error('Clients speaking registry v2 are sent to /v2/_catalog.', 'not found'),
    },
  },
  'GET /container_gateway/v2': {
    summary: 'Registry v2 base: check the identity',
    parameters: [authorizationHeader],
    responses: { '200': json('Authenticated (Docker-Distribution-API-Version: registry/2.0).', { type: 'object' }, {}), '401': challenge },
  },
  'GET /container_gateway/v2/token': {
    summary: 'Obtain a registry token (from Katello)',
    description: 'Forwarded to Katello; a real token is remembered (its checksum) with the user\'s repositories.',
    parameters: [query('account', 'User name.'), query('scope', 'Requested scope.'), query('service', 'Registry host.'), authorizationHeader],
    responses: {
      '200': json("Katello's token body, unchanged.", obj({ token: str('The token.'), expires_in: { type: 'integer' }, issued_at: str('Time.') })),
      '401': error('Katello refused the credentials.', 'unauthorized'),
      '502': error('Katello\'s answer has no token or no issue time.', 'Recieved malformed token response'),
    },
  },
  'GET /container_gateway/v2/_catalog': {
    summary: 'Repositories the caller may pull',
    parameters: [authorizationHeader],
    responses: { '200': json('Sorted names.', obj({ repositories: { type: 'array', items: { type: 'string' } } })), '401': challenge, '502': relayed },
  },
  'GET /container_gateway/v2/*': pull('GET'),
  'HEAD /container_gateway/v2/*': pull('HEAD'),
  'PUT /container_gateway/v2/*': push('PUT'),
  'POST /container_gateway/v2/*': push('POST'),
  'PATCH /container_gateway/v2/*': push('PATCH'),
  'GET /container_gateway/index/static': {
    summary: 'Flatpak index (filtered for a host certificate)',
    parameters: [query('repository', 'Filter.'), query('tag', 'Filter.'), query('os', 'Filter.'), query('architecture', 'Filter.')],
    responses: {
      '200': json("Pulp's index; with a host certificate only the host's repositories.", obj({ Registry: str('Pulp content origin.'), Results: { type: 'array', items: { type: 'object' } } })),
      '400': error("Pulp's index has no Results.", "Error: 'Results' key is missing in pulp_index"),
      '502': relayed,
    },
  },
  'GET /container_gateway/users': {
    summary: 'Users that obtained a token here',
    responses: { '200': json('User names.', obj({ users: { type: 'array', items: { type: 'string' } } }), { users: ['admin', 'jdoe'] }) },
  },
  'PUT /container_gateway/repository_list': management('Replace the repository list', 'All repositories (and their mappings) are replaced.', {
    'repositories[][repository]': str('Repository name.'),
    'repositories[][auth_required]': str('`true` when pulls need an identity.'),
  }),
  'PUT /container_gateway/user_repository_mapping': management('Replace the user ↔ repository table', 'Unknown users are skipped.', {
    'users[][<user>][][repository]': str('Repository name.'),
    'users[][<user>][][auth_required]': str('`true`.'),
  }),
  'PUT /container_gateway/update_hosts': management('Replace the host list', 'Hosts and their mappings are replaced.', { 'hosts[][uuid]': str('Host UUID.') }),
  'PUT /container_gateway/host_repository_mapping': management('Replace the host ↔ repository table', 'Unknown hosts are skipped.', {
    'hosts[][<uuid>][][repository]': str('Repository name.'),
    'hosts[][<uuid>][][auth_required]': str('`true`.'),
  }),
  'PUT /container_gateway/update_host_repositories': management('Update the repositories of some hosts', 'Creates missing hosts.', {
    'hosts[][<uuid>][][repository]': str('Repository name.'),
  }),
};

export default docs;
