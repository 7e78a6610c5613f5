// Address arithmetic for the /ipam routes: IPv4 and IPv6 as BigInt, so one code path serves both
// families (the reference's IPAddr does the same for Ruby). Parsing is strict: what reaches a
// backend URL has been parsed and printed back here.

import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

export interface Network {
  readonly family: Family;
  /** The network address (host bits zero). */
  readonly base: bigint;
  readonly prefix: number;
  /** `10.0.0.0/24`, `2001:db8::/64`: the form backends and the hold table are keyed by. */
  readonly cidr: string;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

function parseV6(text: string): bigint {
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two hextets first.
  let s = text;
  const v4Tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4Tail) {
    const v = parseV4(v4Tail[1]);
    s = `${s.slice(0, v4Tail.index)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headParts.length - tailParts.length;
  const parts = tail === undefined ? headParts : [...headParts, ...Array<string>(missing).fill('0'), ...tailParts];
  let value = 0n;
  for (const p of parts) value = (value << 16n) | BigInt(parseInt(p, 16));
  return value;
}

function parseV4(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** The address, or undefined when `text` is not an IPv4 or IPv6 address. */
export function parseAddress(text: string): Address | undefined {
  if (isIPv4(text)) return { family: 4, value: parseV4(text) };
  if (isIPv6(text) && !text.includes('%')) return { family: 6, value: parseV6(text) };
  return undefined;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as `::`). */
export function formatAddress(a: Address): string {
  if (a.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((a.value >> shift) & 0xffn)).join('.');
  }
  const hextets: number[] = [];
  for (let i = 7; i >= 0; i--) hextets.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = hextets.map((h) => h.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function mask(family: Family, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/**
 * The network `address`/`prefix`, or a reason it is not one: an unparsable address or prefix, or
 * host bits set (the reference's wording: `Network address <a> should be <n> with prefix <p>`).
 */
export function parseNetwork(address: string, prefixText: string): Network | string {
  const a = parseAddress(address);
  if (!a) return `The network cidr is invalid: '${address}' is not an IPv4 or IPv6 address`;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > BITS[a.family]) {
    return `The network cidr is invalid: prefix '${prefixText}' must be a number from 0 to ${BITS[a.family]}`;
  }
  const prefix = Number(prefixText);
  const base = a.value & mask(a.family, prefix);
  const network = formatAddress({ family: a.family, value: base });
  if (base !== a.value) return `Network address ${address} should be ${network} with prefix ${prefix}`;
  return { family: a.family, base, prefix, cidr: `${network}/${prefix}` };
}

export function contains(n: Network, a: Address): boolean {
  return a.family === n.family && (a.value & mask(n.family, n.prefix)) === n.base;
}

/** The last address of the network (IPv4's broadcast; the reference never offers it in IPv6 either). */
export function lastAddress(n: Network): Address {
  const bits = BigInt(BITS[n.family]);
  return { family: n.family, value: n.base | ((1n << (bits - BigInt(n.prefix))) - 1n) };
}

export function successor(a: Address): Address {
  return { family: a.family, value: a.value + 1n };
}
