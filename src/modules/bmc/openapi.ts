// OpenAPI docs of the BMC routes (spec bmc.md §2, §3); merged by core/openapi/generate.ts. Every
// answer is `application/json`, errors included (plain-text messages labelled JSON).

import { json, obj, path, query, ref, str } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation, OpenApiResponse } from '../../core/openapi/types.ts';

const host = path('host', 'Host name or IP address of the BMC (optionally with a port).');
const plainJson = (description: string, example?: string): OpenApiResponse => ({
  description,
  content: { 'application/json': { schema: { type: 'string', description: 'Plain-text message labelled JSON.' }, ...(example ? { example } : {}) } },
});

/** The menu a route answers without its last segment: no BMC access, no credentials. */
const menu = (summary: string, example: unknown, params = [host]): OpenApiOperation => ({
  summary,
  description: 'A static menu of what the next path segment may be; touches no BMC and needs no credentials.',
  ...(params.length > 0 ? { parameters: params } : {}),
  responses: { '200': json('The menu.', { type: 'object', additionalProperties: true }, example) },
});

const backendParameters = [
  query('bmc_provider', 'freeipmi, ipmitool, redfish, ssh or shell (default: the bmc_default_provider setting); also read from a JSON object body.'),
];

const actionResult = obj(
  { action: str('The action performed.'), result: { description: "The backend's answer: boolean, string, object, array or null." }, error: str('An unknown action (200, not an HTTP error).') },
  '`{"action", "result"}`, or `{"error": "The action: <x> is not a valid action"}` for an unknown action.',
  { additionalProperties: true },
);

/** A route that sets up the request's backend (credentials) and calls the BMC. */
const action = (summary: string, names: Record<string, string>, description = ''): OpenApiOperation => ({
  summary,
  description:
    `${description}IPMI and Redfish need the BMC credentials as HTTP Basic authorization (passed to the BMC, never stored). ` +
    'A JSON body (`Content-Type: application/json`) may carry `bmc_provider` and `options` (`driver`, `privilege` for IPMI).',
  parameters: [host, ...Object.entries(names).map(([name, text]) => path(name, text)), ...backendParameters],
  responses: {
    '200': json('The action and its result.', actionResult, { action: 'status', result: 'on' }),
    '400': plainJson('A backend failure, bad options, no IPMI tool installed, or an operation the provider does not define (400, as the reference).'),
    '401': plainJson('IPMI/Redfish without Basic authorization.', 'unauthorized'),
    '415': plainJson('A JSON body that is not a JSON object.', 'Invalid JSON content in body of request: data must be a hash, not Array'),
    '501': plainJson('The provider does not implement the operation.', 'NotImplementedError'),
    '503': ref.busy,
  },
});

const docs: ModuleApiDocs = {
  'GET /bmc': menu('The BMC API resources', { available_resources: ['providers', 'providers/installed', 'host'] }, []),
  'GET /bmc/providers': menu('The BMC providers', { providers: ['freeipmi', 'ipmitool', 'redfish', 'ssh', 'shell'] }, []),
  'GET /bmc/providers/installed': {
    summary: 'The BMC providers usable on this proxy',
    description: 'The IPMI tools installed on the proxy host, then redfish, ssh and shell.',
    responses: { '200': json('The providers.', obj({ installed_providers: { type: 'array', items: { type: 'string' } } })) },
  },
  'GET /bmc/host': menu('Hint: a BMC host is needed', { message: 'You need to supply the hostname or ip of the actual bmc device' }, []),
  'GET /bmc/:host': menu('What can be done with a BMC', { actions: ['chassis', 'lan', 'test', 'fru', 'bmc', 'sensors'] }),
  'GET /bmc/:host/chassis': menu('Chassis operations', { actions: ['power', 'identify', 'config'] }),
  'GET /bmc/:host/test': action('Test the connection to the BMC', {}),
  'GET /bmc/:host/chassis/power': menu('Power queries', { actions: ['on', 'off', 'status'] }),
  'GET /bmc/:host/chassis/power/:action': action('Query the power state', { action: '`status` (the state), `on` or `off` (whether it is).' }),
  'PUT /bmc/:host/chassis/power': menu('Power operations', { actions: ['on', 'off', 'cycle', 'soft', 'reset'] }),
  'PUT /bmc/:host/chassis/power/:action': action('Power on, off, cycle, soft off or reset', { action: 'on, off, cycle, soft or reset.' }),
  'GET /bmc/:host/chassis/identify': menu('Identify LED queries', { actions: ['status'] }),
  'GET /bmc/:host/chassis/identify/:action': action('Identify LED state', { action: 'status.' }),
  'PUT /bmc/:host/chassis/identify': menu('Identify LED operations', { actions: ['on', 'off'] }),
  'PUT /bmc/:host/chassis/identify/:action': action('Switch the identify LED', { action: 'on or off.' }),
  'GET /bmc/:host/chassis/config': menu('Chassis configuration queries', { functions: ['bootdevices'] }),
  'GET /bmc/:host/chassis/config/:function': action('Boot devices the BMC offers', { function: 'bootdevices.' }, 'Answers `{"devices": [...]}` without the action wrapper. '),
  'PUT /bmc/:host/chassis/config': menu('Chassis configuration operations', { functions: ['bootdevice'] }),
  'PUT /bmc/:host/chassis/config/:function': action('Boot device options', { function: 'bootdevice.' }, 'Lists the devices and options (credentials needed). '),
  'PUT /bmc/:host/chassis/config/:function/:device': {
    ...action(
      'Set the next boot device',
      { function: 'bootdevice.', device: 'pxe, disk, bios or cdrom (substring match).' },
      'Any non-empty `reboot` or `persistent` (even `false`) counts as true, as in the reference. ',
    ),
    parameters: [
      host,
      path('function', 'bootdevice.'),
      path('device', 'pxe, disk, bios or cdrom (substring match).'),
      ...backendParameters,
      query('reboot', 'Power cycle after setting the device (any non-empty value).'),
      query('persistent', 'Keep the device for every boot (any non-empty value).'),
    ],
  },
  'GET /bmc/:host/lan': menu('LAN queries', { actions: ['ip', 'netmask', 'mac', 'gateway', 'snmp', 'vlanid', 'ipsrc', 'print'] }),
  'GET /bmc/:host/lan/:action': action('LAN settings of the BMC', { action: 'ip, netmask, mac, gateway, snmp, vlanid, ipsrc or print.' }),
  'GET /bmc/:host/fru': menu('FRU queries', { actions: ['list', 'serial', 'manufacturer', 'model', 'asset_tag'] }),
  'GET /bmc/:host/fru/:action': action('Field-replaceable unit data', { action: 'list, serial, manufacturer, model or asset_tag.' }),
  'GET /bmc/:host/bmc': menu('BMC queries', { actions: ['info', 'guid', 'version'] }),
  'GET /bmc/:host/bmc/:action': action('BMC information', { action: 'info, guid or version.' }),
  'PUT /bmc/:host/bmc': menu('BMC operations', { actions: ['reset'] }),
  'PUT /bmc/:host/bmc/:action': {
    ...action('Reset the BMC', { action: 'reset.' }, 'Without `type`, answers `{"options": "type=cold|warm"}`. '),
    parameters: [host, path('action', 'reset.'), ...backendParameters, query('type', 'cold or warm.', { type: 'string', enum: ['cold', 'warm'] })],
  },
  'GET /bmc/:host/sensors': menu('Sensor queries', { actions: ['list', 'count', 'names', 'fanlist', 'templist', 'get'] }),
  'GET /bmc/:host/sensors/:action': action('Sensor readings', { action: 'list, count, names, fanlist, templist or get.' }),
  'GET /bmc/:host/sensors/:action/:sensor': action('One sensor reading', { action: 'get.', sensor: 'The sensor name.' }),
};

export default docs;
