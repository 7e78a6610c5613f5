// Pure helpers for the native facts: os-release parsing and naming, byte formatting the way
// Facter prints sizes, IPv4/IPv6 network arithmetic, /proc parsers.

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(raw.trim());
    if (!m) continue;
    let v = m[2].trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    out[m[1]] = v.replace(/\\(["'$`\\])/g, '$1');
  }
  return out;
}

const OS_NAMES: Record<string, string> = {
  debian: 'Debian', ubuntu: 'Ubuntu', rhel: 'RedHat', centos: 'CentOS', rocky: 'Rocky', almalinux: 'AlmaLinux',
  fedora: 'Fedora', ol: 'OracleLinux', amzn: 'Amazon', sles: 'SLES', 'opensuse-leap': 'OpenSuSE',
  'opensuse-tumbleweed': 'OpenSuSE', arch: 'Archlinux', gentoo: 'Gentoo', alpine: 'Alpine', linuxmint: 'LinuxMint',
};

const FAMILIES: Record<string, string> = {
  Debian: 'Debian', Ubuntu: 'Debian', LinuxMint: 'Debian', RedHat: 'RedHat', CentOS: 'RedHat', Rocky: 'RedHat',
  AlmaLinux: 'RedHat', Fedora: 'RedHat', OracleLinux: 'RedHat', Amazon: 'RedHat', SLES: 'Suse', OpenSuSE: 'Suse',
  Archlinux: 'Archlinux', Gentoo: 'Gentoo', Alpine: 'Alpine',
};

/** Facter's os.name and os.family for an os-release ID (unknown IDs keep their NAME). */
export function osNames(rel: Record<string, string>): { name: string; family: string } {
  const id = (rel.ID ?? '').toLowerCase();
  const name = OS_NAMES[id] ?? (rel.NAME ?? 'Linux').split(/\s+/)[0];
  const like = (rel.ID_LIKE ?? '').toLowerCase().split(/\s+/);
  const family = FAMILIES[name] ?? (like.includes('debian') ? 'Debian' : like.some((l) => l === 'rhel' || l === 'fedora') ? 'RedHat' : like.includes('suse') ? 'Suse' : name);
  return { name, family };
}

/** `{full, major, minor?}` as Facter splits release numbers. */
export function releaseParts(full: string): Record<string, string> {
  const [major, minor] = full.split('.');
  const out: Record<string, string> = { full, major };
  if (minor !== undefined) out.minor = minor;
  return out;
}

/** Facter's human-readable size: `1.00 KiB`, `15.51 GiB`, `512 bytes`. */
export function humanBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  if (n < 1024) return `${n} bytes`;
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]}`;
}

export function mb(n: number): number {
  return Math.round((n / (1024 * 1024)) * 100) / 100;
}

/** `/proc/meminfo` in bytes. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m) out[m[1]] = Number(m[2]) * (line.trim().endsWith('kB') ? 1024 : 1);
  }
  return out;
}

export interface CpuInfo {
  models: string[];
  physicalCount: number;
  mhz: number | undefined;
}

export function parseCpuinfo(text: string): CpuInfo {
  const models: string[] = [];
  const physical = new Set<string>();
  let mhz: number | undefined;
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    if (!fields.has('processor')) continue;
    models.push(fields.get('model name') ?? fields.get('Processor') ?? fields.get('cpu model') ?? 'Unknown');
    if (fields.has('physical id')) physical.add(fields.get('physical id')!);
    if (mhz === undefined && fields.has('cpu MHz')) mhz = Number(fields.get('cpu MHz'));
  }
  return { models, physicalCount: Math.max(physical.size, models.length > 0 ? 1 : 0), mhz };
}

/** The interface of the IPv4 default route in `/proc/net/route`, if any. */
export function defaultRouteInterface(text: string): string | undefined {
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols.length >= 8 && cols[1] === '00000000' && cols[7] === '00000000') return cols[0];
  }
  return undefined;
}

function v4ToInt(a: string): number {
  return a.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
}

function intToV4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function network4(address: string, netmask: string): string {
  return intToV4((v4ToInt(address) & v4ToInt(netmask)) >>> 0);
}

function v6ToBig(a: string): bigint {
  const [head, tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

function bigToV6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // compress the longest run of zero groups, as the canonical form does
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function network6(address: string, netmask: string): string {
  return bigToV6(v6ToBig(address.split('%')[0]) & v6ToBig(netmask));
}

/** Facter's scope6 from an IPv6 address. */
export function scope6(address: string): string {
  const a = address.toLowerCase();
  if (a === '::1') return 'host';
  if (a.startsWith('fe8') || a.startsWith('fe9') || a.startsWith('fea') || a.startsWith('feb')) return 'link';
  if (a.startsWith('fec') || a.startsWith('fed') || a.startsWith('fee') || a.startsWith('fef')) return 'site';
  return 'global';
}
