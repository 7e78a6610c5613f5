// Translation between Kea's JSON (config reservations, lease_cmds leases) and the module's
// backend-neutral records. Kea has no field for Foreman's reservation name or for extra params, so
// those travel in the reservation's `user-context` under `foreman`, which Kea stores and returns
// untouched; a re-POST of the same reservation then compares equal (200, not 409).

import { formatIpv4, isIpv4, maskOf, normalizeMac, parseIpv4, prefixLength } from '../../../../lib/isc/ipv4.ts';
import {
  effectiveOption,
  parsePool,
  type KeaConfig,
  type KeaReservation,
  type LocatedSubnet,
} from '../../../../lib/kea/dhcp4-config.ts';
import type { DhcpSubnet, Lease, NewReservation, RecordOptions, Reservation, SubnetOptions } from '../../provider.ts';
import { DhcpError } from '../../errors.ts';

/** What `lease4-get*` returns per lease. */
export interface KeaLease4 {
  'ip-address'?: string;
  'hw-address'?: string;
  'client-id'?: string;
  hostname?: string;
  cltt?: number;
  'valid-lft'?: number;
  state?: number;
  'subnet-id'?: number;
  [key: string]: unknown;
}

interface ForemanContext {
  name?: string;
  nextServer?: string;
  options?: Record<string, string>;
}

/** Kea lease states (lease_cmds): 0 default, 1 declined, 2 expired-reclaimed. */
const LEASE_STATES: Record<number, string> = { 0: 'active', 1: 'declined', 2: 'expired-reclaimed' };

/** Kea's "infinite" valid lifetime. */
const INFINITE_LFT = 0xffffffff;

export function subnetFromKea(config: KeaConfig, located: LocatedSubnet): DhcpSubnet {
  const options: SubnetOptions = {};
  const list = (v: string | undefined): string[] | undefined =>
    v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const routers = list(effectiveOption(config, located, 'routers', 3));
  if (routers) options.routers = routers;
  const domain = effectiveOption(config, located, 'domain-name', 15);
  if (domain !== undefined) options.domain_name = domain;
  const dns = list(effectiveOption(config, located, 'domain-name-servers', 6));
  if (dns) options.domain_name_servers = dns;
  const ntp = list(effectiveOption(config, located, 'ntp-servers', 42));
  if (ntp) options.ntp_servers = ntp;
  const mtu = effectiveOption(config, located, 'interface-mtu', 26);
  if (mtu !== undefined && /^\d+$/.test(mtu.trim())) options.interface_mtu = Number(mtu.trim());
  const pools = located.subnet.pools;
  if (Array.isArray(pools)) {
    for (const p of pools) {
      const range = p && typeof p.pool === 'string' ? parsePool(p.pool) : undefined;
      if (range) {
        options.range = [formatIpv4(range[0]), formatIpv4(range[1])];
        break;
      }
    }
  }
  return { network: formatIpv4(located.network), netmask: formatIpv4(maskOf(located.prefix)), options };
}

/** Network number and prefix length of a module subnet. */
export function subnetPrefix(subnet: DhcpSubnet): { network: number; prefix: number } | undefined {
  const net = parseIpv4(subnet.network);
  const mask = parseIpv4(subnet.netmask);
  if (net === undefined || mask === undefined) return undefined;
  const prefix = prefixLength(mask);
  return prefix === undefined ? undefined : { network: net, prefix };
}

function foremanContext(r: KeaReservation): ForemanContext {
  const uc = r['user-context'];
  const f = uc && typeof uc === 'object' ? (uc as { foreman?: unknown }).foreman : undefined;
  if (!f || typeof f !== 'object') return {};
  const raw = f as Record<string, unknown>;
  const out: ForemanContext = {};
  if (typeof raw.name === 'string') out.name = raw.name;
  if (typeof raw.nextServer === 'string') out.nextServer = raw.nextServer;
  if (raw.options && typeof raw.options === 'object') {
    const opts: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw.options as Record<string, unknown>)) if (typeof v === 'string') opts[k] = v;
    out.options = opts;
  }
  return out;
}

const nonEmpty = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * A Kea reservation as the module sees it, or undefined for reservations Foreman cannot address
 * (identified by client-id/DUID/circuit-id instead of a MAC, or without a fixed address).
 * Every reservation is deleteable: the proxy removes it through the same path it adds them.
 */
export function reservationFromKea(r: KeaReservation): Reservation | undefined {
  const mac = typeof r['hw-address'] === 'string' ? normalizeMac(r['hw-address']) : undefined;
  const ip = nonEmpty(r['ip-address']);
  if (mac === undefined || ip === undefined || !isIpv4(ip)) return undefined;
  const ctx = foremanContext(r);
  const hostname = nonEmpty(r.hostname);
  const options: RecordOptions = {};
  if (hostname !== undefined) options.hostname = hostname;
  const nextServer = ctx.nextServer ?? nonEmpty(r['next-server']);
  if (nextServer !== undefined && nextServer !== '0.0.0.0') options.nextServer = nextServer;
  const filename = nonEmpty(r['boot-file-name']);
  if (filename !== undefined) options.filename = filename;
  if (ctx.options) {
    for (const [k, v] of Object.entries(ctx.options)) if (!Object.hasOwn(options, k) && k !== '__proto__') options[k] = v;
  }
  return { type: 'reservation', name: ctx.name ?? hostname ?? ip, ip, mac, deleteable: true, options };
}

/**
 * The Kea reservation for a new Foreman reservation. A next-server given as a host name cannot go
 * into the BOOTP `siaddr` field (IPv4 only), so it is sent as option 66 (tftp-server-name) and the
 * `sname` header field instead, which PXE firmware also reads.
 */
export function reservationToKea(r: NewReservation): KeaReservation {
  const out: KeaReservation = { 'hw-address': r.mac, 'ip-address': r.ip, hostname: r.hostname };
  const ctx: ForemanContext = { name: r.name };
  if (r.nextServer !== undefined && r.nextServer !== '') {
    if (isIpv4(r.nextServer)) {
      out['next-server'] = r.nextServer;
    } else {
      out['server-hostname'] = r.nextServer;
      out['option-data'] = [{ name: 'tftp-server-name', data: r.nextServer }];
      ctx.nextServer = r.nextServer;
    }
  }
  if (r.filename !== undefined && r.filename !== '') out['boot-file-name'] = r.filename;
  if (r.extra && Object.keys(r.extra).length > 0) ctx.options = { ...r.extra };
  out['user-context'] = { foreman: ctx };
  return out;
}

/** kea-dhcp4 refuses a longer `boot-file-name` (the BOOTP `file` field, NUL-terminated). */
export const KEA_MAX_BOOT_FILE = 127;
/** kea-dhcp4 refuses a longer `server-hostname` (the BOOTP `sname` field, NUL-terminated). */
export const KEA_MAX_SERVER_HOSTNAME = 63;

/** Printable ASCII: what Kea's JSON round trip keeps byte for byte. */
function isPrintableAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126) return false;
  }
  return true;
}

/**
 * Refuse, naming the field, what kea-dhcp4 cannot hold or would store differently from what was
 * posted. The module has already checked name, hostname, nextServer and filename for both
 * providers (validate.ts); this adds Kea's own limits: the lengths config-test would refuse
 * (after a failed config-set Kea 2.2 may stop serving, so they are caught before any command),
 * and non-ASCII or control characters in the params kept in `user-context` (Kea writes every byte
 * above 0x7f back as a separate `\u00XX` character, and again at each later config-set, until
 * the garbled value outgrows its limits and every write fails).
 */
export function checkKeaReservation(r: NewReservation): void {
  if (r.filename !== undefined && Buffer.byteLength(r.filename) > KEA_MAX_BOOT_FILE) {
    throw DhcpError.invalid_field(`Invalid filename: longer than ${KEA_MAX_BOOT_FILE} bytes (Kea's limit for boot-file-name)`);
  }
  if (r.nextServer !== undefined && !isIpv4(r.nextServer) && Buffer.byteLength(r.nextServer) > KEA_MAX_SERVER_HOSTNAME) {
    throw DhcpError.invalid_field(`Invalid nextServer: longer than ${KEA_MAX_SERVER_HOSTNAME} bytes (Kea's limit for server-hostname)`);
  }
  for (const [key, value] of Object.entries(r.extra ?? {})) {
    if (!isPrintableAscii(key) || !isPrintableAscii(value)) {
      throw DhcpError.invalid_field(`Invalid ${key}: only printable ASCII is stored unchanged by Kea`);
    }
  }
}

/** The reservation the module would read back after storing `r` (used to spot identical re-posts). */
export function expectedReservation(r: NewReservation): Reservation {
  const back = reservationFromKea(reservationToKea(r));
  if (!back) throw new Error(`dhcp/kea: cannot represent reservation ${r.name} (${r.ip} / ${r.mac})`);
  return back;
}

export function sameReservation(a: Reservation, b: Reservation): boolean {
  if (a.name !== b.name || a.ip !== b.ip || a.mac !== b.mac) return false;
  const ka = Object.keys(a.options);
  const kb = Object.keys(b.options);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => JSON.stringify(a.options[k]) === JSON.stringify(b.options[k]));
}

/** `YYYY-MM-DD HH:MM:SS UTC`, the format the module prints. */
export function formatTimestamp(epochSeconds: number): string {
  return `${new Date(epochSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * A lease as the module sees it, or undefined for leases that no longer hold their address
 * (expired and reclaimed) or lack a MAC (ISC drops the same).
 */
export function leaseFromKea(l: KeaLease4): Lease | undefined {
  const ip = nonEmpty(l['ip-address']);
  const mac = typeof l['hw-address'] === 'string' ? normalizeMac(l['hw-address']) : undefined;
  if (ip === undefined || !isIpv4(ip) || mac === undefined) return undefined;
  const state = typeof l.state === 'number' ? (LEASE_STATES[l.state] ?? `state-${l.state}`) : 'active';
  if (state === 'expired-reclaimed') return undefined;
  const cltt = typeof l.cltt === 'number' ? l.cltt : undefined;
  const lft = typeof l['valid-lft'] === 'number' ? l['valid-lft'] : undefined;
  let ends: string | null = null;
  if (cltt !== undefined && lft !== undefined) {
    // Same stand-in for "never" as the ISC provider.
    ends = lft >= INFINITE_LFT ? '2038-01-19 03:14:07 UTC' : formatTimestamp(cltt + lft);
  }
  const options: RecordOptions = {};
  if (cltt !== undefined) options.cltt = formatTimestamp(cltt);
  const host = nonEmpty(l.hostname);
  if (host !== undefined) options.client_hostname = host;
  const cid = nonEmpty(l['client-id']);
  if (cid !== undefined) options.client_id = cid;
  return {
    type: 'lease',
    name: `lease-${mac.replace(/:/g, '')}`,
    ip,
    mac,
    starts: cltt === undefined ? null : formatTimestamp(cltt),
    ends,
    state,
    options,
  };
}
