// The externalipam module (spec plugins.md §6): Foreman subnets whose IPAM is "External IPAM"
// get their next free address from, and reserve or release addresses in, phpIPAM or NetBox,
// through the provider named by use_provider. Names follow the smart_proxy_ipam plugin, so its
// externalipam.yml, externalipam_phpipam.yml and externalipam_netbox.yml keep working.

import { defineModule, type Providers } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import { IPAM_ERRORS } from './errors.ts';
import type { ExternalIpamProvider } from './provider.ts';

export const EXTERNALIPAM_SETTINGS = setting.settings({
  use_provider: setting.oneOf(['externalipam_phpipam', 'externalipam_netbox'], {
    default: 'externalipam_phpipam',
    description: 'The IPAM backend: externalipam_phpipam (phpIPAM) or externalipam_netbox (NetBox).',
  }),
  ipam_timeout: setting.integer({
    default: 20,
    minimum: 1,
    maximum: 55,
    unit: 'seconds',
    extension: true,
    description: 'Time one /ipam request may take, all its calls to the IPAM together (Foreman waits 60).',
  }),
  next_ip_hold: setting.integer({
    default: 60,
    minimum: 1,
    maximum: 3600,
    unit: 'seconds',
    extension: true,
    description: 'How long an address offered by next_ip is held for its MAC and not offered to another host (the reference: 60).',
  }),
  max_concurrent: setting.integer({
    default: 8,
    minimum: 1,
    maximum: 256,
    extension: true,
    description: 'IPAM requests at once; eight times as many may wait (up to ipam_timeout), beyond that the answer is 503 with Retry-After.',
  }),
});

export default defineModule({
  name: 'externalipam',
  summary: 'External IPAM (/ipam): next free address, reservations and groups in phpIPAM or NetBox.',
  prefixes: ['/ipam'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  // The plugin checks nothing (spec §6.1 QUIRK); Foreman calls with its client certificate, so
  // trusted_hosts and the certificate are checked like every Foreman-facing module.
  authorize: true,
  settings: EXTERNALIPAM_SETTINGS,
  // The plugin exposes no settings in /v2/features (spec plugins.md introduction).
  exposedSettings: [],
  providerIds: (s) => [s.use_provider],
  errors: IPAM_ERRORS,
  async create(ctx, providers: Providers<ExternalIpamProvider>) {
    return (await import('./api.ts')).externalIpamModule(ctx, providers.get(ctx.settings.use_provider));
  },
});
