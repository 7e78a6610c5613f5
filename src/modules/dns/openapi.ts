// OpenAPI docs of the DNS routes (spec dns.md §1); merged by core/openapi/generate.ts.

import { empty, error, form, path, ref, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const TYPES = ['A', 'AAAA', 'CNAME', 'PTR', 'SRV'];

const remove = (withType: boolean): OpenApiOperation => ({
  summary: withType ? 'Delete the records of a type at a name' : 'Delete the A (or, for a reverse name, PTR) records at a name',
  description:
    'Removes every record of the type at the name. Without `type`, it is PTR when `value` ends in `.in-addr.arpa` or `.ip6.arpa`, else A. ' +
    'The nsupdate providers never report "not found": deleting an absent record succeeds.',
  parameters: [
    path('value', 'The record name: a host name, or a reverse name for PTR.'),
    ...(withType ? [path('type', 'Record type, case-sensitive here (`a` is refused).', { type: 'string', enum: TYPES })] : []),
  ],
  responses: {
    '200': empty('Deleted (empty body).'),
    '400': error('Invalid name or type, or the DNS server refused the update.', 'Invalid DNS name -bad.example.com'),
    '404': error('The provider found no such record (dnscmd, libvirt).'),
    '503': ref.busy,
  },
});

const docs: ModuleApiDocs = {
  'POST /dns': {
    summary: 'Create a DNS record',
    description:
      'Checks the DNS server for a conflicting record first (A, AAAA, CNAME, PTR): the same record already present is a no-op 200, ' +
      'a different one is 409.',
    requestBody: form(
      {
        fqdn: str('The record name; for PTR the host name the reverse record points to. SRV names may contain `_`.'),
        value: str('IPv4 (A), IPv6 (AAAA), a target name (CNAME), a reverse name (PTR) or `priority weight port target` (SRV).'),
        type: str('Record type, upper-cased by the proxy.', { enum: TYPES }),
      },
      ['fqdn', 'value', 'type'],
    ),
    responses: {
      '200': empty('Created, or already present (empty body).'),
      '400': error('A missing or invalid parameter, or the DNS server refused the update.', "'create' requires fqdn, value, and type parameters"),
      '409': error(
        'Another record holds the name (A/AAAA/CNAME: `\'<fqdn> \'is already in use`, the reference\'s misplaced quote; PTR: `\'<value>\' is already in use`).',
        "'host.example.com 'is already in use",
      ),
      '503': ref.busy,
    },
  },
  'DELETE /dns/:value': remove(false),
  'DELETE /dns/:value/:type': remove(true),
};

export default docs;
