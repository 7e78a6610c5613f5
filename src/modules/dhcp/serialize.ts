// JSON shapes of the DHCP API (spec dhcp.md §1.1, §1.2): key order as the reference prints it.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { DhcpRecord, DhcpSubnet, Lease, Reservation } from './provider.ts';

export function subnetJson(s: DhcpSubnet): Record<string, unknown> {
  return { network: s.network, netmask: s.netmask, options: s.options };
}

export function recordJson(r: DhcpRecord, subnet: DhcpSubnet): Record<string, unknown> {
  const sub = `${subnet.network}/${subnet.netmask}`;
  if (r.type === 'reservation') {
    const o: Record<string, unknown> = { name: r.name, ip: r.ip, mac: r.mac, subnet: sub, type: 'reservation', deleteable: r.deleteable };
    for (const [k, v] of Object.entries(r.options)) if (!(k in o)) o[k] = v;
    return o;
  }
  const o: Record<string, unknown> = {
    name: r.name,
    ip: r.ip,
    mac: r.mac,
    subnet: sub,
    starts: r.starts,
    ends: r.ends,
    state: r.state,
    type: 'lease',
  };
  for (const [k, v] of Object.entries(r.options)) if (!(k in o)) o[k] = v;
  return o;
}

/** `name (ip / mac)` for reservations, `ip / mac` for leases (delete errors). */
export function describe(r: DhcpRecord): string {
  return r.type === 'reservation' ? `${r.name} (${r.ip} / ${r.mac})` : `${r.ip} / ${r.mac}`;
}

const BATCH = 500;

/**
 * `{"reservations":[…],"leases":[…]}` produced in batches with a turn of the event loop between
 * them, so 50 000 records never hold up other requests for the whole serialisation.
 */
export async function* recordsJson(reservations: Reservation[], leases: Lease[], subnet: DhcpSubnet): AsyncGenerator<string> {
  const lists: Array<[string, DhcpRecord[]]> = [
    ['{"reservations":[', reservations],
    ['],"leases":[', leases],
  ];
  for (const [head, list] of lists) {
    let out = head;
    for (let i = 0; i < list.length; i++) {
      out += (i === 0 ? '' : ',') + JSON.stringify(recordJson(list[i], subnet));
      if (i % BATCH === BATCH - 1) {
        yield out;
        out = '';
        await yieldToLoop();
      }
    }
    if (out !== '') yield out;
  }
  yield ']}';
}
