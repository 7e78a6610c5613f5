// OpenAPI docs of the DHCP routes (spec dhcp.md §1); merged by core/openapi/generate.ts.

import { arrayOf, empty, error, form, header, json, obj, path, query, ref, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const network = path('network', 'An IPv4 address inside the subnet (the subnet\'s network address to see its records).', { type: 'string', format: 'ipv4' });
const ip = path('ip', 'IPv4 address of the record.', { type: 'string', format: 'ipv4' });
const mac = path('mac', 'MAC address (lower-cased by the proxy; 6 or 20 octets).');

const record = obj(
  {
    name: str('Reservation name, or `lease-<mac>` for a lease.'),
    ip: str('IPv4 address.'),
    mac: str('MAC address, lower-case, colon-separated.'),
    subnet: str('`<network>/<netmask>`.'),
    type: str('Record kind.', { enum: ['reservation', 'lease'] }),
    deleteable: { type: 'boolean', description: 'Reservations: whether DELETE may remove it (ISC: only hosts created through OMAPI).' },
    hostname: str('Reservations: the host-name option, else the name.'),
  },
  'A reservation or a lease; providers add their options (nextServer, filename, hardware_type, starts, ends, state …).',
  { additionalProperties: true },
);

const subnet = obj(
  {
    network: str('Network address.'),
    netmask: str('Netmask.'),
    options: obj({}, 'routers, domain_name, domain_name_servers, ntp_servers, interface_mtu, range, when configured.', { additionalProperties: true }),
  },
  undefined,
  { required: ['network', 'netmask', 'options'] },
);

const invalid = error('An invalid address or MAC, or a provider failure.', 'Invalid IP Address 192.168.122');
const noSubnet = error('No configured subnet contains `network`.', 'Subnet 10.9.9.0 could not found');

const methodOverride = [
  query('_method', 'Method override (also as a form field): `DELETE` makes this POST a delete.', { type: 'string', enum: ['DELETE'] }),
  header('X-HTTP-Method-Override', 'Method override, as `_method`.'),
];

const deleteBy = (what: 'ip' | 'mac', viaPost: boolean): OpenApiOperation => ({
  summary: viaPost
    ? `Delete the records of ${what === 'ip' ? 'an IP' : 'a MAC'} (POST with _method=DELETE)`
    : `Delete the records of ${what === 'ip' ? 'an IP' : 'a MAC'}`,
  description:
    (viaPost ? 'The reference\'s method override: a POST carrying `_method=DELETE` or `X-HTTP-Method-Override: DELETE`; any other POST here is 404. ' : '') +
    'An unknown subnet or record is a no-op 200. Leases and reservations written in dhcpd.conf cannot be deleted (400 `… is static - unable to delete`).',
  parameters: [network, what === 'ip' ? ip : mac, ...(viaPost ? methodOverride : [])],
  responses: {
    '200': empty('Deleted, or nothing to delete (empty body).'),
    '400': invalid,
    ...(viaPost ? { '404': ref.notFound } : {}),
    '503': ref.busy,
  },
});

const docs: ModuleApiDocs = {
  'GET /dhcp': {
    summary: 'List the subnets',
    responses: { '200': json('The subnets, in the provider\'s order.', arrayOf(subnet)), '400': error('The provider failed.'), '503': ref.busy },
  },
  'GET /dhcp/:network': {
    summary: 'Reservations and leases of a subnet',
    description: 'Records are listed under the subnet\'s exact network address: another address of the subnet gets two empty lists (the reference\'s quirk).',
    parameters: [network],
    responses: {
      '200': json('The records.', obj({ reservations: arrayOf(record), leases: arrayOf(record) }, undefined, { required: ['reservations', 'leases'] })),
      '400': invalid,
      '404': noSubnet,
      '503': ref.busy,
    },
  },
  'GET /dhcp/:network/unused_ip': {
    summary: 'Suggest a free IP address',
    description:
      'The range is used only when both `from` and `to` are given (else the whole subnet). With `mac`, an address already leased or reserved for that MAC is ' +
      'preferred. Suggested addresses are held back for a while so that repeated calls hand out different ones.',
    parameters: [
      network,
      query('mac', 'MAC of the host the address is for.'),
      query('from', 'First address of the range to search.', { type: 'string', format: 'ipv4' }),
      query('to', 'Last address of the range to search.', { type: 'string', format: 'ipv4' }),
    ],
    responses: {
      '200': json('A free address, or `{"ip": null}` when none is free.', obj({ ip: { type: ['string', 'null'], description: 'The address.' } }, undefined, { required: ['ip'] }), {
        ip: '192.168.122.101',
      }),
      '400': error('Invalid parameters, a range outside the subnet, or a reversed range.', 'Range does not belong to provided subnet'),
      '404': noSubnet,
      '501': error('The provider cannot suggest addresses.'),
      '503': ref.busy,
    },
  },
  'GET /dhcp/:network/ip/:ip': {
    summary: 'The records of an IP address',
    parameters: [network, ip],
    responses: {
      '200': json('The records holding the address.', arrayOf(record)),
      '400': invalid,
      '404': error('Unknown subnet, or no record.', 'No DHCP records for IP 192.168.122.0/192.168.122.10 found'),
      '503': ref.busy,
    },
  },
  'GET /dhcp/:network/mac/:mac': {
    summary: 'The record of a MAC address',
    parameters: [network, mac],
    responses: {
      '200': json('The reservation or lease.', record),
      '400': invalid,
      '404': error('Unknown subnet, or no record.', 'No DHCP record for MAC 192.168.122.0/00:11:22:33:44:55 found'),
      '503': ref.busy,
    },
  },
  'POST /dhcp/:network': {
    summary: 'Create a reservation',
    description:
      'An identical existing reservation is a no-op 200; any other record holding the IP or MAC is 409 (so re-posting a host usually is 409, as in the reference). ' +
      'Fields other than the listed ones are stored as options. A POST with `_method` set to anything else is 404.',
    parameters: [network],
    requestBody: form(
      {
        mac: str('MAC address.'),
        ip: str('IPv4 address.'),
        name: str('Reservation name (defaults to hostname).'),
        hostname: str('Host name option (defaults to name); one of name/hostname is required.'),
        nextServer: str('TFTP server (IP or name).'),
        filename: str('Boot file name.'),
        'related_macs[]': arrayOf({ type: 'string' }, 'MACs ignored in the conflict check (bonded interfaces).'),
      },
      ['mac', 'ip'],
      'Vendor options are `<Vendor>option` keys (ISC and MS providers only).',
    ),
    responses: {
      '200': empty('Created, or already present (empty body).'),
      '400': error('A missing or invalid parameter, an unknown subnet (400 here, not 404), or a provider failure.', 'Must provide hostname'),
      '404': ref.notFound,
      '409': error('Another record holds the IP or MAC.', 'Record 192.168.122.0/192.168.122.10 already exists'),
      '503': ref.busy,
    },
  },
  'DELETE /dhcp/:network/ip/:ip': deleteBy('ip', false),
  'DELETE /dhcp/:network/mac/:mac': deleteBy('mac', false),
  'POST /dhcp/:network/ip/:ip': deleteBy('ip', true),
  'POST /dhcp/:network/mac/:mac': deleteBy('mac', true),
};

export default docs;
