// OpenAPI docs of the realm routes (spec realm.md §1); merged by core/openapi/generate.ts.

import { error, form, json, path, ref, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const realm = path('realm', 'The realm name (compared case-insensitively with the IPA realm).');

const docs: ModuleApiDocs = {
  'POST /realm/:realm': {
    summary: 'Create, update or rebuild a host entry',
    description:
      'A new host, or an existing one with `rebuild=true`, gets a one-time password (`randompassword`) Foreman hands to the host for enrolment; ' +
      'otherwise only the attributes are updated. Nothing to change answers `{"message": "nothing to do"}`. The body is pretty-printed JSON.',
    parameters: [realm],
    requestBody: form(
      {
        hostname: str('FQDN of the host.'),
        userclass: str('IPA userclass attribute (automember rules).'),
        rebuild: str('`true` issues a new one-time password for an existing host.', { enum: ['true', 'false'] }),
      },
      ['hostname'],
    ),
    responses: {
      '200': json('The IPA host object.', { type: 'object', additionalProperties: true }, { fqdn: ['h.example.com'], randompassword: 'OTP-example', has_keytab: false }),
      '400': error('Unknown realm, an invalid hostname, or an IPA failure.', 'Unknown realm EXAMPLE.ORG'),
      '503': ref.busy,
    },
  },
  'DELETE /realm/:realm/:hostname': {
    summary: 'Delete a host entry',
    description: 'Removes its DNS records too when `remove_dns` is set (retried without them if IPA refuses).',
    parameters: [realm, path('hostname', 'FQDN of the host.')],
    responses: {
      '200': json('The whole IPA reply, pretty-printed.', { type: 'object', additionalProperties: true }, { result: { failed: [] }, value: ['h.example.com'], summary: 'Deleted host "h.example.com"' }),
      '400': error('Unknown realm, an invalid hostname, or an IPA failure.'),
      '404': error('No such host.', 'Host h.example.com not found in realm'),
      '503': ref.busy,
    },
  },
};

export default docs;
