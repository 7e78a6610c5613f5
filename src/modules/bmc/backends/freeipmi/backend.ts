// The FreeIPMI backend. Username and password go into a 0600 config file inside a private 0700
// temp dir (also the SDR cache), never into argv; the dir is removed when the request ends.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BmcBackend, type BootDevice, type BootOptions, type FruKey, type LanKey, type SensorReading } from '../../provider.ts';
import { formatAddress } from '../../host.ts';
import type { IpmiConfig } from '../ipmi-config.ts';
import { execTool } from '../exec.ts';
import { parseKeyValues } from '../ipmitool/parse.ts';
import { parseCheckout, parseIpmiFru, parseIpmiSensors, parseIpmipowerStatus, type FruMap } from './parse.ts';

const DRIVER = { lan15: 'LAN', lan20: 'LAN_2_0', open: 'OPENIPMI' } as const;
const PRIVILEGE = { CALLBACK: 'USER', USER: 'USER', OPERATOR: 'OPERATOR', ADMINISTRATOR: 'ADMIN' } as const;
const BOOT = { pxe: 'PXE', disk: 'HARD-DRIVE', bios: 'BIOS-SETUP', cdrom: 'CD-DVD' } as const;

const LAN_KEYS: Record<Exclude<LanKey, 'ipsrc' | 'vlanid'>, string> = {
  ip: 'ip_address',
  mac: 'mac_address',
  netmask: 'subnet_mask',
  gateway: 'default_gateway_ip_address',
  snmp: 'community_string',
};

const FRU_KEYS: Record<FruKey, string[]> = {
  manufacturer: ['product_manufacturer_name', 'product_manufacturer'],
  model: ['product_name'],
  serial: ['product_serial_number', 'product_serial'],
  asset_tag: ['product_asset_tag'],
};

// FreeIPMI's config-file parser treats `#` as a comment even inside quotes and has no escape for
// `"` or `\`; values with those cannot be written faithfully (checked against FreeIPMI 1.6.10).
const UNQUOTABLE = /["#\\]/;

/** Why a credential cannot go into a FreeIPMI config file, or undefined when it can. */
export function freeipmiCredentialProblem(value: string): string | undefined {
  return UNQUOTABLE.test(value) ? 'contains \'"\', \'#\' or \'\\\', which FreeIPMI config files cannot hold; use bmc_provider=ipmitool' : undefined;
}

/** The FreeIPMI config file for one request (exported for tests). Values are quoted for spaces. */
export function freeipmiConfig(cfg: IpmiConfig): string {
  const lines: string[] = [];
  if (cfg.driver !== 'open') lines.push(`username "${cfg.username}"`, `password "${cfg.password}"`);
  lines.push(`driver-type ${DRIVER[cfg.driver]}`);
  if (cfg.privilege !== undefined) lines.push(`privilege-level ${PRIVILEGE[cfg.privilege]}`);
  if (cfg.cipherSuite !== undefined && cfg.driver === 'lan20') lines.push(`cipher-suite-id ${cfg.cipherSuite}`);
  if (cfg.workaroundFlags !== undefined) lines.push(`workaround-flags ${cfg.workaroundFlags}`);
  return lines.join('\n') + '\n';
}

export interface FreeipmiBinaries {
  /** Directory holding ipmipower, ipmi-chassis, bmc-info … (where ipmipower was found). */
  readonly sbin: string;
}

export class FreeipmiBackend extends BmcBackend {
  readonly name = 'freeipmi';
  private readonly cfg: IpmiConfig;
  private readonly bin: FreeipmiBinaries;
  private dir: Promise<string> | undefined;

  constructor(cfg: IpmiConfig, bin: FreeipmiBinaries) {
    super();
    this.cfg = cfg;
    this.bin = bin;
  }

  private workDir(): Promise<string> {
    this.dir ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'bmc-freeipmi-'));
      await writeFile(join(dir, 'freeipmi.conf'), freeipmiConfig(this.cfg), { mode: 0o600 });
      return dir;
    })();
    return this.dir;
  }

  override async close(): Promise<void> {
    if (this.dir === undefined) return;
    const dir = await this.dir.catch(() => undefined);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }

  /** The full argv of one tool invocation (exported for the argv-safety tests). */
  argv(dir: string, tool: string, command: readonly string[]): string[] {
    const args = [`--config-file=${join(dir, 'freeipmi.conf')}`];
    if (this.cfg.driver !== 'open') args.push(`--hostname=${formatAddress(this.cfg.address)}`);
    // FreeIPMI's own session timeout ends a dead BMC's call with a clear message before our
    // spawn deadline kills it.
    const left = this.cfg.deadline.remaining();
    args.push(`--session-timeout=${Math.max(1000, Math.floor((left - 1000) / 1000) * 1000)}`);
    return [...args, ...command];
  }

  private async cmd(tool: string, command: string[], lenientExit = false): Promise<string> {
    const dir = await this.workDir();
    const res = await execTool(`freeipmi ${tool}`, join(this.bin.sbin, tool), this.argv(dir, tool, command), {
      deadline: this.cfg.deadline,
      lenientExit,
    });
    return res.stdout;
  }

  override async test(): Promise<boolean> {
    try {
      return (await this.cmd('bmc-info', ['--get-device-id'])).trim() !== '';
    } catch {
      return false;
    }
  }

  override async powerStatus(): Promise<string> {
    return parseIpmipowerStatus(await this.cmd('ipmipower', ['--stat']));
  }
  override async poweredOn(): Promise<boolean> {
    return (await this.powerStatus()) === 'on';
  }
  override async poweredOff(): Promise<boolean> {
    return (await this.powerStatus()) === 'off';
  }
  override powerOn(): Promise<string> {
    return this.power('--on');
  }
  override powerOff(): Promise<string> {
    return this.power('--off');
  }
  override powerSoft(): Promise<string> {
    return this.power('--soft');
  }
  override powerReset(): Promise<string> {
    return this.power('--reset');
  }
  override async powerCycle(): Promise<string> {
    if ((await this.powerStatus()) === 'off') return this.power('--on');
    return this.power('--cycle');
  }
  /** ipmipower answers `<host>: ok` (rc 0) or `<host>: <problem>` (rc 1); Foreman reads the text. */
  private async power(flag: string): Promise<string> {
    return this.cmd('ipmipower', [flag]);
  }

  override async identifyOn(): Promise<boolean> {
    await this.cmd('ipmi-chassis', ['--chassis-identify=FORCE']);
    return true;
  }
  override async identifyOff(): Promise<boolean> {
    await this.cmd('ipmi-chassis', ['--chassis-identify=TURN-OFF']);
    return true;
  }
  override async identifyStatus(): Promise<null> {
    return null;
  }

  override async bootDevices(): Promise<string[]> {
    return ['pxe', 'disk', 'bios', 'cdrom'];
  }
  override async setBootDevice(device: BootDevice, opts: BootOptions): Promise<boolean> {
    await this.cmd('ipmi-chassis-config', [
      '--commit',
      `--key-pair=Chassis_Boot_Flags:Boot_Device=${BOOT[device]}`,
      `--key-pair=Chassis_Boot_Flags:Boot_Flags_Persistent=${opts.persistent ? 'Yes' : 'No'}`,
    ]);
    if (opts.reboot) await this.powerCycle();
    return true;
  }

  override async lanPrint(): Promise<Record<string, string>> {
    return parseCheckout(await this.cmd('bmc-config', ['--checkout', '--section=Lan_Conf']));
  }
  override async lan(key: LanKey): Promise<unknown> {
    const map = await this.lanPrint();
    if (key === 'ipsrc') return /dhcp/i.test(map.ip_address_source ?? '') ? 'dhcp' : 'static';
    if (key === 'vlanid') return /^yes$/i.test(map.vlan_id_enable ?? '') ? (map.vlan_id ?? null) : null;
    return map[LAN_KEYS[key]] ?? null;
  }

  override async bmcInfo(): Promise<Record<string, string | string[]>> {
    // bmc-info exits 1 when an optional query is refused but still prints the device data.
    return parseKeyValues(await this.cmd('bmc-info', [], true));
  }
  override async bmcGuid(): Promise<string | null> {
    // Prints the bare GUID (older releases: `System GUID : <guid>`).
    const out = (await this.cmd('bmc-info', ['--get-system-guid'])).trim();
    const value = out.includes(':') ? out.slice(out.lastIndexOf(':') + 1).trim() : out;
    return value === '' ? null : value;
  }
  override async bmcVersion(): Promise<string | null> {
    const kv = parseKeyValues(await this.cmd('bmc-info', ['--get-device-id']));
    const v = kv['Firmware Revision'];
    return v === undefined ? null : String(v);
  }
  override async bmcReset(type: 'cold' | 'warm'): Promise<boolean> {
    await this.cmd('bmc-device', [type === 'cold' ? '--cold-reset' : '--warm-reset']);
    return true;
  }

  private async fruMap(): Promise<FruMap> {
    const dir = await this.workDir();
    return parseIpmiFru(await this.cmd('ipmi-fru', [`--sdr-cache-directory=${dir}`]));
  }
  override async fruList(): Promise<unknown> {
    try {
      try {
        return await this.fruMap();
      } catch {
        return await this.fruMap(); // the reference retries once: FRU reads are flaky on some BMCs
      }
    } catch (err) {
      return `Error getting fru list: ${(err as Error).message}`;
    }
  }
  override async fru(key: FruKey): Promise<string | null> {
    const frus = await this.fruMap();
    const main = frus.default_fru_device ?? Object.values(frus)[0];
    if (main === undefined) return null;
    for (const k of FRU_KEYS[key]) if (main[k] !== undefined) return main[k];
    return null;
  }

  override async sensors(): Promise<Record<string, SensorReading>> {
    const dir = await this.workDir();
    return parseIpmiSensors(await this.cmd('ipmi-sensors', [`--sdr-cache-directory=${dir}`, '--quiet-cache']));
  }
}
