// Settings shared by dns_libvirt and dhcp_libvirt (the reference's libvirt_common): the same names
// and defaults as the reference, so installer-written dns_libvirt.yml/dhcp_libvirt.yml keep working.

import * as setting from '../../core/settings/schema.ts';

export const LIBVIRT_SETTINGS = {
  url: setting.url({
    default: 'qemu:///system',
    description:
      "libvirt connection URI handed to virsh --connect (e.g. qemu:///system, or qemu:///system?socket=/run/libvirt/virtnetworkd-sock for the modular network daemon). The proxy's user needs read-write access to that libvirt socket.",
  }),
  network: setting.string({ default: 'default', description: 'Name of the libvirt network whose DNS hosts / DHCP hosts are managed.' }),
  timeout: setting.number({
    default: 10,
    exclusiveMinimum: 0,
    maximum: 55,
    unit: 'seconds',
    extension: true,
    description: 'Time one virsh call (connect, read or update) may take before it is killed and the request fails (Foreman waits 60).',
  }),
};
