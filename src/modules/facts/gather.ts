// Native facts of the proxy host in Facter 4's shape (structured facts plus the legacy flat ones
// Foreman Discovery reads). Everything comes from the os module, /proc, /sys and /etc with async
// reads, so gathering never blocks the event loop and needs no facter or ruby.

import os from 'node:os';
import { readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import {
  defaultRouteInterface, humanBytes, mb, network4, network6, osNames, parseCpuinfo, parseMeminfo, parseOsRelease,
  releaseParts, scope6,
} from './parse.ts';

export type Facts = Record<string, unknown>;

async function read(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

async function readTrim(path: string): Promise<string | undefined> {
  const t = (await read(path))?.trim();
  return t === '' ? undefined : t;
}

const DPKG_ARCH: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', i686: 'i386', armv7l: 'armhf', ppc64le: 'ppc64el', s390x: 's390x' };

async function osFacts(): Promise<Facts> {
  const rel = parseOsRelease((await read('/etc/os-release')) ?? (await read('/usr/lib/os-release')) ?? '');
  const { name, family } = osNames(rel);
  const hardware = os.machine();
  let full = rel.VERSION_ID ?? os.release();
  if (family === 'Debian' && name === 'Debian') full = (await readTrim('/etc/debian_version')) ?? full;
  const selinuxEnforce = await readTrim('/sys/fs/selinux/enforce');
  const selinux: Facts = { enabled: selinuxEnforce !== undefined };
  if (selinuxEnforce !== undefined) selinux.enforced = selinuxEnforce === '1';
  return {
    architecture: family === 'Debian' ? (DPKG_ARCH[hardware] ?? hardware) : hardware,
    family,
    hardware,
    name,
    release: releaseParts(full),
    distro: {
      codename: rel.VERSION_CODENAME ?? '',
      description: rel.PRETTY_NAME ?? '',
      id: name === 'RedHat' ? 'RedHatEnterprise' : (rel.NAME ?? name).split(/\s+/)[0],
      release: releaseParts(full),
    },
    selinux,
  };
}

async function names(): Promise<{ hostname: string; domain: string; fqdn: string }> {
  const raw = os.hostname();
  if (raw.includes('.')) {
    const i = raw.indexOf('.');
    return { hostname: raw.slice(0, i), domain: raw.slice(i + 1), fqdn: raw };
  }
  // /etc/hosts often maps the short name to the FQDN (`127.0.1.1 host.example.com host`).
  for (const line of ((await read('/etc/hosts')) ?? '').split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    if (fields.length > 2 && fields.slice(1).includes(raw)) {
      const fq = fields.slice(1).find((f) => f.startsWith(`${raw}.`));
      if (fq) return { hostname: raw, domain: fq.slice(raw.length + 1), fqdn: fq };
    }
  }
  let domain = '';
  for (const line of ((await read('/etc/resolv.conf')) ?? '').split('\n')) {
    const m = /^\s*(domain|search)\s+(\S+)/.exec(line);
    if (m && (m[1] === 'domain' || domain === '')) domain = m[2];
  }
  return { hostname: raw, domain, fqdn: domain ? `${raw}.${domain}` : raw };
}

interface Binding {
  address: string;
  netmask: string;
  network: string;
  scope6?: string;
}

async function networkingFacts(host: { hostname: string; domain: string; fqdn: string }): Promise<Facts> {
  const interfaces: Record<string, Facts> = {};
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    const iface: Facts = {};
    const b4: Binding[] = [];
    const b6: Binding[] = [];
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4') b4.push({ address: a.address, netmask: a.netmask, network: network4(a.address, a.netmask) });
      else b6.push({ address: a.address.split('%')[0], netmask: a.netmask, network: network6(a.address, a.netmask), scope6: scope6(a.address) });
      if (a.mac && a.mac !== '00:00:00:00:00:00') iface.mac = a.mac;
    }
    if (b4.length) Object.assign(iface, { bindings: b4, ip: b4[0].address, netmask: b4[0].netmask, network: b4[0].network });
    if (b6.length) Object.assign(iface, { bindings6: b6, ip6: b6[0].address, netmask6: b6[0].netmask, network6: b6[0].network, scope6: b6[0].scope6 });
    const mtu = await readTrim(`/sys/class/net/${name}/mtu`);
    if (mtu !== undefined) iface.mtu = Number(mtu);
    interfaces[name] = iface;
  }
  // Interfaces without addresses still exist (a PXE NIC before DHCP): list them with their MAC.
  for (const name of await readdir('/sys/class/net').catch(() => [] as string[])) {
    if (interfaces[name]) continue;
    const mac = await readTrim(`/sys/class/net/${name}/address`);
    const mtu = await readTrim(`/sys/class/net/${name}/mtu`);
    interfaces[name] = { ...(mac && mac !== '00:00:00:00:00:00' ? { mac } : {}), ...(mtu ? { mtu: Number(mtu) } : {}) };
  }
  const routed = defaultRouteInterface((await read('/proc/net/route')) ?? '');
  const primary = routed && interfaces[routed] ? routed : Object.keys(interfaces).find((n) => n !== 'lo' && interfaces[n].ip !== undefined);
  const p = primary ? interfaces[primary] : {};
  const net: Facts = { ...host, interfaces };
  if (primary) net.primary = primary;
  for (const k of ['ip', 'ip6', 'mac', 'mtu', 'netmask', 'netmask6', 'network', 'network6', 'scope6']) if (p[k] !== undefined) net[k] = p[k];
  return net;
}

async function memoryFacts(): Promise<Facts> {
  const m = parseMeminfo((await read('/proc/meminfo')) ?? '');
  const total = m.MemTotal ?? os.totalmem();
  const available = m.MemAvailable ?? os.freemem();
  const block = (t: number, a: number): Facts => ({
    available: humanBytes(a),
    available_bytes: a,
    capacity: t > 0 ? `${(((t - a) / t) * 100).toFixed(2)}%` : '0%',
    total: humanBytes(t),
    total_bytes: t,
    used: humanBytes(t - a),
    used_bytes: t - a,
  });
  const out: Facts = { system: block(total, available) };
  if ((m.SwapTotal ?? 0) > 0) out.swap = block(m.SwapTotal, m.SwapFree ?? 0);
  return out;
}

async function processorFacts(): Promise<Facts> {
  const info = parseCpuinfo((await read('/proc/cpuinfo')) ?? '');
  const cpus = os.cpus();
  const models = info.models.length ? info.models : cpus.map((c) => c.model);
  const mhz = info.mhz ?? cpus[0]?.speed;
  const out: Facts = { count: cpus.length || models.length, isa: os.machine(), models, physicalcount: info.physicalCount || 1 };
  if (mhz) out.speed = mhz >= 1000 ? `${(mhz / 1000).toFixed(2)} GHz` : `${mhz.toFixed(2)} MHz`;
  return out;
}

async function dmiFacts(): Promise<Facts | undefined> {
  const d = '/sys/class/dmi/id';
  if (!existsSync(d)) return undefined;
  const r = (f: string) => readTrim(`${d}/${f}`);
  const clean = (o: Record<string, string | undefined>): Facts => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return {
    ...clean({ manufacturer: await r('sys_vendor') }),
    product: clean({ name: await r('product_name'), serial_number: await r('product_serial'), uuid: await r('product_uuid') }),
    bios: clean({ vendor: await r('bios_vendor'), version: await r('bios_version'), release_date: await r('bios_date') }),
    board: clean({ manufacturer: await r('board_vendor'), product: await r('board_name'), serial_number: await r('board_serial') }),
    chassis: clean({ asset_tag: await r('chassis_asset_tag') }),
  };
}

async function diskFacts(): Promise<Record<string, Facts>> {
  const disks: Record<string, Facts> = {};
  for (const dev of await readdir('/sys/block').catch(() => [] as string[])) {
    if (/^(loop|ram|zram|dm-|md)/.test(dev)) continue;
    const sectors = Number(await readTrim(`/sys/block/${dev}/size`));
    if (!Number.isFinite(sectors)) continue;
    const bytes = sectors * 512;
    const disk: Facts = { size: humanBytes(bytes), size_bytes: bytes };
    const model = await readTrim(`/sys/block/${dev}/device/model`);
    const vendor = await readTrim(`/sys/block/${dev}/device/vendor`);
    if (model) disk.model = model;
    if (vendor) disk.vendor = vendor;
    disks[dev] = disk;
  }
  return disks;
}

async function virtualFact(dmi: Facts | undefined): Promise<string> {
  if (existsSync('/.dockerenv') || /docker/.test((await read('/proc/1/cgroup')) ?? '')) return 'docker';
  const container = await readTrim('/run/systemd/container');
  if (container) return container;
  const vendor = String((dmi?.product as Facts | undefined)?.name ?? dmi?.manufacturer ?? '');
  if (/KVM|QEMU|Standard PC/i.test(vendor)) return 'kvm';
  if (/VMware/i.test(vendor)) return 'vmware';
  if (/VirtualBox/i.test(vendor)) return 'virtualbox';
  if (/Virtual Machine/i.test(vendor)) return 'hyperv';
  if (/hypervisor/.test((await read('/proc/cpuinfo')) ?? '')) return 'kvm';
  return 'physical';
}

/** Every fact, freshly gathered. */
export async function gatherFacts(): Promise<Facts> {
  const host = await names();
  const [osf, networking, memory, processors, dmi, disks] = await Promise.all([
    osFacts(), networkingFacts(host), memoryFacts(), processorFacts(), dmiFacts(), diskFacts(),
  ]);
  const virtual = await virtualFact(dmi);
  const release = os.release();
  const kernelversion = release.split('-')[0];
  const uptime = Math.floor(os.uptime());
  const days = Math.floor(uptime / 86400);
  const hours = Math.floor(uptime / 3600);
  const upText = days > 0 ? `${days} day${days === 1 ? '' : 's'}` : `${hours}:${String(Math.floor((uptime % 3600) / 60)).padStart(2, '0')} hours`;
  const info = os.userInfo();
  const groupLine = ((await read('/etc/group')) ?? '').split('\n').find((l) => l.split(':')[2] === String(info.gid));
  const [l1, l5, l15] = os.loadavg();
  const tz = new Date().toLocaleTimeString('en-US', { timeZoneName: 'short' }).split(' ').pop() ?? 'UTC';
  const sys = memory.system as Facts;
  const swap = memory.swap as Facts | undefined;
  const net = networking as Facts & { interfaces: Record<string, Facts> };
  const relFacts = osf.release as Record<string, string>;
  const distro = osf.distro as Facts;

  const facts: Facts = {
    architecture: osf.architecture,
    disks,
    ...(dmi ? { dmi } : {}),
    domain: host.domain,
    fqdn: host.fqdn,
    hostname: host.hostname,
    identity: { gid: info.gid, group: groupLine?.split(':')[0] ?? String(info.gid), privileged: info.uid === 0, uid: info.uid, user: info.username },
    is_virtual: virtual !== 'physical',
    kernel: os.type(),
    kernelmajversion: kernelversion.split('.').slice(0, 2).join('.'),
    kernelrelease: release,
    kernelversion,
    load_averages: { '1m': l1, '5m': l5, '15m': l15 },
    memory,
    networking,
    os: osf,
    path: process.env.PATH ?? '',
    processors,
    system_uptime: { days, hours, seconds: uptime, uptime: upText },
    timezone: tz,
    virtual,
  };

  // Legacy flat facts (Facter 3 names) that Foreman and Discovery still read.
  const legacy: Facts = {
    hardwaremodel: osf.hardware,
    hardwareisa: processors.isa,
    operatingsystem: osf.name,
    operatingsystemrelease: relFacts.full,
    operatingsystemmajrelease: relFacts.major,
    osfamily: osf.family,
    lsbdistcodename: distro.codename,
    lsbdistdescription: distro.description,
    lsbdistid: distro.id,
    lsbdistrelease: relFacts.full,
    memorysize: sys.total,
    memorysize_mb: mb(sys.total_bytes as number),
    memoryfree: sys.available,
    memoryfree_mb: mb(sys.available_bytes as number),
    swapsize: swap?.total ?? '0 bytes',
    swapsize_mb: swap ? mb(swap.total_bytes as number) : 0,
    swapfree: swap?.available ?? '0 bytes',
    swapfree_mb: swap ? mb(swap.available_bytes as number) : 0,
    processorcount: processors.count,
    physicalprocessorcount: processors.physicalcount,
    selinux: (osf.selinux as Facts).enabled,
    uptime: upText,
    uptime_seconds: uptime,
    uptime_days: days,
    uptime_hours: hours,
    blockdevices: Object.keys(disks).join(','),
    interfaces: Object.keys(net.interfaces).join(','),
  };
  (processors.models as string[]).forEach((m, i) => (legacy[`processor${i}`] = m));
  for (const [dev, d] of Object.entries(disks)) {
    legacy[`blockdevice_${dev}_size`] = d.size_bytes;
    if (d.model) legacy[`blockdevice_${dev}_model`] = d.model;
    if (d.vendor) legacy[`blockdevice_${dev}_vendor`] = d.vendor;
  }
  for (const k of ['ip', 'ip6', 'mac', 'mtu', 'netmask', 'netmask6', 'network', 'network6']) {
    const legacyName = { ip: 'ipaddress', ip6: 'ipaddress6', mac: 'macaddress' }[k as 'ip'] ?? k;
    if (net[k] !== undefined) legacy[legacyName] = net[k];
  }
  for (const [name, i] of Object.entries(net.interfaces)) {
    const n = name.replace(/[^A-Za-z0-9_]/g, '_');
    if (i.ip !== undefined) legacy[`ipaddress_${n}`] = i.ip;
    if (i.ip6 !== undefined) legacy[`ipaddress6_${n}`] = i.ip6;
    if (i.mac !== undefined) legacy[`macaddress_${n}`] = i.mac;
    if (i.mtu !== undefined) legacy[`mtu_${n}`] = i.mtu;
    if (i.netmask !== undefined) legacy[`netmask_${n}`] = i.netmask;
    if (i.netmask6 !== undefined) legacy[`netmask6_${n}`] = i.netmask6;
    if (i.network !== undefined) legacy[`network_${n}`] = i.network;
    if (i.network6 !== undefined) legacy[`network6_${n}`] = i.network6;
    if (i.scope6 !== undefined) legacy[`scope6_${n}`] = i.scope6;
  }
  if (dmi) {
    const product = (dmi.product ?? {}) as Facts;
    const bios = (dmi.bios ?? {}) as Facts;
    const board = (dmi.board ?? {}) as Facts;
    Object.assign(legacy, Object.fromEntries(Object.entries({
      manufacturer: dmi.manufacturer, productname: product.name, serialnumber: product.serial_number, uuid: product.uuid,
      bios_vendor: bios.vendor, bios_version: bios.version, bios_release_date: bios.release_date,
      boardmanufacturer: board.manufacturer, boardproductname: board.product, boardserialnumber: board.serial_number,
    }).filter(([, v]) => v !== undefined)));
  }
  return { ...legacy, ...facts };
}
