// The DHCP module (spec dhcp.md): subnets, reservations and leases of the DHCP backend named by
// use_provider (dhcp_isc by default; dhcp_kea, dhcp_remote_isc, dhcp_libvirt, dhcp_dnsmasq,
// dhcp_infoblox), and free-IP suggestions.

import { defineModule, type Providers } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { DhcpProvider } from './provider.ts';

export const DHCP_SETTINGS = setting.settings({
  use_provider: setting.string({
    default: 'dhcp_isc',
    description:
      'Backend: dhcp_isc (ISC dhcpd: its files plus OMAPI), dhcp_remote_isc (ISC dhcpd on another host: its files through a mounted path, OMAPI over the network), dhcp_kea (Kea Control Agent), dhcp_libvirt (a libvirt network), dhcp_dnsmasq (dnsmasq dhcp-host files) or dhcp_infoblox (Infoblox WAPI). Shown in /v2/features.',
  }),
  server: setting.string({
    default: '127.0.0.1',
    description:
      "Address of the DHCP server. dhcp_isc and dhcp_remote_isc send OMAPI requests there (port: their omapi_port); dhcp_infoblox talks to it as the grid master; dhcp_kea does not use it.",
  }),
  subnets: setting.list({
    default: [],
    description:
      '"network/netmask" strings (e.g. 192.168.205.0/255.255.255.128) restricting the reported subnets, for providers that honour it. dhcp_infoblox honours it; dhcp_isc and dhcp_kea ignore it (as the reference\'s ISC provider does).',
  }),
  ping_free_ip: setting.boolean({
    default: true,
    description:
      'Probe unused_ip candidates (a TCP connect to port 7 and one ICMP echo, 1 second each) and skip the ones that answer.',
  }),
});

export default defineModule({
  name: 'dhcp',
  summary: 'DHCP reservations, leases and free-IP suggestions (/dhcp).',
  prefixes: ['/dhcp'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: DHCP_SETTINGS,
  providerIds: (s) => [s.use_provider],
  exposedSettings: ['use_provider'],
  // A provider failure that is not a DhcpError is a 400 with its message, as in the reference.
  errors: { untypedStatus: 400 },
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  async create(ctx, providers: Providers<DhcpProvider>) {
    return (await import('./api.ts')).dhcpModule(providers.get(ctx.settings.use_provider));
  },
});
