// bmc.yml (spec README §8.2 bmc rows, plus our extensions documented in README.md).

import type { Settings, SettingsSpec } from '../../core/module.ts';

export const BMC_SETTINGS: SettingsSpec = {
  bmc_default_provider: { type: 'string' },
  redfish_verify_ssl: { type: 'boolean', default: true, checks: ['boolean'] },
  bmc_ssh_user: { type: 'string' },
  bmc_ssh_key: { type: 'string' },
  bmc_ssh_powerstatus: { type: 'string' },
  bmc_ssh_powercycle: { type: 'string' },
  bmc_ssh_poweroff: { type: 'string' },
  bmc_ssh_poweron: { type: 'string' },
  // Extensions.
  bmc_timeout: { type: 'integer', default: 20 },
  bmc_ipmi_cipher_suite: { type: 'integer' },
  bmc_freeipmi_workaround_flags: { type: 'string' },
  bmc_ssh_known_hosts: { type: 'string' },
  bmc_max_concurrent: { type: 'integer', default: 16 },
};

export interface BmcSettings {
  defaultProvider: string | undefined;
  redfishVerifySsl: boolean;
  sshUser: string;
  sshKey: string | undefined;
  sshCommands: { status: string; cycle: string; off: string; on: string };
  timeoutMs: number;
  cipherSuite: number | undefined;
  workaroundFlags: string | undefined;
  sshKnownHosts: string | undefined;
  maxConcurrent: number;
}

function optString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}

function optInt(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return Number(v);
  return undefined;
}

export function readBmcSettings(s: Settings): BmcSettings {
  const timeout = optInt(s.bmc_timeout) ?? 20;
  if (timeout < 1 || timeout > 55) throw new Error(`bmc_timeout must be between 1 and 55 seconds (Foreman gives up after 60), got ${timeout}`);
  const cipher = optInt(s.bmc_ipmi_cipher_suite);
  if (cipher !== undefined && cipher > 17) throw new Error(`bmc_ipmi_cipher_suite must be 0-17, got ${cipher}`);
  const flags = optString(s.bmc_freeipmi_workaround_flags);
  if (flags !== undefined && !/^[a-z0-9,_-]+$/i.test(flags)) {
    throw new Error(`bmc_freeipmi_workaround_flags must be a comma-separated list of FreeIPMI workaround names`);
  }
  return {
    defaultProvider: optString(s.bmc_default_provider),
    redfishVerifySsl: s.redfish_verify_ssl !== false,
    sshUser: optString(s.bmc_ssh_user) ?? 'root',
    sshKey: optString(s.bmc_ssh_key),
    sshCommands: {
      status: optString(s.bmc_ssh_powerstatus) ?? 'true',
      cycle: optString(s.bmc_ssh_powercycle) ?? 'shutdown -r +1',
      off: optString(s.bmc_ssh_poweroff) ?? 'shutdown +1',
      on: optString(s.bmc_ssh_poweron) ?? 'false',
    },
    timeoutMs: timeout * 1000,
    cipherSuite: cipher,
    workaroundFlags: flags,
    sshKnownHosts: optString(s.bmc_ssh_known_hosts),
    maxConcurrent: Math.max(1, optInt(s.bmc_max_concurrent) ?? 16),
  };
}
