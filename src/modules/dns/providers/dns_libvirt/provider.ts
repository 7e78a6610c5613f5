// `use_provider: dns_libvirt`: host names in a libvirt network's DNS (the <dns><host> entries its
// dnsmasq serves), changed through virsh. Settings as the reference's dns_libvirt.yml.

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { LIBVIRT_SETTINGS } from '../../../../lib/libvirt/settings.ts';
import { LibvirtNetwork } from '../../../../lib/libvirt/virsh.ts';
import { DNS_SETTINGS } from '../../module.ts';
import type { DnsProvider } from '../../provider.ts';
import { LibvirtDnsProvider } from './libvirt-dns.ts';

export default defineProvider({
  id: 'dns_libvirt',
  module: 'dns',
  summary:
    "dns_libvirt: A and AAAA records as <dns><host> entries of a libvirt network (virsh net-update --live --config), answered by the network's dnsmasq, which also answers the matching PTR. CNAME and SRV are not supported.",
  moduleSettings: DNS_SETTINGS,
  settings: setting.settings({ ...LIBVIRT_SETTINGS }),
  create(ctx): DnsProvider {
    const s = ctx.settings;
    const network = new LibvirtNetwork({ url: s.url, network: s.network, timeoutMs: Math.round(s.timeout * 1000), signal: ctx.signal });
    return new LibvirtDnsProvider({ network, log: ctx.log });
  },
});
