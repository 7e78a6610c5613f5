// PXE loader variants and the files each one reads (spec tftp.md §1.1–1.2). Pure functions: the
// MAC is validated before it is used in a file name, so a name can only contain hex digits,
// colons and dashes.

import { TftpError } from './errors.ts';

export const VARIANTS = ['syslinux', 'pxelinux', 'pxegrub', 'pxegrub2', 'ztp', 'poap', 'ipxe'] as const;
export type Variant = (typeof VARIANTS)[number];

const MAC6 = /^(?:[0-9a-f]{1,2}:){5}[0-9a-f]{1,2}$/i;
const MAC20 = /^(?:[0-9a-f]{1,2}:){19}[0-9a-f]{1,2}$/i;

export function isValidMac(mac: string): boolean {
  return MAC6.test(mac) || MAC20.test(mac);
}

/** 403 `Invalid MAC address: <mac>` unless `mac` is 6 (Ethernet) or 20 (InfiniBand) hex groups. */
export function checkMac(mac: string): string {
  if (!isValidMac(mac)) throw TftpError.invalid_mac(`Invalid MAC address: ${mac}`);
  return mac;
}

/** Matching ignores case, as the reference capitalises the name before looking it up. */
export function checkVariant(variant: string): Variant {
  const v = variant.toLowerCase();
  if (!(VARIANTS as readonly string[]).includes(v)) {
    throw TftpError.unknown_variant(`Unrecognized pxeboot config type: ${variant}`);
  }
  return v as Variant;
}

/** Files of a host's config, relative to the TFTP root; GET reads the first one only. */
export function hostConfigFiles(variant: Variant, mac: string): string[] {
  const dashLower = mac.replace(/:/g, '-').toLowerCase();
  const dashUpper = mac.replace(/:/g, '-').toUpperCase();
  const bareUpper = mac.replace(/:/g, '').toUpperCase();
  switch (variant) {
    case 'syslinux':
    case 'pxelinux':
      return [`pxelinux.cfg/01-${dashLower}`];
    case 'pxegrub':
      return [`grub/menu.lst.01${bareUpper}`, `grub/01-${dashUpper}`];
    case 'pxegrub2':
      return [`grub2/grub.cfg-01-${dashLower}`, `grub2/grub.cfg-${mac.toLowerCase()}`];
    case 'ztp':
      return [`ztp.cfg/${bareUpper}`, `ztp.cfg/${bareUpper}.cfg`];
    case 'poap':
      return [`poap.cfg/${bareUpper}`];
    case 'ipxe':
      return [`pxelinux.cfg/01-${dashLower}.ipxe`];
  }
}

/** Files `create_default` writes, relative to the TFTP root. */
export function defaultMenuFiles(variant: Variant): string[] {
  switch (variant) {
    case 'syslinux':
    case 'pxelinux':
      return ['pxelinux.cfg/default'];
    case 'pxegrub':
      return ['grub/menu.lst', 'grub/efidefault'];
    case 'pxegrub2':
      return ['grub2/grub.cfg'];
    // The reference targets the directory path itself: writing fails when it is a directory.
    case 'ztp':
      return ['ztp.cfg'];
    case 'poap':
      return ['poap.cfg'];
    case 'ipxe':
      return ['pxelinux.cfg/default.ipxe'];
  }
}
