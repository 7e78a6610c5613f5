// The ipmitool backend. The password travels in IPMI_PASSWORD (`-E`), never in argv; every
// argument after the connection options is a constant or comes from a closed list.

import { BmcBackend, type BootDevice, type BootOptions, type FruKey, type LanKey, type SensorReading } from '../../provider.ts';
import type { IpmiConfig } from '../ipmi-config.ts';
import { execTool } from '../exec.ts';
import { parseFru, parseKeyValues, parseLanPrint, parsePowerStatus, parseSensors, type FruMap } from './parse.ts';
import { BmcError } from '../../errors.ts';

const INTERFACE = { lan15: 'lan', lan20: 'lanplus', open: 'open' } as const;

const LAN_KEYS: Record<Exclude<LanKey, 'ipsrc'>, string> = {
  ip: 'ip_address',
  mac: 'mac_address',
  netmask: 'subnet_mask',
  gateway: 'default_gateway_ip',
  snmp: 'snmp_community_string',
  vlanid: '8021q_vlan_id',
};

const FRU_KEYS: Record<FruKey, string> = {
  manufacturer: 'product_manufacturer',
  model: 'product_name',
  serial: 'product_serial',
  asset_tag: 'product_asset_tag',
};

export class IpmitoolBackend extends BmcBackend {
  readonly name = 'ipmitool';
  private readonly cfg: IpmiConfig;
  private readonly binary: string;

  constructor(cfg: IpmiConfig, binary: string) {
    super();
    this.cfg = cfg;
    this.binary = binary;
  }

  /** The full argv for one command (exported for the argv-safety tests). */
  argv(command: readonly string[]): string[] {
    const c = this.cfg;
    const args = ['-I', INTERFACE[c.driver]];
    if (c.driver !== 'open') {
      args.push('-H', c.address.host);
      if (c.address.port !== undefined) args.push('-p', String(c.address.port));
      // -E reads IPMI_PASSWORD; ipmitool refuses an empty one, and without -E/-P it uses none.
      args.push('-U', c.username);
      if (c.password !== '') args.push('-E');
      if (c.cipherSuite !== undefined && c.driver === 'lan20') args.push('-C', String(c.cipherSuite));
    }
    if (c.privilege !== undefined) args.push('-L', c.privilege);
    return [...args, ...command];
  }

  private async cmd(...command: string[]): Promise<string> {
    const res = await execTool('ipmitool', this.binary, this.argv(command), {
      deadline: this.cfg.deadline,
      env: { IPMI_PASSWORD: this.cfg.password },
    });
    return res.stdout;
  }

  override async test(): Promise<boolean> {
    try {
      return (await this.cmd('bmc', 'info')).trim() !== '';
    } catch {
      return false;
    }
  }

  override async powerStatus(): Promise<string> {
    return parsePowerStatus(await this.cmd('power', 'status'));
  }
  override async poweredOn(): Promise<boolean> {
    return (await this.powerStatus()) === 'on';
  }
  override async poweredOff(): Promise<boolean> {
    return (await this.powerStatus()) === 'off';
  }
  override async powerOn(): Promise<boolean> {
    await this.cmd('power', 'on');
    return true;
  }
  override async powerOff(): Promise<boolean> {
    await this.cmd('power', 'off');
    return true;
  }
  override async powerSoft(): Promise<boolean> {
    await this.cmd('power', 'soft');
    return true;
  }
  override async powerReset(): Promise<boolean> {
    await this.cmd('power', 'reset');
    return true;
  }
  /** A cycle of a machine that is off would fail on many BMCs: switch it on instead. */
  override async powerCycle(): Promise<boolean> {
    if ((await this.powerStatus()) === 'off') return this.powerOn();
    await this.cmd('power', 'cycle');
    return true;
  }

  override async identifyOn(): Promise<boolean> {
    await this.cmd('chassis', 'identify', '255');
    return true;
  }
  override async identifyOff(): Promise<boolean> {
    await this.cmd('chassis', 'identify', '0');
    return true;
  }
  override async identifyStatus(): Promise<string> {
    const kv = parseKeyValues(await this.cmd('chassis', 'status'));
    const key = Object.keys(kv).find((k) => /identify/i.test(k));
    if (key === undefined) throw BmcError.failed('ipmitool: the BMC does not report an identify state');
    return String(kv[key]).toLowerCase();
  }

  override async bootDevices(): Promise<string[]> {
    return ['pxe', 'disk', 'bios', 'cdrom'];
  }
  override async setBootDevice(device: BootDevice, opts: BootOptions): Promise<boolean> {
    if (opts.persistent) await this.cmd('chassis', 'bootdev', device, 'options=persistent');
    else await this.cmd('chassis', 'bootparam', 'set', 'bootflag', `force_${device}`);
    if (opts.reboot) await this.powerCycle();
    return true;
  }

  private async lanMap(): Promise<Record<string, string | string[]>> {
    // The reference asks channel 2 first (common on Dell/HP), then channel 1.
    try {
      return parseLanPrint(await this.cmd('lan', 'print', '2'));
    } catch {
      return parseLanPrint(await this.cmd('lan', 'print', '1'));
    }
  }
  override async lanPrint(): Promise<Record<string, string | string[]>> {
    return this.lanMap();
  }
  override async lan(key: LanKey): Promise<unknown> {
    const map = await this.lanMap();
    if (key === 'ipsrc') return /dhcp/i.test(String(map.ip_address_source ?? '')) ? 'dhcp' : 'static';
    return map[LAN_KEYS[key]] ?? null;
  }

  override async bmcInfo(): Promise<Record<string, string | string[]>> {
    return parseKeyValues(await this.cmd('bmc', 'info'));
  }
  override async bmcGuid(): Promise<string | null> {
    const kv = parseKeyValues(await this.cmd('bmc', 'guid'));
    const key = Object.keys(kv).find((k) => /guid/i.test(k));
    return key === undefined ? null : String(kv[key]);
  }
  override async bmcVersion(): Promise<string | null> {
    const info = await this.bmcInfo();
    const v = info['Firmware Revision'];
    return v === undefined ? null : String(v);
  }
  override async bmcReset(type: 'cold' | 'warm'): Promise<boolean> {
    await this.cmd('bmc', 'reset', type);
    return true;
  }

  private async fruMap(): Promise<FruMap> {
    return parseFru(await this.cmd('fru'));
  }
  override async fruList(): Promise<unknown> {
    try {
      const frus = await this.fruMap();
      if (Object.keys(frus).length === 0) {
        return 'Unknown error getting fru list. Try bmc_provider=freeipmi for possible quirk workaround.';
      }
      return frus;
    } catch (err) {
      return `Error getting fru list: ${(err as Error).message}`;
    }
  }
  override async fru(key: FruKey): Promise<string | null> {
    const frus = await this.fruMap();
    const main = frus.builtin_fru_device ?? Object.values(frus)[0];
    return main?.[FRU_KEYS[key]] ?? null;
  }

  override async sensors(): Promise<Record<string, SensorReading>> {
    return parseSensors(await this.cmd('sensor'));
  }
}
