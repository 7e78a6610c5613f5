// OpenAPI docs of the Puppet CA routes (spec puppetca.md §1); merged by core/openapi/generate.ts.
// Every answer is labelled `application/json`; failures are 406 with the reference's prefixes.

import { error, json, obj, path, query, ref, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const certname = path('certname', 'Certificate name (a host name; `*` wildcards allowed in autosign entries).');
const emptyJson = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'string', maxLength: 0 } } } });

const docs: ModuleApiDocs = {
  'GET /puppet/ca': {
    summary: 'List the certificates of the Puppet CA',
    responses: {
      '200': json(
        'Certificates by name.',
        {
          type: 'object',
          additionalProperties: obj({
            state: str('pending, valid or revoked (an expired certificate is revoked).'),
            fingerprint: str('Fingerprint (default digest).'),
            serial: { type: ['integer', 'null'] },
            not_before: { type: ['string', 'null'] },
            not_after: { type: ['string', 'null'] },
          }),
        },
        { 'puppet.example.com': { state: 'valid', fingerprint: 'F8:DA:EE', serial: 4, not_before: '2014-08-25T19:25:29UTC', not_after: '2039-08-25T19:25:29UTC' } },
      ),
      '406': error('The Puppet CA could not be queried.', 'Failed to list certificates: connection refused'),
      '503': ref.busy,
    },
  },
  'GET /puppet/ca/autosign': {
    summary: 'List the autosign entries',
    responses: {
      '200': json('Entries (host names or patterns; the token provider lists its tokens).', { type: 'array', items: { type: 'string' } }),
      '406': error('The autosign store could not be read.', 'Failed to list autosign entries: No such file /etc/puppetlabs/puppet/autosign.conf'),
    },
  },
  'POST /puppet/ca/autosign/:certname': {
    summary: 'Allow a certname to be autosigned',
    description: 'The hostname provider adds an entry (empty body); the token provider issues a signed token.',
    parameters: [certname, query('token_ttl', 'Token lifetime in minutes (token provider).', { type: 'integer', minimum: 1 })],
    responses: {
      '200': json('Added: empty, or `{"generated_token": "<JWT>"}` from the token provider.', obj({ generated_token: str('A JWT for the host\'s CSR.') })),
      '406': error('The entry could not be added.', 'Failed to enable autosign for host.example.com: Permission denied'),
    },
  },
  'DELETE /puppet/ca/autosign/:certname': {
    summary: 'Remove an autosign entry (or revoke its tokens)',
    parameters: [certname],
    responses: {
      '200': emptyJson('Removed (empty body).'),
      '404': error('No such entry (hostname provider).', 'Attempt to remove nonexistent client autosign for host.example.com'),
      '406': error('The entry could not be removed.', 'Failed to remove autosign for host.example.com: No such file /etc/puppetlabs/puppet/autosign.conf'),
    },
  },
  'POST /puppet/ca/validate': {
    summary: 'Validate a CSR for policy-based autosigning',
    description: "Puppet's autosign policy executable posts the CSR; 200 means sign. The body is read raw whatever its content type.",
    requestBody: { required: true, content: { 'application/x-pem-file': { schema: { type: 'string' } }, 'application/x-www-form-urlencoded': { schema: { type: 'string' } } } },
    responses: {
      '200': emptyJson('The CSR may be signed.'),
      '404': emptyJson('The CSR is refused (empty body).'),
      '406': error('The CSR could not be validated.', 'Failed to validate CSR: not a CSR'),
      '413': error('The CSR is larger than the proxy reads.'),
      '501': error('The autosign provider cannot validate CSRs.', 'Provider only supports trivial autosigning'),
    },
  },
  'POST /puppet/ca/:certname': {
    summary: 'Sign a pending certificate request',
    description: 'Certnames `autosign` and `validate` cannot be signed here (those routes win).',
    parameters: [certname],
    responses: {
      '200': emptyJson('Signed (empty body).'),
      '406': error('The CA refused or failed.', 'Failed to sign certificate(s) for host.example.com: 404 Not Found'),
      '503': ref.busy,
    },
  },
  'DELETE /puppet/ca/:certname': {
    summary: 'Revoke and delete a certificate',
    description: 'An unknown certificate is a 200 as well (as in the reference).',
    parameters: [certname],
    responses: {
      '200': emptyJson('Revoked and deleted (empty body).'),
      '406': error('The CA refused or failed.', 'Failed to remove certificate(s) for host.example.com: 500 Internal Server Error'),
      '503': ref.busy,
    },
  },
};

export default docs;
