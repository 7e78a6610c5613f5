// Turn parsed statements into the declarations the DHCP provider works with: subnets, hosts and
// leases, with attribute names as Foreman sees them (spec dhcp.md §3.4).

import { IscParseError, type Statement, type Token, tx } from './syntax.ts';
import { formatIpv4, normalizeMac, parseIpv4, prefixLength } from './ipv4.ts';

export interface SubnetDecl {
  network: string;
  netmask: string;
  /** Keys present among routers, domain_name, domain_name_servers, ntp_servers, interface_mtu, range. */
  options: Record<string, unknown>;
}

export interface HostDecl {
  name: string;
  ip?: string;
  mac?: string;
  /** `dynamic;` (created through OMAPI). */
  dynamic: boolean;
  /** `deleted;` (an OMAPI removal recorded in the leases file). */
  deleted: boolean;
  options: Record<string, unknown>;
}

export interface LeaseDecl {
  ip: string;
  mac?: string;
  starts: string | null;
  ends: string | null;
  state?: string;
  nextState?: string;
  /** cltt/tstp/…, hardware_type, uid, client_hostname, options. */
  options: Record<string, unknown>;
}

const NEVER = '2038-01-19 03:14:07 UTC';

/**
 * A private copy of a string kept for the lifetime of a lease. Token texts are slices of the
 * whole chunk being parsed, and V8 keeps that chunk alive as long as one slice lives; building
 * strings by concatenation leaves trees of small nodes. With 100 000 leases both add up to more
 * than the leases themselves.
 */
function own(s: string): string {
  return s.length <= 12 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** Values of an option: split on commas; each part is the list of its tokens, strings unquoted. */
function optionValues(tokens: Token[], from: number): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  for (let i = from; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === ',') {
      out.push(cur);
      cur = [];
    } else if (t !== '=' || cur.length > 0) {
      cur.push(tx(t)!);
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function flat(values: string[][]): string[] {
  return values.flat();
}

/** `c0:a8:00:01` → `192.168.0.1`; dotted quads and names are kept. */
export function decodeNextServer(value: string): string {
  if (parseIpv4(value) !== undefined) return value;
  const parts = value.split(':');
  if (parts.length === 4 && parts.every((p) => p.length >= 1 && p.length <= 2 && /^[0-9a-fA-F]+$/.test(p))) {
    return parts.map((p) => Number.parseInt(p, 16)).join('.');
  }
  return value;
}

const SUNW: Record<string, string> = {
  'root-server-ip-address': 'root_server_ip',
  'root-server-hostname': 'root_server_hostname',
  'root-path-name': 'root_path_name',
  'install-server-ip-address': 'install_server_ip',
  'install-server-hostname': 'install_server_name',
  'install-path': 'install_path',
  'sysid-config-file-server': 'sysid_server_path',
  'JumpStart-server': 'jumpstart_server_path',
};

/** Apply `option NAME …` / `supersede NAME …` (name at index `at`) to a host or lease's options. */
function applyOption(options: Record<string, unknown>, tokens: Token[], at: number): void {
  let name = tx(tokens[at]);
  if (name === undefined) return;
  const from = at + 1;
  // `option NAME code N = type;` is a definition, not a value.
  if (tx(tokens[from]) === 'code') return;
  if (name.startsWith('server.')) name = name.slice(7);
  const values = optionValues(tokens, from);
  switch (name) {
    case 'routers':
      options.routers = flat(values);
      return;
    case 'domain-name-servers':
      options.domain_name_servers = flat(values);
      return;
    case 'next-server':
      options.nextServer = decodeNextServer(flat(values)[0] ?? '');
      return;
    case 'filename':
      options.filename = flat(values)[0] ?? '';
      return;
    case 'host-name':
      options.hostname = flat(values)[0] ?? '';
      return;
  }
  if (name.startsWith('SUNW.') && SUNW[name.slice(5)]) {
    options[SUNW[name.slice(5)]] = flat(values)[0] ?? '';
    return;
  }
  options[name.replaceAll('-', '_').replaceAll('.', '_')] = values;
}

function hardware(options: Record<string, unknown>, tokens: Token[]): string | undefined {
  const type = tx(tokens[1]);
  const mac = tokens[2] ? normalizeMac(tx(tokens[2])!) : undefined;
  if (type !== undefined) options.hardware_type = type === 'ethernet' ? 'ethernet' : type;
  return mac;
}

/** `host NAME { … }` */
export function hostDecl(s: Statement): HostDecl {
  const name = tx(s.tokens[1]) ?? '';
  const h: HostDecl = { name, dynamic: false, deleted: false, options: {} };
  for (const st of s.block ?? []) {
    const t = st.tokens;
    const kw = tx(t[0]);
    if (st.block) continue;
    switch (kw) {
      case 'hardware':
        h.mac = hardware(h.options, t) ?? h.mac;
        break;
      case 'fixed-address':
        // Names are not resolved: a host the proxy cannot place in a subnet is ignored anyway.
        if (t[1] && parseIpv4(tx(t[1])!) !== undefined) h.ip = tx(t[1])!;
        break;
      case 'dynamic':
        h.dynamic = true;
        break;
      case 'deleted':
        h.deleted = true;
        break;
      case 'option':
        applyOption(h.options, t, 1);
        break;
      case 'supersede':
        applyOption(h.options, t, 1);
        break;
      case 'filename':
        h.options.filename = tx(t[1]) ?? '';
        break;
      case 'next-server':
        h.options.nextServer = decodeNextServer(tx(t[1]) ?? '');
        break;
      case 'vendor-option-space':
        if (tx(t[1]) === 'SUNW') h.options.vendor = 'sun';
        break;
      default:
        break;
    }
  }
  return h;
}

function isDigits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const DAYS_BEFORE_MONTH = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `4 2024/01/04 10:00:00` | `epoch 1704362400` | `never` → `2024-01-04 10:00:00 UTC`. */
export function leaseTime(tokens: Token[]): string | null {
  const first = tx(tokens[1]);
  if (first === undefined) return null;
  if (first === 'never') return NEVER;
  if (first === 'epoch') {
    const secs = Number(tx(tokens[2]));
    if (!Number.isFinite(secs)) return null;
    const d = new Date(secs * 1000);
    if (Number.isNaN(d.getTime())) return null;
    return own(`${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`);
  }
  const date = tx(tokens[2]);
  const time = tx(tokens[3]);
  if (date === undefined || time === undefined) return null;
  if (date.length === 10 && time.length === 8 && isDigits(date, 0, 4) && date.charCodeAt(4) === 47 && isDigits(date, 5, 7) &&
      date.charCodeAt(7) === 47 && isDigits(date, 8, 10) && isDigits(time, 0, 2) && time.charCodeAt(2) === 58 &&
      isDigits(time, 3, 5) && time.charCodeAt(5) === 58 && isDigits(time, 6, 8)) {
    // Fast path for dhcpd's own zero-padded format (hot when loading 100 000 leases).
    const mo = (date.charCodeAt(5) - 48) * 10 + date.charCodeAt(6) - 48;
    const d = (date.charCodeAt(8) - 48) * 10 + date.charCodeAt(9) - 48;
    if (mo < 1 || mo > 12 || d < 1 || d > 31) return null;
    return own(`${date.slice(0, 4)}-${date.slice(5, 7)}-${date.slice(8, 10)} ${time} UTC`);
  }
  const dp = date.split('/');
  const tp = time.split(':');
  if (dp.length !== 3 || tp.length !== 3) return null;
  const nums = [...dp, ...tp].map(Number);
  if (nums.some((x) => !Number.isInteger(x) || x < 0)) return null;
  const [y, mo, d, h, mi, se] = nums;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return null;
  return own(`${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(se)} UTC`);
}

/** Seconds since the epoch of a `leaseTime` string (for the "ends in the past" rule). */
export function leaseTimeSeconds(t: string): number {
  const y = Number(t.slice(0, 4));
  const mo = Number(t.slice(5, 7));
  const d = Number(t.slice(8, 10));
  const h = Number(t.slice(11, 13));
  const mi = Number(t.slice(14, 16));
  const s = Number(t.slice(17, 19));
  const leap = mo > 2 && ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0) ? 1 : 0;
  const yearsDays = (y - 1970) * 365 + Math.floor((y - 1969) / 4) - Math.floor((y - 1901) / 100) + Math.floor((y - 1601) / 400);
  const days = yearsDays + DAYS_BEFORE_MONTH[mo - 1] + leap + d - 1;
  return days * 86400 + h * 3600 + mi * 60 + s;
}

/** `lease IP { … }`; undefined when the address is not IPv4. */
export function leaseDecl(s: Statement): LeaseDecl | undefined {
  const l = newLease(tx(s.tokens[1]));
  if (!l) return undefined;
  for (const st of s.block ?? []) if (!st.block) applyLeaseLine(l, st.tokens);
  return l;
}

/**
 * A lease's options. A class rather than `{}`: V8 sizes instances of a class from how many
 * properties they end up with (slack tracking), so a lease's five usual options (cltt,
 * next_state, hardware_type, uid, client_hostname) fit in the object itself. A `{}` literal has
 * room for four and moves the fifth into a separate array, ~40 more bytes for every kept lease.
 */
class LeaseOptions {
  [name: string]: unknown;
}

/** An empty lease for `ip`, or undefined when it is not IPv4. */
export function newLease(ip: string | undefined): LeaseDecl | undefined {
  if (ip === undefined || parseIpv4(ip) === undefined) return undefined;
  return { ip: own(ip), starts: null, ends: null, options: new LeaseOptions() };
}

/** Apply one statement of a lease block (its tokens up to the `;`). */
export function applyLeaseLine(l: LeaseDecl, t: Token[]): void {
  const kw = tx(t[0]);
  switch (kw) {
    case 'starts':
      l.starts = leaseTime(t);
      break;
    case 'ends':
      l.ends = leaseTime(t);
      break;
    case 'cltt':
    case 'tstp':
    case 'tsfp':
    case 'atsfp':
      l.options[kw] = leaseTime(t);
      break;
    case 'binding':
      if (tx(t[1]) === 'state' && t[2]) l.state = own(tx(t[2])!);
      break;
    case 'next':
      if (tx(t[1]) === 'binding' && tx(t[2]) === 'state' && t[3]) {
        l.nextState = own(tx(t[3])!);
        l.options.next_state = l.nextState;
      }
      break;
    case 'hardware': {
      const mac = hardware(l.options, t);
      if (mac !== undefined) l.mac = own(mac);
      break;
    }
    case 'uid':
      if (t[1]) l.options.uid = own(t[1]);
      break;
    case 'client-hostname':
      if (t[1]) l.options.client_hostname = own(t[1]);
      break;
    case 'option':
      applyOption(l.options, t, 1);
      break;
    default:
      break;
  }
}

export interface SubnetWithRange extends SubnetDecl {
  /** Numeric network and mask, for lookups. */
  net: number;
  mask: number;
}

/** `subnet A netmask M { … }` with its directly nested range and the six reported options. */
export function subnetDecl(s: Statement, file?: string): SubnetWithRange {
  const t = s.tokens;
  const network = tx(t[1]) ?? '';
  const netmask = tx(t[3]) ?? '';
  const net = parseIpv4(network);
  const mask = parseIpv4(netmask);
  if (tx(t[2]) !== 'netmask' || net === undefined || mask === undefined || prefixLength(mask) === undefined) {
    throw new IscParseError(`invalid subnet declaration '${t.map((x) => tx(x)!).join(' ')}'`, s.line, file);
  }
  if (((net & mask) >>> 0) !== net) throw new IscParseError(`subnet ${network} has host bits set for netmask ${netmask}`, s.line, file);
  const options: Record<string, unknown> = {};
  const opt: Record<string, unknown> = {};
  for (const st of s.block ?? []) {
    if (st.block) continue;
    const kw = tx(st.tokens[0]);
    if (kw === 'option' || kw === 'supersede') {
      const name = tx(st.tokens[1]);
      const values = optionValues(st.tokens, 2);
      if (name === 'routers') opt.routers = flat(values);
      else if (name === 'domain-name') opt.domain_name = values;
      else if (name === 'domain-name-servers') opt.domain_name_servers = flat(values);
      else if (name === 'ntp-servers') opt.ntp_servers = values;
      else if (name === 'interface-mtu') {
        const mtu = Number(flat(values)[0]);
        if (Number.isInteger(mtu)) opt.interface_mtu = mtu;
      }
    } else if (kw === 'range') {
      const args = st.tokens.slice(1).map((x) => tx(x)!).filter((w) => w !== 'dynamic-bootp');
      const first = args[0];
      const last = args[1] ?? args[0];
      const a = first === undefined ? undefined : parseIpv4(first);
      const b = last === undefined ? undefined : parseIpv4(last);
      if (a === undefined || b === undefined) throw new IscParseError(`invalid range in subnet ${network}`, st.line, file);
      const bcast = (net | (~mask >>> 0)) >>> 0;
      if (((a & mask) >>> 0) !== net || ((b & mask) >>> 0) !== net || a > b || b > bcast) {
        throw new IscParseError(`range ${first} ${last} does not belong to subnet ${network}/${netmask} or is reversed`, st.line, file);
      }
      opt.range = [formatIpv4(a), formatIpv4(b)];
    }
  }
  for (const k of ['routers', 'domain_name', 'domain_name_servers', 'ntp_servers', 'interface_mtu', 'range']) {
    if (opt[k] !== undefined) options[k] = opt[k];
  }
  return { network, netmask, options, net, mask };
}
