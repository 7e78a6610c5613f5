// IPv4 and MAC helpers shared by the dhcpd.conf/leases parsers and the DHCP providers. Addresses
// are handled as unsigned 32-bit numbers internally so subnet maths and free-IP searches on a /16
// stay allocation-free.

/** Parse a dotted quad (exactly four decimal octets, no leading `+`/spaces); undefined if invalid. */
export function parseIpv4(text: string): number | undefined {
  if (text.length < 7 || text.length > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0) return undefined;
      value = value * 256 + octet;
      parts++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
      if (digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || parts !== 3) return undefined;
  return value * 256 + octet;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Number of leading one bits of a dotted netmask, or undefined when not contiguous. */
export function prefixLength(mask: number): number | undefined {
  let len = 0;
  while (len < 32 && (mask & (0x80000000 >>> len)) !== 0) len++;
  const expected = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return expected === mask >>> 0 ? len : undefined;
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `network & mask` as an unsigned number. */
export function networkOf(ip: number, mask: number): number {
  return (ip & mask) >>> 0;
}

export function broadcastOf(network: number, mask: number): number {
  return (network | (~mask >>> 0)) >>> 0;
}

/**
 * Normalise a MAC: lower-case, six or twenty colon-separated groups of one or two hex digits
 * (the reference's accepted forms), each group padded to two digits. Undefined if invalid.
 */
export function normalizeMac(text: string): string | undefined {
  if (text.length === 17 && isCanonicalMac(text)) return text;
  const groups = text.toLowerCase().split(':');
  if (groups.length !== 6 && groups.length !== 20) return undefined;
  const out: string[] = [];
  for (const g of groups) {
    if (g.length < 1 || g.length > 2) return undefined;
    for (let i = 0; i < g.length; i++) {
      const c = g.charCodeAt(i);
      if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return undefined;
    }
    out.push(g.length === 1 ? `0${g}` : g);
  }
  return out.join(':');
}

/** Already lower-case `xx:xx:xx:xx:xx:xx` (the common case; avoids split/join on hot paths). */
function isCanonicalMac(t: string): boolean {
  for (let i = 0; i < 17; i++) {
    const c = t.charCodeAt(i);
    if (i % 3 === 2) {
      if (c !== 58) return false;
    } else if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}
