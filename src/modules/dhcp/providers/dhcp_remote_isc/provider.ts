// dhcp_remote_isc (plugin smart_proxy_dhcp_remote_isc): ISC dhcpd running on another host. Its
// dhcpd.conf and leases file are read through a mounted path (typically NFS) and reservations are
// written over OMAPI to dhcp.yml's `server` — the dhcp_isc provider's code, configured, plus one
// thing a network mount needs: change notifications (inotify) do not cross NFS, so every request
// first brings the view up to date, as the plugin re-reads both files per request — but
// incrementally: the appended part of the leases file only, and the whole view only when dhcpd
// rewrote the leases file or the configuration changed.

import { stat } from 'node:fs/promises';
import type { Logger } from '../../../../core/logging-types.ts';
import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { DHCP_SETTINGS } from '../../module.ts';
import type { DhcpProvider, DhcpRecord, DhcpSubnet, NewReservation, Reservation, SubnetRecords, UnusedIpQuery } from '../../provider.ts';
import { ISC_OMAPI_SETTINGS, IscProvider, iscProviderOptions, type IscProviderOptions } from '../dhcp_isc/provider.ts';

/** What identifies one version of a file for "has it changed" (mtime alone misses same-second edits). */
function fileVersion(st: { ino: number; size: number; mtimeMs: number }): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

export class RemoteIscProvider implements DhcpProvider {
  readonly supportsVendorOptions = true;
  readonly writeQueueTimeoutMs: number;
  private readonly opts: IscProviderOptions;
  private readonly log: Logger;
  private inner: IscProvider;
  private configVersion = '';
  private refreshing: Promise<void> | undefined;

  private constructor(opts: IscProviderOptions, inner: IscProvider, configVersion: string) {
    this.opts = opts;
    this.log = opts.log;
    this.inner = inner;
    this.configVersion = configVersion;
    this.writeQueueTimeoutMs = inner.writeQueueTimeoutMs;
  }

  /** Read both files (so a wrong path fails the module at start, with the reason). */
  static async open(opts: IscProviderOptions): Promise<RemoteIscProvider> {
    const version = fileVersion(await stat(opts.config));
    const inner = await IscProvider.started(opts);
    return new RemoteIscProvider(opts, inner, version);
  }

  /**
   * Bring the view up to date with both files: a changed dhcpd.conf means a fresh view (both files
   * read again), otherwise what dhcpd appended to the leases file is applied (a rewritten leases
   * file is reloaded whole, with the configuration). Concurrent requests share one refresh.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    let version: string;
    try {
      version = fileVersion(await stat(this.opts.config));
    } catch (err) {
      // The mount may be away for a moment: answer from the view we have, and say so.
      this.log.warn(`dhcp_remote_isc: cannot read ${this.opts.config}: ${(err as Error).message}; answering from the last view`);
      return;
    }
    if (version !== this.configVersion) {
      try {
        const fresh = await IscProvider.started(this.opts);
        const old = this.inner;
        this.inner = fresh;
        this.configVersion = version;
        await old.close();
        this.log.info(`dhcp_remote_isc: ${this.opts.config} changed; configuration and leases read again`);
      } catch (err) {
        this.log.warn(`dhcp_remote_isc: ${this.opts.config} changed but cannot be read: ${(err as Error).message}; answering from the last view`);
      }
      return;
    }
    await this.inner.sync();
  }

  async subnets(): Promise<DhcpSubnet[]> {
    await this.refresh();
    return this.inner.subnets();
  }

  async findSubnet(address: string): Promise<DhcpSubnet | undefined> {
    await this.refresh();
    return this.inner.findSubnet(address);
  }

  async subnetRecords(subnet: DhcpSubnet): Promise<SubnetRecords> {
    await this.refresh();
    return this.inner.subnetRecords(subnet);
  }

  async findByIp(subnet: DhcpSubnet, ip: string): Promise<DhcpRecord[]> {
    await this.refresh();
    return this.inner.findByIp(subnet, ip);
  }

  async findByMac(subnet: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined> {
    await this.refresh();
    return this.inner.findByMac(subnet, mac);
  }

  async unusedIp(subnet: DhcpSubnet, q: UnusedIpQuery): Promise<string | null> {
    await this.refresh();
    return this.inner.unusedIp(subnet, q);
  }

  // Writes follow a lookup of the same request (the module's conflict check), which refreshed.
  createReservation(subnet: DhcpSubnet, r: NewReservation): Promise<void> {
    return this.inner.createReservation(subnet, r);
  }

  deleteReservation(subnet: DhcpSubnet, r: Reservation): Promise<void> {
    return this.inner.deleteReservation(subnet, r);
  }

  async close(): Promise<void> {
    await this.refreshing?.catch(() => undefined);
    await this.inner.close();
  }
}

export default defineProvider({
  id: 'dhcp_remote_isc',
  module: 'dhcp',
  summary:
    "dhcp_remote_isc: ISC dhcpd on another host. dhcpd.conf and dhcpd.leases are read through a mounted path (e.g. NFS) and brought up to date on every request; reservations are written over OMAPI to dhcp.yml's server.",
  capabilities: ['dhcp_filename_ipv4', 'dhcp_filename_hostname'],
  moduleSettings: DHCP_SETTINGS,
  settings: setting.settings({
    config: setting.file({
      default: '/etc/dhcp/dhcpd.conf',
      checks: ['readable'],
      description:
        "The remote dhcpd's configuration as mounted here (subnets and static hosts; include files, shared-network, group and pool blocks are followed, include paths as seen from this host).",
    }),
    leases: setting.file({
      default: '/var/lib/dhcpd/dhcpd.leases',
      checks: ['readable'],
      description: "The remote dhcpd's leases file as mounted here. Its directory must be mounted, not the file alone: dhcpd replaces the file when it rewrites it.",
    }),
    ...ISC_OMAPI_SETTINGS,
  }),
  async create(ctx) {
    const s = ctx.settings;
    // Reads both files at start (so `smart-proxy check` tries the mount); OMAPI connects on the
    // first write, so the remote dhcpd need not be reachable yet.
    return RemoteIscProvider.open(iscProviderOptions(s, ctx));
  },
});
