// Generated dhcpd.conf / dhcpd.leases for the DHCP benchmarks (not a benchmark itself: run.ts
// skips nothing, so this file only exports and prints nothing when run).

import { writeFile } from 'node:fs/promises';
import { formatIpv4, parseIpv4 } from '../src/lib/isc/ipv4.ts';

export function leaseText(ip: string, i: number): string {
  const mac = [0x52, 0x54, (i >>> 24) & 255, (i >>> 16) & 255, (i >>> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return `lease ${ip} {
  starts 4 2024/01/04 10:00:00;
  ends 5 2199/01/05 10:00:00;
  cltt 4 2024/01/04 10:00:00;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet ${mac};
  uid "\\001${mac.replaceAll(':', '')}";
  client-hostname "host-${i}";
}
`;
}

/** A /16 (10.20.0.0) or /8 subnet config and a leases file with `count` active leases. */
export async function writeFixtures(conf: string, leases: string, count: number, network = '10.20.0.0', netmask = '255.255.0.0'): Promise<void> {
  await writeFile(conf, `subnet ${network} netmask ${netmask} {\n  option routers ${formatIpv4(parseIpv4(network)! + 1)};\n}\n`);
  const base = parseIpv4(network)! + 2;
  const parts: string[] = ['# generated\nauthoring-byte-order little-endian;\n'];
  for (let i = 0; i < count; i++) parts.push(leaseText(formatIpv4(base + i), i));
  await writeFile(leases, parts.join(''));
}
