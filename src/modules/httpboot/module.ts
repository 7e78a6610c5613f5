// The HTTP boot module (spec httpboot.md): serves the boot directory (normally the TFTP root) to
// UEFI HTTP Boot firmware and to iPXE/GRUB, under /httpboot and /EFI, without authorization.

import { defineModule, type EnabledValue, type Settings } from '../../core/module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import * as setting from '../../core/settings/schema.ts';

export const HTTPBOOT_SETTINGS = setting.settings({
  root_dir: setting.string({
    default: '/var/lib/tftpboot',
    description: 'Directory served, normally the TFTP root. A relative path is resolved against the directory of settings.yml.',
  }),
});

/** Spec README §3.6: the ports Foreman should use, null where the module is not mounted. */
export function computeHttpbootSettings(settings: Settings, global: GlobalSettings, enabled: EnabledValue): Settings {
  const http = enabled === 'both' || enabled === 'http';
  const https = enabled === 'both' || enabled === 'https';
  return { ...settings, http_port: http ? global.httpPort : null, https_port: https ? global.httpsPort : null };
}

export default defineModule({
  name: 'httpboot',
  summary:
    'HTTP boot (/httpboot and /EFI): serves the boot directory to UEFI HTTP Boot firmware and to iPXE/GRUB over HTTP(S), without authorization. Foreman reads the ports from /v2/features.',
  prefixes: ['/httpboot', '/EFI'],
  audience: 'client',
  apiDocs: async () => (await import('./openapi.ts')).default,
  authorize: false,
  settings: HTTPBOOT_SETTINGS,
  computeSettings: computeHttpbootSettings,
  exposedSettings: ['http_port', 'https_port'],
  // Code is loaded when the module is created, so a disabled module costs no start-up time or memory.
  create: async (ctx) => (await import('./api.ts')).httpbootModule(ctx.settings.root_dir, ctx.global.settingsDir),
});
