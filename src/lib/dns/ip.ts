// IP address parsing and formatting for DNS records, strict enough to reject what the reference
// rejects (zero-padded IPv4 octets, mixed families) and to normalise IPv6 to RFC 5952 form.

/** Dotted-quad IPv4 → 4 bytes, or null. Leading zeros are ambiguous (octal?) and refused. */
export function parseIPv4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** IPv6 text (with optional embedded IPv4 tail) → 16 bytes, or null. No zone ids, no prefixes. */
export function parseIPv6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return null;
  let head = s;
  let v4: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return null;
    // the IPv4 tail stands for the last two groups; it is copied in at the end
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return null;
  const split = (t: string): string[] | null => {
    if (t === '') return [];
    const g = t.split(':');
    for (const x of g) if (!/^[0-9a-fA-F]{1,4}$/.test(x)) return null;
    return g;
  };
  let groups: string[];
  if (dbl >= 0) {
    const left = split(head.slice(0, dbl));
    const right = split(head.slice(dbl + 2));
    if (!left || !right) return null;
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...Array<string>(missing).fill('0'), ...right];
  } else {
    const g = split(head);
    if (!g || g.length !== 8) return null;
    groups = g;
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i], 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (v4) out.set(v4, 12);
  return out;
}

/** RFC 5952: lower case, no leading zeros, the longest run (≥2) of zero groups as `::`. */
export function formatIPv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[i * 2] << 8) | b[i * 2 + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The reverse-lookup name of an address: `4.3.2.1.in-addr.arpa` or the 32-nibble ip6.arpa name. */
export function reverseName(addr: Uint8Array): string {
  if (addr.length === 4) return `${addr[3]}.${addr[2]}.${addr[1]}.${addr[0]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) nibbles.push((addr[i] & 0xf).toString(16), (addr[i] >> 4).toString(16));
  return `${nibbles.join('.')}.ip6.arpa`;
}
