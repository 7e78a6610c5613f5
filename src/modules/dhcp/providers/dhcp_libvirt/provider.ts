// `use_provider: dhcp_libvirt`: the DHCP of a libvirt network (its dnsmasq), through virsh.
// Settings as the reference's dhcp_libvirt.yml.

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { LIBVIRT_SETTINGS } from '../../../../lib/libvirt/settings.ts';
import { LibvirtNetwork } from '../../../../lib/libvirt/virsh.ts';
import { DHCP_SETTINGS } from '../../module.ts';
import type { DhcpProvider } from '../../provider.ts';
import { LibvirtDhcpProvider } from './libvirt-dhcp.ts';

/** How long a suggested free address is withheld (the reference's free-IP service default, 30 minutes). */
const SUGGESTION_HOLD_MS = 30 * 60 * 1000;

export default defineProvider({
  id: 'dhcp_libvirt',
  module: 'dhcp',
  summary:
    "dhcp_libvirt: the DHCP of a libvirt network: its one IPv4 subnet and <dhcp><host> reservations from the network XML, leases from net-dhcp-leases, reservations written with virsh net-update ip-dhcp-host --live --config. No boot file or next-server per host (libvirt has none).",
  moduleSettings: DHCP_SETTINGS,
  settings: setting.settings({ ...LIBVIRT_SETTINGS }),
  create(ctx): DhcpProvider {
    const s = ctx.settings;
    const network = new LibvirtNetwork({ url: s.url, network: s.network, timeoutMs: Math.round(s.timeout * 1000), signal: ctx.signal });
    return new LibvirtDhcpProvider({ network, log: ctx.log, pingFreeIp: s.ping_free_ip, holdMs: SUGGESTION_HOLD_MS });
  },
});
