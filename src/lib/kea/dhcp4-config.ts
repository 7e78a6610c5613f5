// Reading and editing the `Dhcp4` configuration tree that `config-get` returns and `config-set`
// takes. Pure functions: the input tree is never modified; edits return a copy, so a failed
// `config-test` leaves nothing half-changed in memory.

import { parseIpv4, maskOf, networkOf, formatIpv4 } from '../isc/ipv4.ts';

export interface KeaOptionData {
  name?: string;
  code?: number;
  data?: string;
  'csv-format'?: boolean;
  space?: string;
  [key: string]: unknown;
}

export interface KeaReservation {
  'hw-address'?: string;
  'ip-address'?: string;
  hostname?: string;
  'next-server'?: string;
  'server-hostname'?: string;
  'boot-file-name'?: string;
  'option-data'?: KeaOptionData[];
  'user-context'?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface KeaPool {
  pool: string;
  [key: string]: unknown;
}

export interface KeaSubnet4 {
  id?: number;
  subnet: string;
  pools?: KeaPool[];
  'option-data'?: KeaOptionData[];
  reservations?: KeaReservation[];
  [key: string]: unknown;
}

export interface KeaSharedNetwork4 {
  name?: string;
  subnet4?: KeaSubnet4[];
  'option-data'?: KeaOptionData[];
  [key: string]: unknown;
}

export interface KeaDhcp4 {
  subnet4?: KeaSubnet4[];
  'shared-networks'?: KeaSharedNetwork4[];
  'option-data'?: KeaOptionData[];
  'hosts-database'?: unknown;
  'hosts-databases'?: unknown;
  [key: string]: unknown;
}

/** The `arguments` of a `config-get` reply (and of `config-test`/`config-set`). */
export interface KeaConfig {
  Dhcp4: KeaDhcp4;
  [key: string]: unknown;
}

export class KeaConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeaConfigError';
  }
}

/** A subnet with its place in the tree and the scopes its options inherit from. */
export interface LocatedSubnet {
  subnet: KeaSubnet4;
  /** Network address and prefix length, normalised (`192.168.122.7/24` → `.0`). */
  network: number;
  prefix: number;
  /** Enclosing shared network, if any. */
  shared?: KeaSharedNetwork4;
}

export function isKeaConfig(value: unknown): value is KeaConfig {
  if (value === null || typeof value !== 'object') return false;
  const d = (value as { Dhcp4?: unknown }).Dhcp4;
  return d !== null && typeof d === 'object' && !Array.isArray(d);
}

/** `a.b.c.d/len` → normalised network number and prefix; undefined when malformed. */
export function parsePrefix(text: string): { network: number; prefix: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIpv4(text.slice(0, slash).trim());
  const lenText = text.slice(slash + 1).trim();
  if (ip === undefined || !/^\d{1,2}$/.test(lenText)) return undefined;
  const prefix = Number(lenText);
  if (prefix > 32) return undefined;
  return { network: networkOf(ip, maskOf(prefix)), prefix };
}

/** Kea pool syntax: `first - last` (spaces optional) or `prefix/len`. */
export function parsePool(text: string): [number, number] | undefined {
  if (text.includes('/')) {
    const p = parsePrefix(text);
    if (!p) return undefined;
    return [p.network, (p.network | (~maskOf(p.prefix) >>> 0)) >>> 0];
  }
  const dash = text.indexOf('-');
  if (dash < 0) return undefined;
  const a = parseIpv4(text.slice(0, dash).trim());
  const b = parseIpv4(text.slice(dash + 1).trim());
  if (a === undefined || b === undefined || a > b) return undefined;
  return [a, b];
}

/** Every IPv4 subnet, top-level ones first, then those inside shared networks, in file order. */
export function listSubnets(config: KeaConfig): LocatedSubnet[] {
  const out: LocatedSubnet[] = [];
  const add = (list: unknown, shared?: KeaSharedNetwork4): void => {
    if (!Array.isArray(list)) return;
    for (const s of list as KeaSubnet4[]) {
      if (s === null || typeof s !== 'object' || typeof s.subnet !== 'string') continue;
      const p = parsePrefix(s.subnet);
      if (!p) continue;
      out.push(shared ? { subnet: s, ...p, shared } : { subnet: s, ...p });
    }
  };
  add(config.Dhcp4.subnet4);
  const shared = config.Dhcp4['shared-networks'];
  if (Array.isArray(shared)) for (const sn of shared) if (sn && typeof sn === 'object') add(sn.subnet4, sn);
  return out;
}

export function subnetKey(network: number, prefix: number): string {
  return `${formatIpv4(network)}/${prefix}`;
}

/** The subnet with exactly this network and prefix (Kea refuses duplicate prefixes). */
export function findSubnet(config: KeaConfig, network: number, prefix: number): LocatedSubnet | undefined {
  return listSubnets(config).find((s) => s.network === network && s.prefix === prefix);
}

/**
 * The value of an option as Kea would send it to a client of this subnet: the subnet's own
 * option-data, else the shared network's, else the global one. Only `csv-format` options (the
 * default) are understood; hex-coded data is skipped.
 */
export function effectiveOption(config: KeaConfig, located: LocatedSubnet, name: string, code: number): string | undefined {
  const scopes = [located.subnet['option-data'], located.shared?.['option-data'], config.Dhcp4['option-data']];
  for (const scope of scopes) {
    if (!Array.isArray(scope)) continue;
    for (const o of scope) {
      if (!o || typeof o !== 'object') continue;
      if (o.space !== undefined && o.space !== 'dhcp4') continue;
      if (o.name !== name && o.code !== code) continue;
      if (o['csv-format'] === false || typeof o.data !== 'string') continue;
      return o.data;
    }
  }
  return undefined;
}

/** A copy of the configuration fit for `config-test`/`config-set` (no `hash` from config-get). */
export function forSet(config: KeaConfig): KeaConfig {
  const copy = structuredClone(config);
  delete copy.hash;
  return copy;
}

/**
 * A copy of `config` with `reservation` appended to the subnet `network/prefix`.
 * Throws KeaConfigError when the subnet is not in the configuration.
 */
export function withReservation(config: KeaConfig, network: number, prefix: number, reservation: KeaReservation): KeaConfig {
  const copy = forSet(config);
  const located = findSubnet(copy, network, prefix);
  if (!located) throw new KeaConfigError(`subnet ${subnetKey(network, prefix)} is not in the Kea configuration`);
  const list = Array.isArray(located.subnet.reservations) ? located.subnet.reservations : [];
  list.push(reservation);
  located.subnet.reservations = list;
  return copy;
}

/**
 * A copy of `config` without the reservations of subnet `network/prefix` that `match` selects,
 * and how many were removed.
 */
export function withoutReservations(
  config: KeaConfig,
  network: number,
  prefix: number,
  match: (r: KeaReservation) => boolean,
): { config: KeaConfig; removed: number } {
  const copy = forSet(config);
  const located = findSubnet(copy, network, prefix);
  if (!located || !Array.isArray(located.subnet.reservations)) return { config: copy, removed: 0 };
  const before = located.subnet.reservations.length;
  located.subnet.reservations = located.subnet.reservations.filter((r) => !match(r));
  return { config: copy, removed: before - located.subnet.reservations.length };
}

/** Whether reservations can be stored outside the configuration (needed by host_cmds' `reservation-add`). */
export function hasHostsDatabase(config: KeaConfig): boolean {
  const one = config.Dhcp4['hosts-database'];
  const many = config.Dhcp4['hosts-databases'];
  return (one !== undefined && one !== null) || (Array.isArray(many) && many.length > 0);
}
