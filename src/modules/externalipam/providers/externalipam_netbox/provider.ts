// externalipam_netbox: NetBox's REST API (spec plugins.md §6.2). Setting names are those of the
// smart_proxy_ipam plugin, so its externalipam_netbox.yml keeps working.

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { EXTERNALIPAM_SETTINGS } from '../../module.ts';
import type { ExternalIpamProvider } from '../../provider.ts';
import { NetBoxProvider } from './netbox.ts';

export default defineProvider({
  id: 'externalipam_netbox',
  module: 'externalipam',
  summary: 'externalipam_netbox: NetBox through its REST API, with an API token allowed to read prefixes and VRFs and to write IP addresses.',
  moduleSettings: EXTERNALIPAM_SETTINGS,
  settings: setting.settings({
    url: setting.url({ required: true, example: 'https://netbox.example.com', description: 'Base URL of NetBox (the API is <url>/api/).' }),
    token: setting.string({ required: true, example: '0123456789abcdef0123456789abcdef01234567', description: 'NetBox API token (keep this file private).' }),
  }),
  create(ctx): ExternalIpamProvider {
    const s = ctx.settings;
    return new NetBoxProvider({ url: s.url, token: s.token, log: ctx.log, connections: s.max_concurrent });
  },
});
