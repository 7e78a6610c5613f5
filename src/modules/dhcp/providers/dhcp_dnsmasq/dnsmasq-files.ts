// dnsmasq's files as dhcp_dnsmasq reads and writes them: `dhcp-range`, `dhcp-option` and
// `dhcp-host` lines of its configuration, the proxy's own `dhcp-host` files (one per reservation,
// in the directory dnsmasq reads with dhcp-hostsfile/dhcp-hostsdir), the `tag:` lines of the
// dhcp-optsfile that carry boot file and TFTP server, and the leases file. Pure functions over
// text, so every shape is unit-tested; the provider does the file I/O.

import { formatIpv4, maskOf, networkOf, parseIpv4, prefixLength } from '../../../../lib/isc/ipv4.ts';
import type { SubnetOptions } from '../../provider.ts';

export interface RangeLine {
  start: string;
  end: string;
  netmask: string;
  /** Lease time in seconds (null: infinite). */
  leaseSeconds: number | null;
  /** `set:<tag>` of the range, for tagged dhcp-option lines. */
  tags: string[];
}

export interface HostLine {
  macs: string[];
  ip?: string;
  name?: string;
  /** `set:<tag>` fields. */
  tags: string[];
}

export interface ConfigSubnet {
  network: string;
  netmask: string;
  leaseSeconds: number | null;
  options: SubnetOptions;
}

/** A problem in a configuration line, with its place: `<file>:<line>: …`. */
export class DnsmasqConfigError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'DnsmasqConfigError';
  }
}

const isIpv4 = (s: string): boolean => parseIpv4(s) !== undefined;

/** dnsmasq lease times: seconds, or with m/h/d/w suffix, or `infinite`. */
export function parseLeaseTime(s: string): number | null | undefined {
  if (s === 'infinite') return null;
  const m = /^(\d+)([smhdw]?)$/i.exec(s);
  if (!m) return undefined;
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * unit;
}

/** Six colon-separated hex octets (dnsmasq also allows `-` and wildcards; those are not reservations). */
export function parseMac(s: string): string | undefined {
  const m = s.toLowerCase();
  return /^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/.test(m) ? m.split(':').map((o) => o.padStart(2, '0')).join(':') : undefined;
}

/** `key=value` lines of a dnsmasq configuration file (comments and blank lines dropped). */
export function configLines(text: string): Array<{ line: number; key: string; value: string }> {
  const out: Array<{ line: number; key: string; value: string }> = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const eq = l.indexOf('=');
    if (eq < 0) out.push({ line: i + 1, key: l, value: '' });
    else out.push({ line: i + 1, key: l.slice(0, eq).trim(), value: l.slice(eq + 1).trim() });
  });
  return out;
}

/**
 * `dhcp-range=[tag:…,][set:…,]<start>,<end>|static|proxy[,<mode>…][,<netmask>[,<broadcast>]][,<lease time>]`.
 * IPv6 ranges give undefined. The netmask is required: dnsmasq can take it from the interface,
 * the proxy cannot.
 */
export function parseRange(value: string, where: string): RangeLine | undefined {
  const fields = value.split(',').map((f) => f.trim());
  const tags: string[] = [];
  while (fields.length > 0 && /^(tag|set|net|interface):/.test(fields[0]!)) {
    const f = fields.shift()!;
    if (f.startsWith('set:') || f.startsWith('net:')) tags.push(f.slice(4));
  }
  const start = fields.shift();
  if (start === undefined || start.includes(':') || start.startsWith('::')) return undefined;
  if (!isIpv4(start)) throw new DnsmasqConfigError(where, `dhcp-range=${value}: '${start}' is not an IPv4 address`);
  let end = start;
  if (fields[0] !== undefined && isIpv4(fields[0])) end = fields.shift()!;
  const ips: string[] = [];
  let leaseSeconds: number | null = 3600; // dnsmasq's default lease time
  for (const f of fields) {
    if (isIpv4(f)) ips.push(f);
    else if (parseLeaseTime(f) !== undefined) leaseSeconds = parseLeaseTime(f)!;
  }
  const netmask = ips[0];
  if (netmask === undefined) {
    throw new DnsmasqConfigError(where, `dhcp-range=${value} has no netmask: write it after the end address (dhcp_dnsmasq cannot learn it from the interface as dnsmasq does)`);
  }
  const mask = parseIpv4(netmask)!;
  if (prefixLength(mask) === undefined) throw new DnsmasqConfigError(where, `dhcp-range=${value}: '${netmask}' is not a netmask`);
  return { start, end, netmask, leaseSeconds, tags };
}

/** What Foreman imports from a subnet, by dnsmasq option number or name. */
type ImportedOption = 'routers' | 'domain_name_servers' | 'ntp_servers' | 'domain_name' | 'interface_mtu';

const OPTION_KEYS: Record<string, ImportedOption> = {
  '3': 'routers',
  router: 'routers',
  '6': 'domain_name_servers',
  'dns-server': 'domain_name_servers',
  '15': 'domain_name',
  'domain-name': 'domain_name',
  '42': 'ntp_servers',
  'ntp-server': 'ntp_servers',
  '26': 'interface_mtu',
  mtu: 'interface_mtu',
};

export interface OptionLine {
  key: ImportedOption;
  values: string[];
  /** `tag:` conditions; empty = every subnet. */
  tags: string[];
}

/** `dhcp-option=[tag:…,][option:]<name|number>,<values>`; undefined for options Foreman does not import. */
export function parseOption(value: string): OptionLine | undefined {
  const fields = value.split(',').map((f) => f.trim());
  const tags: string[] = [];
  while (fields.length > 0 && /^(tag|net):/.test(fields[0]!)) tags.push(fields.shift()!.slice(4));
  const head = fields.shift();
  if (head === undefined || /^(encap|vi-encap|vendor|option6):/.test(head)) return undefined;
  const name = head.replace(/^option:/, '');
  const key = Object.hasOwn(OPTION_KEYS, name) ? OPTION_KEYS[name] : undefined;
  if (key === undefined) return undefined;
  return { key, values: fields.filter((f) => f !== ''), tags };
}

/** `dhcp-host` fields: MACs, `set:` tags, an IPv4 address, a lease time, a host name. */
export function parseHost(value: string): HostLine {
  const h: HostLine = { macs: [], tags: [] };
  for (const raw of value.split(',')) {
    const f = raw.trim();
    if (f === '' || f === 'ignore' || f.startsWith('id:') || f.startsWith('tag:') || f.startsWith('[')) continue;
    if (f.startsWith('set:') || f.startsWith('net:')) h.tags.push(f.slice(4));
    else if (parseMac(f) !== undefined) h.macs.push(parseMac(f)!);
    else if (isIpv4(f)) h.ip = f;
    else if (parseLeaseTime(f) !== undefined) continue;
    else if (h.name === undefined && /^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(f)) h.name = f;
  }
  return h;
}

/** Subnets of the configuration's ranges, with the options that apply to each. */
export function subnetsOf(ranges: RangeLine[], options: OptionLine[]): ConfigSubnet[] {
  const out: ConfigSubnet[] = [];
  for (const r of ranges) {
    const mask = parseIpv4(r.netmask)!;
    const network = formatIpv4(networkOf(parseIpv4(r.start)!, maskOf(prefixLength(mask)!)));
    if (out.some((s) => s.network === network && s.netmask === r.netmask)) continue;
    const o: SubnetOptions = {};
    for (const opt of options) {
      if (opt.tags.length > 0 && !opt.tags.every((t) => r.tags.includes(t))) continue;
      if (opt.key === 'domain_name') o.domain_name = opt.values[0] ?? '';
      else if (opt.key === 'interface_mtu') o.interface_mtu = Number(opt.values[0]);
      else o[opt.key] = opt.values;
    }
    o.range = [r.start, r.end];
    out.push({ network, netmask: r.netmask, leaseSeconds: r.leaseSeconds, options: o });
  }
  return out;
}

export interface LeaseLine {
  /** Unix seconds; 0 = infinite. */
  expiry: number;
  mac: string;
  ip: string;
  hostname?: string;
}

/** dnsmasq's leases file: `<expiry> <mac> <ip> <hostname|*> <client-id|*>`; IPv6 and non-Ethernet rows skipped. */
export function parseLeases(text: string): LeaseLine[] {
  const out: LeaseLine[] = [];
  for (const line of text.split('\n')) {
    const [expiry, mac, ip, hostname] = line.trim().split(/\s+/);
    if (expiry === undefined || mac === undefined || ip === undefined || !/^\d+$/.test(expiry)) continue;
    const m = parseMac(mac);
    if (m === undefined || !isIpv4(ip)) continue;
    const l: LeaseLine = { expiry: Number(expiry), mac: m, ip };
    if (hostname !== undefined && hostname !== '*') l.hostname = hostname;
    out.push(l);
  }
  return out;
}

/** The plugin's tag names: `bf_`/`ns_` and the value lower-cased with every other character `_`. */
export const tagOf = (prefix: 'bf' | 'ns', value: string): string => `${prefix}_${value.toLowerCase().replace(/[^0-9a-z]/g, '_')}`;

/** `tag:<tag>,option:<name>,<value>` lines of the optsfile → tag → { option, value }. */
export function parseOptsFile(text: string): Map<string, { option: string; value: string }> {
  const out = new Map<string, { option: string; value: string }>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(',');
    if (fields.length < 3 || !fields[0]!.startsWith('tag:')) continue;
    out.set(fields[0]!.slice(4), { option: fields[1]!.replace(/^option:/, ''), value: fields.slice(2).join(',') });
  }
  return out;
}

export function optsFileText(tags: Map<string, { option: string; value: string }>): string {
  const lines = [...tags].map(([tag, o]) => `tag:${tag},option:${o.option},${o.value}`).sort();
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** The plugin's host file name for a MAC: `<mac with every non-alphanumeric as _>.conf`. */
export const hostFileName = (mac: string): string => `${mac.toLowerCase().replace(/[^0-9a-z]/g, '_')}.conf`;

/** `<mac>[,set:<tag>…],<ip>,<name>` (the plugin's format: dnsmasq accepts the fields in any order). */
export function hostLineText(mac: string, tags: readonly string[], ip: string, name: string): string {
  return `${[mac, ...tags.map((t) => `set:${t}`), ip, name].join(',')}\n`;
}
