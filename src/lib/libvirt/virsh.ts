// One libvirt network, reached through `virsh` (libvirt's own command-line client): the shared part
// of dns_libvirt and dhcp_libvirt, as the reference's libvirt_common. virsh is run without a
// shell and with a deadline for every call; changes go through `net-update … --live --config`, so
// the running dnsmasq and the persistent definition change together, one change at a time per
// network. Why virsh rather than a binding: there is no maintained libvirt binding for Node, and
// virsh speaks libvirt's RPC protocol with libvirt's own error messages.

import { Bulkhead } from '../../core/bulkhead.ts';
import { run, SpawnError } from '../../core/spawn.ts';
import { parseNetworkXml, type NetworkXml } from './network-xml.ts';

export type VirshFailureKind =
  /** virsh could not be started (not installed). */
  | 'spawn'
  /** No answer within the deadline; virsh was killed. */
  | 'timeout'
  /** libvirtd could not be reached (down, wrong URL, no permission on its socket). */
  | 'connect'
  /** libvirt has no network of that name. */
  | 'no_network'
  /** net-update add: an entry with the same key already exists. */
  | 'exists'
  /** net-update delete: no entry matches. */
  | 'no_match'
  /** Anything else libvirt refused, or output virsh should not have printed. */
  | 'failed';

/** A virsh call that did not succeed; `message` carries libvirt's own words. */
export class VirshError extends Error {
  readonly kind: VirshFailureKind;
  constructor(kind: VirshFailureKind, message: string) {
    super(message);
    this.name = 'VirshError';
    this.kind = kind;
  }
}

export interface LibvirtLease {
  /** Expiry as libvirt reports it, `YYYY-MM-DD HH:MM:SS` in UTC. */
  expiry: string;
  mac: string;
  ip: string;
  hostname?: string;
}

export interface LibvirtNetworkOptions {
  /** libvirt connection URI (`qemu:///system`, `qemu:///system?socket=/path`, `qemu+ssh://…`). */
  url: string;
  /** Network name. */
  network: string;
  /** Deadline of one virsh call. */
  timeoutMs: number;
  /** The virsh executable (default `virsh`, found on PATH). */
  virsh?: string;
  /** Aborts in-flight calls (the proxy's shutdown). */
  signal?: AbortSignal;
}

export type UpdateCommand = 'add-last' | 'delete';
export type UpdateSection = 'ip-dhcp-host' | 'dns-host';

/** The lines of virsh's stderr without its `error: ` prefixes, joined: libvirt's message. */
function libvirtMessage(stderr: string, stdout: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim().replace(/^error:\s*/, ''))
    .filter((l) => l !== '');
  // The first line is virsh's "Failed to update network x"; the cause follows it.
  const text = lines.length > 0 ? lines.join(': ') : stdout.trim();
  return text === '' ? 'no message' : text;
}

function classify(message: string): VirshFailureKind {
  if (/failed to connect to the hypervisor|Failed to connect socket|no connection driver available|authentication failed|Cannot recv data|End of file while reading data/i.test(message)) {
    return 'connect';
  }
  if (/Network not found|no network with matching name/i.test(message)) return 'no_network';
  if (/there is (already at least one|an existing)/i.test(message)) return 'exists';
  if (/couldn't locate a matching/i.test(message)) return 'no_match';
  return 'failed';
}

export class LibvirtNetwork {
  readonly url: string;
  readonly network: string;
  private readonly timeoutMs: number;
  private readonly virsh: string;
  private readonly signal: AbortSignal | undefined;
  /** One change at a time to this network (libvirtd also locks it; this keeps read-modify-write whole). */
  private readonly writes: Bulkhead;

  constructor(o: LibvirtNetworkOptions) {
    this.url = o.url;
    this.network = o.network;
    this.timeoutMs = o.timeoutMs;
    this.virsh = o.virsh ?? 'virsh';
    this.signal = o.signal;
    this.writes = new Bulkhead({
      name: `libvirt network ${o.network}`,
      limit: 1,
      queue: 256,
      // A writer waits for at most a few calls ahead of it; past that the caller gets 503.
      queueTimeoutMs: o.timeoutMs * 3,
    });
  }

  /** Run one virsh subcommand against the URL; resolves with its stdout or throws VirshError. */
  private async virshCall(args: readonly string[]): Promise<string> {
    const argv = ['--quiet', '--connect', this.url, ...args];
    let r;
    try {
      r = await run(this.virsh, argv, {
        timeoutMs: this.timeoutMs,
        signal: this.signal,
        // virsh prints lease expiry times in local time: make that UTC.
        env: { TZ: 'UTC' },
      });
    } catch (err) {
      if (err instanceof SpawnError) throw new VirshError('spawn', err.message);
      throw new VirshError('failed', `${this.virsh}: ${(err as Error).message}`);
    }
    if (r.timedOut) {
      throw new VirshError('timeout', `virsh ${args[0]} got no answer from libvirt at ${this.url} within ${this.timeoutMs / 1000} s`);
    }
    if (r.code !== 0) {
      const message = libvirtMessage(r.stderr, r.stdout);
      throw new VirshError(classify(message), message);
    }
    return r.stdout;
  }

  /** The network's definition as libvirt runs it (live XML, not the inactive one). */
  async dumpXml(): Promise<NetworkXml> {
    const xml = await this.virshCall(['net-dumpxml', this.network]);
    try {
      return parseNetworkXml(xml);
    } catch (err) {
      throw new VirshError('failed', `net-dumpxml ${this.network} returned XML the proxy cannot read: ${(err as Error).message}`);
    }
  }

  /** Current IPv4 leases of the network's dnsmasq (`virsh net-dhcp-leases`). */
  async dhcpLeases(): Promise<LibvirtLease[]> {
    const out = await this.virshCall(['net-dhcp-leases', this.network]);
    return parseLeaseTable(out);
  }

  /** `net-update <command> <section> <xml> --live --config`, serialised per network. */
  update(command: UpdateCommand, section: UpdateSection, xml: string): Promise<void> {
    return this.writes.run(() => this.updateNow(command, section, xml));
  }

  /**
   * Run several reads and updates as one change (the DNS provider replaces an entry by deleting
   * and re-adding it): `fn` gets an updater that does not queue again.
   */
  exclusive<T>(fn: (update: (command: UpdateCommand, section: UpdateSection, xml: string) => Promise<void>) => Promise<T>): Promise<T> {
    return this.writes.run(() => fn((c, s, x) => this.updateNow(c, s, x)));
  }

  private async updateNow(command: UpdateCommand, section: UpdateSection, xml: string): Promise<void> {
    await this.virshCall(['net-update', this.network, command, section, xml, '--live', '--config']);
  }
}

/**
 * The table of `virsh --quiet net-dhcp-leases` (no header):
 * `2026-12-03 18:00:00  52:54:00:00:00:01  ipv4  192.168.150.10/24  h1  01:52:54:…`.
 * The hostname and client id columns are `-` when unknown. IPv6 rows are skipped.
 */
export function parseLeaseTable(out: string): LibvirtLease[] {
  const leases: LibvirtLease[] = [];
  for (const line of out.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^\d{4}-\d\d-\d\d$/.test(f[0]!) || !/^\d\d:\d\d:\d\d$/.test(f[1]!)) continue;
    const [date, time, mac, protocol, address, hostname] = f as [string, string, string, string, string, string | undefined];
    if (protocol !== 'ipv4') continue;
    const lease: LibvirtLease = { expiry: `${date} ${time}`, mac: mac.toLowerCase(), ip: address.replace(/\/\d+$/, '') };
    if (hostname !== undefined && hostname !== '-') lease.hostname = hostname;
    leases.push(lease);
  }
  return leases;
}
