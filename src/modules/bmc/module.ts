// The BMC module (spec bmc.md): power, boot device, identify, LAN, FRU, sensors. Backends are
// chosen per request (bmc_provider), so they are internal classes, not core providers.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { Static } from '../../core/settings/schema.ts';
import { BMC_ERRORS } from './errors.ts';

export const BMC_SETTINGS = setting.settings({
  bmc_default_provider: setting.string({
    description:
      'Backend when a request names none (`bmc_provider` parameter or JSON body field): freeipmi, ipmitool, redfish, ssh or shell. ' +
      'An unknown or uninstalled IPMI name falls back to the first installed of freeipmi, ipmitool.',
    example: 'freeipmi',
  }),
  redfish_verify_ssl: setting.boolean({
    default: true,
    description: 'Verify Redfish BMC certificates and host names against the system CA store.',
  }),
  bmc_ssh_user: setting.string({ default: 'root', description: 'User the ssh backend logs in as on the host.' }),
  bmc_ssh_key: setting.file({
    description: "Private key of the ssh backend. A missing file is logged and ssh's default keys are tried.",
    example: '/usr/share/foreman-proxy/.ssh/id_rsa',
  }),
  bmc_ssh_powerstatus: setting.string({
    default: 'true',
    description: 'Remote command of the ssh backend for the power status: exit status 0 means "on", anything else "off".',
  }),
  bmc_ssh_powercycle: setting.string({ default: 'shutdown -r +1', description: 'Remote command of the ssh backend for a power cycle.' }),
  bmc_ssh_poweroff: setting.string({ default: 'shutdown +1', description: 'Remote command of the ssh backend for power off and soft off.' }),
  bmc_ssh_poweron: setting.string({
    default: 'false',
    description: 'Remote command of the ssh backend for power on (a host that is off cannot run one, so the default fails).',
  }),
  bmc_ssh_known_hosts: setting.file({
    extension: true,
    description: "known_hosts file of the ssh backend; when set, ssh checks host keys strictly. Unset: ssh's defaults.",
    example: '/usr/share/foreman-proxy/.ssh/known_hosts',
  }),
  bmc_timeout: setting.integer({
    extension: true,
    default: 20,
    minimum: 1,
    maximum: 55,
    unit: 'seconds',
    description: 'How long one BMC request may take: all its tool runs and Redfish calls together (Foreman gives up after 60 seconds).',
  }),
  bmc_ipmi_cipher_suite: setting.integer({
    extension: true,
    minimum: 0,
    maximum: 17,
    description: "RMCP+ cipher suite for IPMI 2.0 (`lan20`): ipmitool `-C`, FreeIPMI `cipher-suite-id`. Unset: the tool's default.",
    example: 3,
  }),
  bmc_freeipmi_workaround_flags: setting.string({
    extension: true,
    pattern: '^[A-Za-z0-9,_-]+$',
    description: 'FreeIPMI `workaround-flags` for quirky BMCs: comma-separated names (letters, digits, `_` and `-`).',
    example: 'opensesspriv',
  }),
  bmc_max_concurrent: setting.integer({
    extension: true,
    default: 16,
    minimum: 1,
    description: 'BMC operations at once; four times as many may wait (up to bmc_timeout), beyond that the answer is 503 with Retry-After.',
  }),
});

export type BmcSettings = Static<typeof BMC_SETTINGS>;

export default defineModule({
  name: 'bmc',
  summary: 'BMC power and boot control (/bmc). Foreman sends the BMC credentials with each request.',
  prefixes: ['/bmc'],
  audience: 'foreman',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: true,
  settings: BMC_SETTINGS,
  exposedSettings: [],
  // The installed IPMI tools come from the instance's capabilities().
  capabilities: ['redfish', 'shell', 'ssh'],
  errors: BMC_ERRORS,
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async (ctx) => (await import('./api.ts')).bmcModule(ctx),
});
