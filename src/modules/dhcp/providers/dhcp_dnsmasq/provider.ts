// `use_provider: dhcp_dnsmasq`: dnsmasq's DHCP through the files it reads (the
// smart_proxy_dhcp_dnsmasq plugin's contract and settings, so its dhcp_dnsmasq.yml keeps working).
// dnsmasq must read the proxy's files: `dhcp-hostsfile=<target_dir>/dhcphosts` (or
// dhcp-hostsdir) and `dhcp-optsfile=<target_dir>/dhcpopts.conf`.

import { defineProvider } from '../../../../core/module.ts';
import * as setting from '../../../../core/settings/schema.ts';
import { DHCP_SETTINGS } from '../../module.ts';
import type { DhcpProvider } from '../../provider.ts';
import { commandWords, DnsmasqDhcpProvider } from './dnsmasq-provider.ts';

/** `config` as the plugin takes it: one path or a list of paths. */
function configPaths(value: unknown): string[] | undefined {
  if (typeof value === 'string' && value !== '') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v !== '')) return value as string[];
  return undefined;
}

export default defineProvider({
  id: 'dhcp_dnsmasq',
  module: 'dhcp',
  summary:
    "dhcp_dnsmasq: dnsmasq's DHCP through its files: subnets from dhcp-range/dhcp-option lines of its configuration, reservations written as one dhcp-host file per MAC into <target_dir>/dhcphosts with boot file and TFTP server as tags in <target_dir>/dhcpopts.conf, dnsmasq told to re-read them (reload_cmd, or SIGHUP to the PID in pid_file), leases from its leases file.",
  moduleSettings: DHCP_SETTINGS,
  settings: setting.settings({
    config: setting.any({
      default: '/etc/dnsmasq.conf',
      description:
        'dnsmasq configuration to read subnets (dhcp-range, which must name the netmask, and dhcp-option) and hand-written dhcp-host lines from: a file, a directory (every file in it), or a list of them.',
    }),
    target_dir: setting.string({
      default: '/var/lib/foreman-proxy/dhcp/',
      description: 'Directory the proxy writes into: dhcphosts/ (one dhcp-host file per reservation) and dhcpopts.conf. Created if missing; the proxy must be able to write it.',
    }),
    lease_file: setting.file({
      default: '/var/lib/dnsmasq/dhcp.leases',
      checks: ['readable'],
      description: "dnsmasq's leases file (dhcp-leasefile).",
    }),
    reload_cmd: setting.string({
      default: 'systemctl reload dnsmasq',
      description:
        "Command run after every change so dnsmasq re-reads the files (it is run without a shell: words split at spaces, '…' and \"…\" group; no pipes or $(…)). Not used when pid_file is set.",
    }),
    pid_file: setting.file({
      example: '/run/dnsmasq/dnsmasq.pid',
      extension: true,
      description: "dnsmasq's pid file. When set, the proxy sends SIGHUP to that PID itself instead of running reload_cmd (the proxy must be allowed to signal it: same user, or root).",
    }),
    reload_timeout: setting.number({
      default: 10,
      exclusiveMinimum: 0,
      maximum: 50,
      unit: 'seconds',
      extension: true,
      description: 'Time reload_cmd may take before it is killed and the change fails.',
    }),
    blacklist_duration_minutes: setting.integer({
      default: 1800,
      minimum: 0,
      unit: 'seconds',
      description: 'How long a suggested free address is withheld from further unused_ip suggestions. Seconds despite the name, as in the plugin.',
    }),
  }),
  validate(s) {
    if (configPaths(s.config) === undefined) {
      return { key: 'config', message: 'dhcp_dnsmasq: config must be a path or a non-empty list of paths' };
    }
    if (s.pid_file === undefined || s.pid_file === '') {
      try {
        commandWords(s.reload_cmd);
      } catch (err) {
        return { key: 'reload_cmd', message: `dhcp_dnsmasq: ${(err as Error).message}` };
      }
    }
    return undefined;
  },
  async create(ctx): Promise<DhcpProvider> {
    const s = ctx.settings;
    const provider = new DnsmasqDhcpProvider({
      config: configPaths(s.config)!,
      targetDir: s.target_dir,
      leaseFile: s.lease_file,
      reloadCmd: s.reload_cmd,
      ...(s.pid_file !== undefined && s.pid_file !== '' ? { pidFile: s.pid_file } : {}),
      timeoutMs: Math.round(s.reload_timeout * 1000),
      holdMs: s.blacklist_duration_minutes * 1000,
      pingFreeIp: s.ping_free_ip,
      log: ctx.log,
    });
    await provider.prepare();
    return provider;
  },
});
