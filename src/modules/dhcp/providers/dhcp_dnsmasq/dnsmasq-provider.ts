// The dhcp_dnsmasq provider's logic (the smart_proxy_dhcp_dnsmasq plugin's contract): subnets from
// dnsmasq's configuration, reservations written as one dhcp-host file per MAC into
// <target_dir>/dhcphosts (atomically), boot file and TFTP server as tagged lines of
// <target_dir>/dhcpopts.conf, dnsmasq told to re-read them (SIGHUP to the PID in pid_file, or
// reload_cmd), leases from its leases file. Everything is read afresh for each request (reads
// that arrive together share one read), so changes made by others show at once.

import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../../../core/logging-types.ts';
import { run, SpawnError } from '../../../../core/spawn.ts';
import { writeFileAtomic } from '../../../../lib/fs/atomic.ts';
import { parseIpv4 } from '../../../../lib/isc/ipv4.ts';
import { DhcpError } from '../../errors.ts';
import type {
  DhcpProvider,
  DhcpSubnet,
  Lease,
  NewReservation,
  Reservation,
} from '../../provider.ts';
import { findSubnetIn, leaseName, requireInSubnet, SnapshotReads, utcText, type DhcpSnapshot } from '../../snapshot.ts';
import {
  configLines,
  hostFileName,
  hostLineText,
  optsFileText,
  parseHost,
  parseLeases,
  parseOption,
  parseOptsFile,
  parseRange,
  subnetsOf,
  tagOf,
  type ConfigSubnet,
  type OptionLine,
  type RangeLine,
} from './dnsmasq-files.ts';

export interface DnsmasqOptions {
  /** dnsmasq configuration files and directories (a directory: every file in it). */
  config: string[];
  targetDir: string;
  leaseFile: string;
  /** Command line run after each change (split into words; no shell). */
  reloadCmd: string;
  /** When set, SIGHUP the PID in this file instead of running reloadCmd. */
  pidFile?: string;
  /** Deadline of reloadCmd. */
  timeoutMs: number;
  holdMs: number;
  pingFreeIp: boolean;
  log: Logger;
}

/**
 * Words of a command line, as a shell would split a simple one: whitespace separates, '…' and "…"
 * group (no expansions, no escapes inside single quotes). Anything a shell would do beyond that
 * (pipes, `$(…)`, `;`) is refused, since the command runs without a shell.
 */
export function commandWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const close = line.indexOf(c, i + 1);
      if (close < 0) throw new Error(`reload_cmd has an unclosed ${c}`);
      cur += line.slice(i + 1, close);
      inWord = true;
      i = close;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if ('|&;<>()$`\\'.includes(c)) {
      throw new Error(`reload_cmd is run without a shell: '${c}' is not supported (write a script and name it)`);
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  if (words.length === 0) throw new Error('reload_cmd is empty');
  return words;
}

/** Characters refused in values written into dnsmasq's comma-separated lines, with the reason. */
function checkDnsmasqValue(field: string, value: string): void {
  const bad = /[,#\s'"\\]/.exec(value);
  if (bad) {
    const shown = bad[0] === ',' ? "','" : bad[0] === '#' ? "'#'" : /\s/.test(bad[0]) ? 'whitespace' : `'${bad[0]}'`;
    throw DhcpError.invalid_field(`Invalid ${field}: ${shown} is not allowed (dnsmasq reads the value from a comma-separated line)`);
  }
}

export class DnsmasqDhcpProvider extends SnapshotReads implements DhcpProvider {
  readonly supportsVendorOptions = false;
  private readonly o: DnsmasqOptions;
  private readonly hostsDir: string;
  private readonly optsFile: string;
  private readonly reloadArgv: string[];

  constructor(o: DnsmasqOptions) {
    super(o.holdMs, o.pingFreeIp);
    this.o = o;
    this.hostsDir = join(o.targetDir, 'dhcphosts');
    this.optsFile = join(o.targetDir, 'dhcpopts.conf');
    this.reloadArgv = commandWords(o.reloadCmd);
  }

  /** Create the directory dnsmasq reads and an empty optsfile, as the plugin does at start. */
  async prepare(): Promise<void> {
    await mkdir(this.hostsDir, { recursive: true });
    await writeFile(this.optsFile, '', { flag: 'a' });
  }

  // ---- reading ----

  private async configFiles(): Promise<string[]> {
    const files: string[] = [];
    for (const path of this.o.config) {
      let isDir: boolean;
      try {
        isDir = (await stat(path)).isDirectory();
      } catch (err) {
        throw new Error(`dhcp_dnsmasq: config ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (!isDir) {
        files.push(path);
        continue;
      }
      // dnsmasq's own rule for conf-dir: skip dot files and editor backups.
      const names = (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.endsWith('~'));
      files.push(...names.map((e) => join(path, e.name)).sort());
    }
    return files;
  }

  protected async read(): Promise<DhcpSnapshot> {
    const ranges: RangeLine[] = [];
    const options: OptionLine[] = [];
    const reservations: Reservation[] = [];
    for (const file of await this.configFiles()) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        throw new Error(`dhcp_dnsmasq: config ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      for (const { line, key, value } of configLines(text)) {
        if (key === 'dhcp-range') {
          const r = parseRange(value, `dhcp_dnsmasq: ${file}:${line}`);
          if (r) ranges.push(r);
        } else if (key === 'dhcp-option') {
          const opt = parseOption(value);
          if (opt) options.push(opt);
        } else if (key === 'dhcp-host') {
          // Written by hand into dnsmasq's configuration: shown, never deleted by the proxy.
          reservations.push(...toReservations(parseHost(value), false, new Map()));
        }
      }
    }
    const subnets = subnetsOf(ranges, options);
    const tags = parseOptsFile(await this.readOptional(this.optsFile));
    for (const name of await this.hostFiles()) {
      const text = await this.readOptional(join(this.hostsDir, name));
      for (const line of text.split('\n')) {
        if (line.trim() === '' || line.trim().startsWith('#')) continue;
        reservations.push(...toReservations(parseHost(line), true, tags));
      }
    }
    const leases = parseLeases(await this.readOptional(this.o.leaseFile)).map((l) => {
      const subnet = subnets.find((s) => findSubnetIn([toDhcpSubnet(s)], l.ip));
      return toLease(l, subnet?.leaseSeconds ?? 86400);
    });
    return { subnets: subnets.map(toDhcpSubnet), reservations, leases };
  }

  /** The proxy's host files (dot files are temp files of an atomic write in progress). */
  private async hostFiles(): Promise<string[]> {
    try {
      return (await readdir(this.hostsDir)).filter((n) => !n.startsWith('.') && !n.endsWith('~')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new Error(`dhcp_dnsmasq: ${this.hostsDir} cannot be read: ${(err as Error).message}`);
    }
  }

  /** A file's text, or '' when it does not exist (yet): dnsmasq creates its leases file on demand. */
  private async readOptional(path: string): Promise<string> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw new Error(`dhcp_dnsmasq: ${path} cannot be read: ${(err as Error).message}`);
    }
  }

  // ---- writing ----

  async createReservation(subnet: DhcpSubnet, r: NewReservation): Promise<void> {
    requireInSubnet(subnet, r.ip);
    if (r.mac.split(':').length !== 6) {
      throw DhcpError.invalid_field(`Invalid mac: dnsmasq reservations are written for 6-octet Ethernet MACs only, not ${r.mac}`);
    }
    checkDnsmasqValue('name', r.name);
    if (r.filename !== undefined) checkDnsmasqValue('filename', r.filename);
    if (r.nextServer !== undefined) checkDnsmasqValue('nextServer', r.nextServer);
    const hostFile = join(this.hostsDir, hostFileName(r.mac));
    try {
      const tags = await this.ensureTags(r);
      await mkdir(this.hostsDir, { recursive: true });
      await writeFileAtomic(hostFile, hostLineText(r.mac, tags, r.ip, r.name));
    } finally {
      this.snapshots.invalidate();
    }
    try {
      await this.reload();
    } catch (err) {
      // dnsmasq did not take it: take it back, so what the proxy shows is what dnsmasq serves.
      await unlink(hostFile).catch(() => undefined);
      throw err;
    }
    this.o.log.info(`reserved ${r.ip} for ${r.mac} (${r.name}) in ${hostFile}`);
  }

  async deleteReservation(_subnet: DhcpSubnet, r: Reservation): Promise<void> {
    const hostFile = join(this.hostsDir, hostFileName(r.mac));
    const before = await this.readOptional(hostFile);
    try {
      await unlink(hostFile);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`dhcp_dnsmasq: cannot remove ${hostFile}: ${(err as Error).message}`);
    } finally {
      this.snapshots.invalidate();
    }
    try {
      await this.reload();
    } catch (err) {
      if (before !== '') await writeFileAtomic(hostFile, before).catch(() => undefined);
      throw err;
    }
    await this.pruneTags().catch((err: Error) => this.o.log.warn(`could not prune ${this.optsFile}: ${err.message}`));
    this.o.log.info(`removed the reservation of ${r.ip} for ${r.mac} (${hostFile})`);
  }

  /**
   * The tags for the reservation's boot file and TFTP server, each defined once in the optsfile
   * (the plugin's scheme). Two values that sanitise to the same tag get a numbered tag rather
   * than sharing the first one's value.
   */
  private async ensureTags(r: NewReservation): Promise<string[]> {
    const tags = parseOptsFile(await this.readOptional(this.optsFile));
    const wanted: Array<{ prefix: 'bf' | 'ns'; option: string; value: string }> = [];
    if (r.filename !== undefined) wanted.push({ prefix: 'bf', option: 'bootfile-name', value: r.filename });
    if (r.nextServer !== undefined) wanted.push({ prefix: 'ns', option: 'tftp-server', value: r.nextServer });
    const chosen: string[] = [];
    let changed = false;
    for (const w of wanted) {
      const base = tagOf(w.prefix, w.value);
      let tag = base;
      for (let n = 2; tags.has(tag) && (tags.get(tag)!.value !== w.value || tags.get(tag)!.option !== w.option); n++) tag = `${base}_${n}`;
      if (!tags.has(tag)) {
        tags.set(tag, { option: w.option, value: w.value });
        changed = true;
      }
      chosen.push(tag);
    }
    if (changed) await writeFileAtomic(this.optsFile, optsFileText(tags));
    return chosen;
  }

  /** Drop optsfile tags no host file uses any more (the plugin does this every 15 minutes). */
  private async pruneTags(): Promise<void> {
    const tags = parseOptsFile(await this.readOptional(this.optsFile));
    const used = new Set<string>();
    for (const name of await this.hostFiles()) {
      for (const line of (await this.readOptional(join(this.hostsDir, name))).split('\n')) for (const t of parseHost(line).tags) used.add(t);
    }
    let changed = false;
    for (const tag of [...tags.keys()]) {
      if (!used.has(tag)) {
        tags.delete(tag);
        changed = true;
      }
    }
    if (changed) await writeFileAtomic(this.optsFile, optsFileText(tags));
  }

  /** Tell dnsmasq to re-read its hosts and opts files. */
  private async reload(): Promise<void> {
    if (this.o.pidFile !== undefined) return this.signalPid(this.o.pidFile);
    const [cmd, ...args] = this.reloadArgv as [string, ...string[]];
    let r;
    try {
      r = await run(cmd, args, { timeoutMs: this.o.timeoutMs });
    } catch (err) {
      throw new Error(`Failed to reload configuration: ${err instanceof SpawnError ? err.message : (err as Error).message}`);
    }
    if (r.timedOut) throw new Error(`Failed to reload configuration: '${this.o.reloadCmd}' did not finish within ${this.o.timeoutMs / 1000} s`);
    if (r.code !== 0) {
      const why = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(0, 3).join(' / ');
      throw new Error(`Failed to reload configuration: '${this.o.reloadCmd}' exited with ${r.code ?? r.signal}${why ? `: ${why}` : ''}`);
    }
  }

  private async signalPid(pidFile: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(pidFile, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`Failed to reload configuration: pid_file ${pidFile} cannot be read (${code ?? (err as Error).message}); is dnsmasq running?`);
    }
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`Failed to reload configuration: pid_file ${pidFile} holds no PID: ${JSON.stringify(text.trim().slice(0, 40))}`);
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ESRCH' ? 'no such process; dnsmasq is not running' : code === 'EPERM' ? 'not permitted to signal it' : (err as Error).message;
      throw new Error(`Failed to reload configuration: PID ${pid} from ${pidFile}: ${why}`);
    }
  }

}

function toDhcpSubnet(s: ConfigSubnet): DhcpSubnet {
  return { network: s.network, netmask: s.netmask, options: s.options };
}

function toReservations(h: ReturnType<typeof parseHost>, deleteable: boolean, tags: Map<string, { option: string; value: string }>): Reservation[] {
  if (h.ip === undefined || h.macs.length === 0 || parseIpv4(h.ip) === undefined) return [];
  const options: Record<string, unknown> = {};
  if (h.name !== undefined) options.hostname = h.name;
  for (const t of h.tags) {
    const o = tags.get(t);
    if (o?.option === 'tftp-server') options.nextServer = o.value;
    if (o?.option === 'bootfile-name') options.filename = o.value;
  }
  return h.macs.map((mac) => ({ type: 'reservation', name: h.name ?? '', ip: h.ip!, mac, deleteable, options: { ...options } }));
}

function toLease(l: { expiry: number; mac: string; ip: string; hostname?: string }, leaseSeconds: number | null): Lease {
  const lease: Lease = {
    type: 'lease',
    name: leaseName(l.mac),
    ip: l.ip,
    mac: l.mac,
    // dnsmasq keeps only the expiry; the start is the expiry less the range's lease time.
    starts: l.expiry === 0 || leaseSeconds === null ? null : utcText(l.expiry - leaseSeconds),
    ends: l.expiry === 0 ? null : utcText(l.expiry),
    state: 'active',
    options: {},
  };
  if (l.hostname !== undefined) lease.options.client_hostname = l.hostname;
  return lease;
}
