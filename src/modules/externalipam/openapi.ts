// OpenAPI docs of the /ipam routes (spec plugins.md §6.3); merged by core/openapi/generate.ts.

import { arrayOf, json, obj, path, query, ref, str, empty } from '../../core/openapi/components.ts';
import type { ModuleApiDocs } from '../../core/openapi/types.ts';

const address = path('address', 'Network address of the subnet (host bits zero), IPv4 or IPv6.');
const prefix = path('prefix', 'Prefix length of the subnet.');
const ip = path('ip', 'An address inside the subnet.');
const group = query('group', 'phpIPAM section / NetBox VRF holding the subnet; empty or absent: none (Foreman always sends it).');
const groupPath = path('group', 'phpIPAM section / NetBox VRF name.');

const errorBody = (description: string, example: string) => json(description, obj({ error: str('What went wrong.') }, undefined, { required: ['error'] }), { error: example });
const subnet = obj({ id: { type: ['string', 'integer'] }, subnet: str('Network address.'), mask: str('Prefix length.'), description: str('Description in the IPAM.') });
const badInput = errorBody('A parameter is not valid (the message names it).', 'Network address 10.0.0.1 should be 10.0.0.0 with prefix 24');
const backend = errorBody('The IPAM refused or could not be reached, or the group does not exist.', 'Unable to connect to External IPAM server');
const timeout = errorBody('The IPAM did not answer within ipam_timeout.', 'External IPAM server did not answer in time');
const noSubnet = errorBody('The subnet is not in the IPAM (in that group).', 'Subnet not found in External IPAM');
const common = { '400': badInput, '403': ref.forbidden, '500': backend, '503': ref.busy, '504': timeout };

const docs: ModuleApiDocs = {
  'GET /ipam/subnet/:address/:prefix/next_ip': {
    summary: 'Next free address of a subnet, held for the MAC',
    description:
      "The IPAM's first free address, or the next one not held for another MAC nor taken in the IPAM. The address is held for `next_ip_hold` seconds: " +
      'the same MAC gets it again, other MACs get another one. Nothing is reserved in the IPAM.',
    parameters: [address, prefix, query('mac', 'MAC of the interface (`aa:bb:cc:dd:ee:ff`); without it the address is held anonymously.'), group],
    responses: {
      '200': json('The address.', obj({ data: str('The address offered.') }), { data: '10.0.0.7' }),
      ...common,
      '404': errorBody('The subnet is not in the IPAM, or it has no free address left.', 'No free addresses found'),
    },
  },
  'GET /ipam/subnet/:address/:prefix': {
    summary: 'A subnet as the IPAM holds it',
    parameters: [address, prefix, group],
    responses: { '200': json('The subnet.', subnet, { id: '33', subnet: '10.0.0.0', mask: '24', description: 'Lab' }), ...common, '404': noSubnet },
  },
  'GET /ipam/subnet/:address/:prefix/:ip': {
    summary: 'Whether an address is taken in the IPAM',
    parameters: [address, prefix, ip, group],
    responses: { '200': json('Bare JSON `true` or `false`.', { type: 'boolean' }, true), ...common, '404': noSubnet },
  },
  'POST /ipam/subnet/:address/:prefix/:ip': {
    summary: 'Reserve an address in the IPAM',
    parameters: [address, prefix, ip, group],
    responses: { '201': empty('Reserved; empty body.'), ...common, '404': noSubnet },
  },
  'DELETE /ipam/subnet/:address/:prefix/:ip': {
    summary: 'Release an address in the IPAM',
    parameters: [address, prefix, ip, group],
    responses: { '204': empty('Released.'), ...common, '404': errorBody('The subnet, or the address in it, is not in the IPAM.', 'IP address not found') },
  },
  'GET /ipam/groups': {
    summary: 'Groups (phpIPAM sections, NetBox VRFs)',
    responses: {
      '200': json('Every group; `[]` when none.', arrayOf(obj({ id: { type: ['string', 'integer'] }, name: str('Name.'), description: str('Description.') })), [
        { id: '1', name: 'Prod', description: 'Production' },
      ]),
      '403': ref.forbidden,
      '500': backend,
      '503': ref.busy,
      '504': timeout,
    },
  },
  'GET /ipam/groups/:group': {
    summary: 'One group',
    parameters: [groupPath],
    responses: {
      '200': json('The group.', obj({ id: { type: ['string', 'integer'] }, name: str('Name.'), description: str('Description.') }), { id: '1', name: 'Prod', description: 'Production' }),
      ...common,
      '404': errorBody('No such group.', 'Group not found in External IPAM'),
    },
  },
  'GET /ipam/groups/:group/subnets': {
    summary: 'Subnets of a group',
    parameters: [groupPath],
    responses: {
      '200': json('The subnets.', arrayOf(subnet), [{ id: '33', subnet: '10.0.0.0', mask: '24', description: 'Lab' }]),
      ...common,
      '404': errorBody('No such group, or it has no subnets.', 'No subnets found in External IPAM group'),
    },
  },
};

export default docs;
