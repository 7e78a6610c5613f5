// externalipam_phpipam: phpIPAM's REST API (spec plugins.md §6.2). Setting names are those of the
// smart_proxy_ipam plugin, so its externalipam_phpipam.yml keeps working.

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { EXTERNALIPAM_SETTINGS } from '../../module.ts';
import type { ExternalIpamProvider } from '../../provider.ts';
import { PhpIpamProvider } from './phpipam.ts';

export default defineProvider({
  id: 'externalipam_phpipam',
  module: 'externalipam',
  summary:
    'externalipam_phpipam: phpIPAM through its REST API. The API application (Administration → API) must be named like the user and allow read/write with "User token" security.',
  moduleSettings: EXTERNALIPAM_SETTINGS,
  settings: setting.settings({
    url: setting.url({ required: true, example: 'https://phpipam.example.com', description: 'Base URL of phpIPAM (the API is <url>/api/<user>/).' }),
    user: setting.string({ required: true, example: 'foreman', description: 'phpIPAM user; also the API application id.' }),
    password: setting.string({ required: true, example: 'changeme', description: "The user's password (keep this file private)." }),
  }),
  create(ctx): ExternalIpamProvider {
    const s = ctx.settings;
    return new PhpIpamProvider({ url: s.url, user: s.user, password: s.password, log: ctx.log, connections: s.max_concurrent });
  },
});
