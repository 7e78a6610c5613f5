// What the BMC routes need from a backend. Backends are chosen per request (bmc_provider), so they
// are plain classes built for one request rather than core providers.
//
// Every operation defaults to "not implemented" (501, body `NotImplementedError`, as the
// reference). Operations the reference's backend class does not define at all answer 400 instead
// (`UndefinedOperation`), which is what Foreman sees from the reference too. The module's error
// policy (errors.ts) gives both their status; BMC failures are `BmcError.failed` (400).

export type BootDevice = 'pxe' | 'disk' | 'bios' | 'cdrom';
export const BOOT_DEVICES: readonly BootDevice[] = ['pxe', 'disk', 'bios', 'cdrom'];

export type LanKey = 'ip' | 'netmask' | 'mac' | 'gateway' | 'snmp' | 'vlanid' | 'ipsrc';
export type FruKey = 'serial' | 'manufacturer' | 'model' | 'asset_tag';

export interface BootOptions {
  /** Power-cycle after setting the device. */
  reboot: boolean;
  /** All future boots instead of the next one only. */
  persistent: boolean;
}

export interface SensorReading {
  name: string;
  value: string | null;
  unit: string | null;
  status: string | null;
  [field: string]: string | null;
}

/** Thrown for operations a backend does not support. */
export class NotImplementedOperation extends Error {
  constructor() {
    super('');
    this.name = 'NotImplementedError';
  }
}

/** Thrown for operations the reference's backend does not define at all. */
export class UndefinedOperation extends Error {
  constructor(backend: string, operation: string) {
    super(`undefined method '${operation}' for the ${backend} BMC provider`);
    this.name = 'NoMethodError';
  }
}

const nope = (): Promise<never> => Promise.reject(new NotImplementedOperation());

export abstract class BmcBackend {
  abstract readonly name: string;

  /** Release per-request resources (temp files). Called once the request is answered. */
  close(): Promise<void> { return Promise.resolve(); }

  test(): Promise<unknown> { return nope(); }

  powerStatus(): Promise<unknown> { return nope(); }
  poweredOn(): Promise<unknown> { return nope(); }
  poweredOff(): Promise<unknown> { return nope(); }
  powerOn(): Promise<unknown> { return nope(); }
  powerOff(): Promise<unknown> { return nope(); }
  powerCycle(): Promise<unknown> { return nope(); }
  powerSoft(): Promise<unknown> { return nope(); }
  powerReset(): Promise<unknown> { return Promise.reject(new UndefinedOperation(this.name, 'powerreset')); }

  identifyStatus(): Promise<unknown> { return nope(); }
  identifyOn(): Promise<unknown> { return nope(); }
  identifyOff(): Promise<unknown> { return nope(); }

  bootDevices(): Promise<unknown> { return nope(); }
  setBootDevice(_device: BootDevice, _options: BootOptions): Promise<unknown> { return nope(); }

  lan(_key: LanKey): Promise<unknown> { return nope(); }
  lanPrint(): Promise<unknown> { return nope(); }

  bmcInfo(): Promise<unknown> { return nope(); }
  bmcGuid(): Promise<unknown> { return nope(); }
  bmcVersion(): Promise<unknown> { return nope(); }
  bmcReset(_type: 'cold' | 'warm'): Promise<unknown> { return Promise.reject(new UndefinedOperation(this.name, 'reset')); }

  fruList(): Promise<unknown> { return nope(); }
  fru(_key: FruKey): Promise<unknown> { return nope(); }

  /** Sensors keyed by normalised name (lower case, spaces to `_`). */
  sensors(): Promise<Record<string, SensorReading>> { return nope(); }
}
