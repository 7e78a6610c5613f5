// What Foreman may name as a discovered node (`/discovery/:ip/…`): an IP literal and nothing else.
// The reference pasted the path segment into `<scheme>://<ip>:<port>` unchecked, so a host name,
// `host:port`, `user@host` or an IPv6 address (unbracketed, hence an invalid URL) went into the
// URL as given. Here the segment must be one unicast IPv4 or IPv6 address; the URL is built from
// the parsed address (IPv6 bracketed) and the configured port, and `node_networks`, when set,
// limits which addresses the proxy relays to.

import { BlockList, isIP } from 'node:net';
import { DiscoveryError } from './errors.ts';

export interface NodeAddress {
  /** The address as given (brackets removed). */
  readonly ip: string;
  readonly family: 4 | 6;
  /** The address as a URL host: IPv6 in brackets. */
  readonly urlHost: string;
}

/** Parse a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address; a message when it is not one. */
export function parseNetwork(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | string {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `'${entry}' is not an address or a CIDR network (e.g. 192.168.0.0/24, 2001:db8::/64)`;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max) return `'${entry}' has an invalid prefix length (0 to ${max})`;
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** The allow list of `node_networks`, or undefined when every unicast address is allowed. */
export function networkList(entries: readonly string[] | undefined): BlockList | undefined {
  if (entries === undefined || entries.length === 0) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const net = parseNetwork(entry);
    if (typeof net === 'string') throw new Error(net);
    list.addSubnet(net.address, net.prefix, net.family);
  }
  return list;
}

function ipv4Reason(ip: string): string | undefined {
  const a = Number(ip.split('.')[0]);
  if (ip === '0.0.0.0') return 'the unspecified address';
  if (a === 0) return 'an address of "this network" (0.0.0.0/8)';
  if (a >= 224 && a <= 239) return 'a multicast address';
  if (ip === '255.255.255.255') return 'the broadcast address';
  if (a >= 240) return 'a reserved address (240.0.0.0/4)';
  return undefined;
}

function ipv6Reason(ip: string): string | undefined {
  const lower = ip.toLowerCase();
  if (/^[0:]+$/.test(lower)) return 'the unspecified address';
  if (lower.startsWith('ff')) return 'a multicast address';
  return undefined;
}

/**
 * Check the `:ip` segment. Throws `invalid_address` (400) naming the field and the reason, or
 * `address_not_allowed` (403) when `allowed` is given and does not contain the address.
 */
export function parseNodeAddress(segment: string, allowed: BlockList | undefined): NodeAddress {
  const ip = segment.startsWith('[') && segment.endsWith(']') ? segment.slice(1, -1) : segment;
  const bad = (reason: string) => DiscoveryError.invalid_address(`Invalid node address '${segment}' (parameter ip): ${reason}`);
  if (ip.includes('%')) throw bad('IPv6 zone identifiers are not supported');
  const family = isIP(ip);
  if (family === 0) throw bad('not an IPv4 or IPv6 address (host names, ports and paths are not relayed)');
  const reason = family === 4 ? ipv4Reason(ip) : ipv6Reason(ip);
  if (reason !== undefined) throw bad(`${reason} cannot be a discovered node`);
  if (allowed && !allowed.check(ip, family === 4 ? 'ipv4' : 'ipv6')) {
    throw DiscoveryError.address_not_allowed(`Node address ${ip} is outside :node_networks: of discovery.yml`);
  }
  return { ip, family: family === 6 ? 6 : 4, urlHost: family === 6 ? `[${ip}]` : ip };
}
