// OpenAPI docs of the discovery relay (spec plugins.md §1.2); merged by core/openapi/generate.ts.

import { empty, error, json, path, ref } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const ip = path('ip', 'The node\'s IPv4 or IPv6 address (an IP literal; IPv6 may be given with or without brackets). Host names are refused.', {
  type: 'string',
  examples: ['192.168.100.23', '2001:db8::23'],
});

const nodeErrors = {
  '400': error('`ip` is not a unicast IP literal.', "Invalid node address 'node.example.com' (parameter ip): not an IPv4 or IPv6 address (host names, ports and paths are not relayed)"),
  '403': error('`ip` is outside `node_networks` (or the caller is not authorized: trusted_hosts and client certificate).', 'Node address 10.9.9.9 is outside :node_networks: of discovery.yml'),
  '4XX': error("The node's own 4xx status is passed on, with its body.", 'Proxy error HTTP 404 (Not Found): Not found'),
  '502': error('The node could not be reached (connection refused, no route, TLS failure), or answered a non-2xx status outside 4xx/5xx; a node 5xx is passed on as is.', 'Failed to open TCP connection to 192.168.100.23:8443 (connect ECONNREFUSED 192.168.100.23:8443)'),
  '503': ref.busy,
  '504': error('The node did not answer within `node_timeout`.'),
};

const node = (summary: string, description: string, extra: Partial<OpenApiOperation> = {}): OpenApiOperation => ({
  summary,
  description: `${description} Relayed to \`<node_scheme>://<ip>:<node_port>\` with the TLS policy of \`node_verify_tls\`/\`node_ssl_ca\`.`,
  parameters: [ip],
  ...extra,
  responses: { '200': json("The node's answer, verbatim.", { type: 'object' }, { result: true }), ...nodeErrors },
});

const docs: ModuleApiDocs = {
  'POST /discovery/create': {
    summary: 'Fact upload of a discovered host',
    description:
      'Called by the discovery image (no authentication). The body must be a JSON object with a `facts` object; it is relayed byte for byte to ' +
      "Foreman's `POST /api/v2/discovered_hosts/facts` with the proxy's client certificate.",
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['facts'], properties: { facts: { type: 'object' } } } } } },
    responses: {
      '200': empty('Foreman accepted the facts (any 2xx); empty body labelled application/json.'),
      '400': error('The body is not a JSON object with a `facts` object.', "Invalid discovery upload: the body must be a JSON object with a 'facts' object"),
      '500': error('Foreman refused the facts, or foreman_url is not set.', 'Discovery failed, code 422, reason: Validation failed'),
      '502': error('Foreman could not be reached.'),
      '503': ref.busy,
      '504': error('Foreman did not answer within `upstream_timeout`.'),
    },
  },
  'GET /discovery/:ip/inventory/facter': node('Current facts of a discovered node', 'Calls `GET /inventory/facter` on the node (Foreman\'s "Refresh facts").'),
  'GET /discovery/:ip/facts': node('Legacy facts refresh', 'Calls `GET /facts` on the node. Not called by current Foreman.'),
  'PUT /discovery/:ip/power/reboot': node('Reboot a discovered node', 'Calls `PUT /power/reboot` on the node (empty form body).'),
  'PUT /discovery/:ip/power/kexec': node('Kexec a discovered node into the installer', 'Calls `PUT /power/kexec` on the node with the request body verbatim.', {
    requestBody: {
      required: true,
      content: { 'application/json': { schema: { type: 'object' }, example: { kernel: 'http://example.com/vmlinuz', initram: 'http://example.com/initrd.img', append: 'ks=http://example.com/ks', extra: [] } } },
    },
  }),
  'PUT /discovery/:ip/reboot': node(
    'Legacy reboot',
    'Calls `PUT http://<ip>:<node_port>/bmc/<ip>/chassis/power/cycle` (always plain HTTP, as the reference). Not called by current Foreman.',
  ),
};

export default docs;
