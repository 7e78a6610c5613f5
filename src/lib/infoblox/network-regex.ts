// A regular expression matching the addresses of an IPv4 network, for WAPI searches that have no
// "in this network" argument (`record:host?ipv4addr~=`, `lease?address~=`). Octets the prefix fixes
// are literal, free octets match any number, and the one octet a prefix splits lists its values.
// Results are filtered exactly afterwards, so the expression only has to keep the answer small.

import { broadcastOf, formatIpv4, maskOf } from '../isc/ipv4.ts';

export function networkRegex(network: number, prefix: number): string {
  const first = formatIpv4(network).split('.').map(Number);
  const last = formatIpv4(broadcastOf(network, maskOf(prefix))).split('.').map(Number);
  const parts = first.map((lo, i) => {
    const hi = last[i]!;
    if (lo === hi) return String(lo);
    if (lo === 0 && hi === 255) return '[0-9]+';
    const values: string[] = [];
    for (let v = lo; v <= hi; v++) values.push(String(v));
    return `(${values.join('|')})`;
  });
  return `^${parts.join('\\.')}$`;
}
