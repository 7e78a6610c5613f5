// The Redfish backend (DMTF Redfish, https://<bmc>/redfish/v1). Credentials from the request go
// to the BMC as HTTP Basic on each call over the module's pooled keep-alive connections; every
// call gets what is left of the request's deadline. Vendor differences (Dell, HPE) follow
// System.Manufacturer, as in the reference.

import { setTimeout as sleep } from 'node:timers/promises';
import { BmcBackend, type BootDevice, type BootOptions, type FruKey, type LanKey } from '../../provider.ts';
import { formatAddress, type BmcAddress } from '../../host.ts';
import type { Deadline } from '../deadline.ts';
import { HttpClientError, type HttpClient, type HttpResponse } from '../../../../lib/http/client.ts';
import { BmcError } from '../../errors.ts';

export interface RedfishConfig {
  readonly address: BmcAddress;
  readonly username: string;
  readonly password: string;
  readonly deadline: Deadline;
  /** The module's pooled client (no base URL: each BMC is its own origin). */
  readonly http: HttpClient;
  /** Pause between ForceOff and On when a Dell BMC cannot ForceRestart (15 s in the reference). */
  readonly dellCycleDelayMs?: number;
  readonly warn?: (message: string) => void;
}

type Json = Record<string, unknown>;

const BOOT_TARGET: Record<BootDevice, string> = { pxe: 'Pxe', disk: 'Hdd', bios: 'BiosSetup', cdrom: 'Cd' };
const MAX_BODY = 4 * 1024 * 1024;

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

function odataId(v: unknown): string | undefined {
  const id = obj(v)['@odata.id'];
  return typeof id === 'string' ? id : undefined;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : v === undefined || v === null ? null : String(v);
}

export class RedfishBackend extends BmcBackend {
  readonly name = 'redfish';
  private readonly cfg: RedfishConfig;
  private readonly base: string;
  private readonly cache = new Map<string, Promise<Json>>();

  constructor(cfg: RedfishConfig) {
    super();
    this.cfg = cfg;
    this.base = `https://${formatAddress(cfg.address)}`;
  }

  private async call(method: 'GET' | 'POST' | 'PATCH', path: string, body?: Json): Promise<Json> {
    // Only paths on this BMC: an @odata.id pointing elsewhere must not redirect our credentials.
    if (!path.startsWith('/') || path.startsWith('//')) throw BmcError.failed(`redfish: refusing link ${JSON.stringify(path)}`);
    const auth = Buffer.from(`${this.cfg.username}:${this.cfg.password}`).toString('base64');
    const label = `redfish: ${formatAddress(this.cfg.address)}`;
    const timeoutMs = this.cfg.deadline.next(label);
    let res: HttpResponse;
    let text: string;
    try {
      res = await this.cfg.http.request({
        method,
        path: this.base + path,
        headers: {
          authorization: `Basic ${auth}`,
          accept: 'application/json',
          'odata-version': '4.0',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        timeoutMs,
      });
      text = await res.text(MAX_BODY);
    } catch (err) {
      if (!(err instanceof HttpClientError)) throw err;
      if (err.kind === 'timeout') throw this.cfg.deadline.expired(label);
      if (err.kind === 'too_large') throw BmcError.failed(`redfish: ${method} ${path}: response larger than ${MAX_BODY} bytes`);
      throw BmcError.failed(`redfish: ${method} ${path}: ${err.message}`);
    }
    if (res.status < 200 || res.status > 299) {
      let detail = '';
      try {
        const err = obj(obj(JSON.parse(text)).error);
        detail = str(err.message) ?? '';
        const ext = err['@Message.ExtendedInfo'];
        if (Array.isArray(ext) && ext.length > 0) detail = str(obj(ext[0]).Message) ?? detail;
      } catch {
        /* not JSON */
      }
      throw BmcError.failed(`redfish: ${method} ${path} answered ${res.status}${detail ? `: ${detail}` : ''}`);
    }
    if (text.trim() === '') return {};
    try {
      return obj(JSON.parse(text));
    } catch {
      throw BmcError.failed(`redfish: ${method} ${path}: the answer is not JSON`);
    }
  }

  private get(path: string): Promise<Json> {
    let p = this.cache.get(path);
    if (!p) {
      p = this.call('GET', path);
      this.cache.set(path, p);
    }
    return p;
  }

  private async firstMember(collectionLink: unknown, what: string): Promise<Json> {
    const link = odataId(collectionLink);
    if (!link) throw BmcError.failed(`redfish: the service has no ${what}`);
    const members = (await this.get(link)).Members;
    if (!Array.isArray(members) || members.length === 0) throw BmcError.failed(`redfish: no ${what} found`);
    if (members.length > 1) this.cfg.warn?.(`redfish: ${members.length} ${what} found, using the first`);
    const first = odataId(members[0]);
    if (!first) throw BmcError.failed(`redfish: ${what} member without @odata.id`);
    return this.get(first);
  }

  private root(): Promise<Json> {
    return this.get('/redfish/v1/');
  }
  private async system(): Promise<Json> {
    return this.firstMember((await this.root()).Systems, 'Systems');
  }
  private async manager(): Promise<Json> {
    return this.firstMember((await this.root()).Managers, 'Managers');
  }
  private async nic(): Promise<Json> {
    return this.firstMember((await this.manager()).EthernetInterfaces, 'manager EthernetInterfaces');
  }
  private async ipv4(): Promise<Json> {
    const list = (await this.nic()).IPv4Addresses;
    return Array.isArray(list) ? obj(list[0]) : {};
  }
  private async vendor(): Promise<'dell' | 'hpe' | 'other'> {
    const m = str((await this.system()).Manufacturer) ?? '';
    return m === 'Dell Inc.' ? 'dell' : m === 'HPE' ? 'hpe' : 'other';
  }

  private async systemReset(resetType: string): Promise<boolean> {
    const action = obj(obj((await this.system()).Actions)['#ComputerSystem.Reset']);
    const target = str(action.target);
    if (!target) throw BmcError.failed('redfish: the system has no #ComputerSystem.Reset action');
    await this.call('POST', target, { ResetType: resetType });
    return true;
  }

  private async patchSystem(body: Json): Promise<boolean> {
    const id = odataId(await this.system());
    if (!id) throw BmcError.failed('redfish: the system has no @odata.id');
    await this.call('PATCH', id, body);
    return true;
  }

  override async test(): Promise<boolean> {
    try {
      const link = odataId((await this.root()).Managers);
      if (!link) return false;
      const members = (await this.get(link)).Members;
      return Array.isArray(members) && members.length > 0;
    } catch {
      return false;
    }
  }

  override async powerStatus(): Promise<string> {
    return (str((await this.system()).PowerState) ?? '').toLowerCase();
  }
  override async poweredOn(): Promise<boolean> {
    return (await this.powerStatus()) === 'on';
  }
  override async poweredOff(): Promise<boolean> {
    return (await this.powerStatus()) === 'off';
  }
  override powerOn(): Promise<boolean> {
    return this.systemReset('On');
  }
  override powerOff(): Promise<boolean> {
    return this.systemReset('ForceOff');
  }
  override async powerSoft(): Promise<boolean> {
    return this.systemReset((await this.vendor()) === 'hpe' ? 'PushPowerButton' : 'GracefulShutdown');
  }
  override async powerCycle(): Promise<boolean> {
    if ((await this.vendor()) === 'dell') {
      const action = obj(obj((await this.system()).Actions)['#ComputerSystem.Reset']);
      const allowed = action['ResetType@Redfish.AllowableValues'];
      if (!(Array.isArray(allowed) && allowed.includes('ForceRestart'))) {
        await this.systemReset('ForceOff');
        await sleep(this.cfg.dellCycleDelayMs ?? 15_000);
        return this.systemReset('On');
      }
    }
    return this.systemReset('ForceRestart');
  }

  override async identifyStatus(): Promise<string> {
    return (str((await this.system()).IndicatorLED) ?? '').toLowerCase();
  }
  override identifyOn(): Promise<boolean> {
    return this.patchSystem({ IndicatorLED: 'Lit' });
  }
  override identifyOff(): Promise<boolean> {
    return this.patchSystem({ IndicatorLED: 'Off' });
  }

  override async bootDevices(): Promise<string[]> {
    return ['pxe', 'disk', 'bios', 'cdrom'];
  }
  override async setBootDevice(device: BootDevice, opts: BootOptions): Promise<boolean> {
    await this.patchSystem({
      Boot: { BootSourceOverrideTarget: BOOT_TARGET[device], BootSourceOverrideEnabled: opts.persistent ? 'Continuous' : 'Once' },
    });
    if (opts.reboot) return this.powerCycle();
    return true;
  }

  override async lan(key: LanKey): Promise<unknown> {
    switch (key) {
      case 'ip':
        return str((await this.ipv4()).Address);
      case 'gateway':
        return str((await this.ipv4()).Gateway);
      case 'netmask':
        return str((await this.ipv4()).SubnetMask);
      case 'ipsrc':
        return str((await this.ipv4()).AddressOrigin);
      case 'mac':
        return str((await this.nic()).MACAddress);
      case 'vlanid': {
        const vlan = obj((await this.nic()).VLAN);
        return vlan.VLANEnable === true ? (vlan.VLANId ?? null) : null;
      }
      default:
        return super.lan(key);
    }
  }

  override async bmcGuid(): Promise<string | null> {
    return str((await this.manager()).UUID);
  }
  override async bmcVersion(): Promise<string | null> {
    return str((await this.manager()).FirmwareVersion);
  }
  override async bmcReset(): Promise<boolean> {
    const action = obj(obj((await this.manager()).Actions)['#Manager.Reset']);
    const target = str(action.target);
    if (!target) throw BmcError.failed('redfish: the manager has no #Manager.Reset action');
    const allowed = action['ResetType@Redfish.AllowableValues'];
    const type = Array.isArray(allowed) && !allowed.includes('GracefulRestart') && allowed.includes('ForceRestart')
      ? 'ForceRestart'
      : 'GracefulRestart';
    await this.call('POST', target, { ResetType: type });
    return true;
  }

  override async fru(key: FruKey): Promise<string | null> {
    const s = await this.system();
    const field = { model: 'Model', serial: 'SerialNumber', asset_tag: 'AssetTag', manufacturer: 'Manufacturer' }[key];
    return str(s[field]);
  }
}
