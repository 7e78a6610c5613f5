// Lists of addresses and subnets from settings (limits.control_peers, trusted_proxies, the metrics
// module's scrape_addresses …): one syntax, one check of it, one matcher (node:net's BlockList).

import { BlockList, isIP } from 'node:net';

/** Why `entry` is not an IP address or a subnet (address/prefix), or undefined when it is one. */
export function addressEntryProblem(entry: string): string | undefined {
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return `expected an IP address or a subnet (address/prefix), got '${entry}'`;
  const max = family === 6 ? 128 : 32;
  if (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max)) return `prefix length must be 0 to ${max}, got '${entry}'`;
  return undefined;
}

/** Addresses and subnets, checked with `addressEntryProblem` beforehand. */
export class AddressList {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    this.empty = entries.length === 0;
    for (const entry of entries) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(prefix), family);
    }
  }

  /** True when `address` is listed; an IPv4 client on a dual-stack socket (::ffff:a.b.c.d) counts as IPv4. */
  has(address: string | undefined): boolean {
    if (this.empty || address === undefined) return false;
    const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const family = isIP(plain);
    if (family === 0) return false; // e.g. an IPv6 address with a zone id
    return this.list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  }
}
