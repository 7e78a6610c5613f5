// Settings both Infoblox providers add to the plugins' own (our extensions): the WAPI version,
// the CA of the grid's certificate, and how many WAPI calls run at once.

import * as setting from '../../core/settings/schema.ts';

export const WAPI_SETTINGS = {
  wapi_version: setting.string({
    default: '2.0',
    pattern: '^[0-9]+\\.[0-9]+(\\.[0-9]+)?$',
    extension: true,
    description: "WAPI version in the URL (https://<server>/wapi/v<version>/). The plugins pin 2.0; every object and function used here exists there.",
  }),
  ssl_ca: setting.file({
    checks: ['readable'],
    example: '/etc/foreman-proxy/infoblox-ca.pem',
    extension: true,
    description:
      "PEM file of the CA that signed the grid master's certificate (default: the system CA store, as in the plugins). The certificate is always verified (dhcp_infoblox: unless the environment variable FOREMAN_INFOBLOX_NOSSLVERIFY is set, as in its plugin).",
  }),
  wapi_concurrency: setting.integer({
    default: 8,
    minimum: 1,
    maximum: 64,
    extension: true,
    description: 'WAPI calls at once (HTTPS connections kept to the grid master); further calls queue, and past the queue requests are answered 503.',
  }),
};
