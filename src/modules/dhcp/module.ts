// The DHCP module (spec dhcp.md): subnets, reservations and leases of one DHCP backend.

import { defineModule } from '../../core/module.ts';
import type { DhcpProvider } from './provider.ts';

export default defineModule<DhcpProvider>({
  name: 'dhcp',
  prefixes: ['/dhcp'],
  audience: 'foreman',
  authorize: true,
  settings: {
    use_provider: { default: 'dhcp_isc', type: 'string' },
    server: { default: '127.0.0.1', type: 'string' },
    subnets: { default: [], type: 'list' },
    ping_free_ip: { default: true, type: 'boolean', checks: ['boolean'] },
  },
  providerIds: (settings) => [String(settings.use_provider)],
  exposedSettings: ['use_provider'],
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app, ctx) => (await import('./api.ts')).dhcpRoutes(app, ctx),
});
