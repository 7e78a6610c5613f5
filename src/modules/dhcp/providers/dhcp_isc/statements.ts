// The dhcpd statements attached to a host created through OMAPI (spec dhcp.md §3.2), built the
// way the reference's omshell session builds them.

import { Resolver } from 'node:dns/promises';
import { parseIpv4 } from '../../../../lib/isc/ipv4.ts';
import type { NewReservation } from '../../provider.ts';

/** Quote a value for a dhcpd string literal. The module already rejects control characters. */
export function quote(v: string): string {
  return `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** `192.168.42.10` → `c0:a8:2a:0a` (dhcpd's colon-hex form for an address in `next-server`). */
export function hexIp(ip: string): string {
  const n = parseIpv4(ip);
  if (n === undefined) throw new Error(`not an IPv4 address: ${ip}`);
  return [24, 16, 8, 0].map((s) => ((n >>> s) & 255).toString(16).padStart(2, '0')).join(':');
}

export type ResolveA = (name: string) => Promise<string | undefined>;

/** A-record lookup with the global dns_resolv_timeouts (one try per timeout). */
export function resolverWithTimeouts(timeoutsSeconds: readonly number[]): ResolveA {
  return async (name) => {
    for (const t of timeoutsSeconds.length > 0 ? timeoutsSeconds : [5]) {
      const r = new Resolver({ timeout: t * 1000, tries: 1 });
      try {
        const addrs = await r.resolve4(name);
        if (addrs.length > 0) return addrs[0];
        return undefined;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ETIMEOUT') return undefined;
      }
    }
    return undefined;
  };
}

const SUNW_OPTIONS: Array<[string, string, boolean]> = [
  // [Foreman key, dhcpd option, quoted]
  ['jumpstart_server_path', 'SUNW.JumpStart-server', true],
  ['sysid_server_path', 'SUNW.sysid-config-file-server', true],
  ['install_server_name', 'SUNW.install-server-hostname', true],
  ['install_server_ip', 'SUNW.install-server-ip-address', false],
  ['install_path', 'SUNW.install-path', true],
  ['root_server_hostname', 'SUNW.root-server-hostname', true],
  ['root_server_ip', 'SUNW.root-server-ip-address', false],
  ['root_path_name', 'SUNW.root-path-name', true],
];

export async function buildStatements(r: NewReservation, resolveA: ResolveA): Promise<string> {
  const out: string[] = [];
  let nextServerHex: string | undefined;
  if (r.nextServer !== undefined) {
    if (parseIpv4(r.nextServer) !== undefined) nextServerHex = hexIp(r.nextServer);
    else {
      const a = await resolveA(r.nextServer);
      nextServerHex = a ? hexIp(a) : quote(r.nextServer);
    }
  }
  if (r.filename !== undefined) out.push(`filename = ${quote(r.filename)};`);
  if (nextServerHex !== undefined) out.push(`next-server = ${nextServerHex};`);
  out.push(`option host-name = ${quote(r.hostname)};`);
  if (r.vendorOptions && /sun|solar|sparc/i.test(r.vendor ?? '')) {
    let any = false;
    for (const [key, opt, quoted] of SUNW_OPTIONS) {
      const v = r.vendorOptions[key];
      if (v === undefined) continue;
      if (!quoted && parseIpv4(v) === undefined) throw new Error(`${key} must be an IPv4 address`);
      out.push(`option ${opt} ${quoted ? quote(v) : v};`);
      any = true;
    }
    if (any) out.push('vendor-option-space SUNW;');
  }
  const fn = r.filename?.toLowerCase();
  if (fn?.startsWith('ztp.cfg')) {
    if (nextServerHex !== undefined) out.push(`option option-150 = ${nextServerHex};`);
    out.push(`option FM_ZTP.config-file-name = ${quote(r.filename!)};`);
  } else if (fn?.startsWith('poap.cfg')) {
    if (r.nextServer !== undefined) out.push(`option tftp-server-name = ${quote(r.nextServer)};`);
    out.push(`option bootfile-name = ${quote(r.filename!)};`);
  }
  return out.join(' ');
}
