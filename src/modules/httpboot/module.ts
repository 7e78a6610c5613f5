// The HTTP boot module (spec httpboot.md): serves the boot directory (normally the TFTP root) to
// UEFI HTTP Boot firmware and to iPXE/GRUB, under /httpboot and /EFI, without authorization.

import { defineModule, type EnabledValue, type Settings } from '../../core/module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';

/** Spec README §3.6: the ports Foreman should use, null where the module is not mounted. */
export function computeHttpbootSettings(settings: Settings, global: GlobalSettings, enabled: EnabledValue): Settings {
  const http = enabled === 'both' || enabled === 'http';
  const https = enabled === 'both' || enabled === 'https';
  return { ...settings, http_port: http ? global.httpPort : null, https_port: https ? global.httpsPort : null };
}

export default defineModule({
  name: 'httpboot',
  prefixes: ['/httpboot', '/EFI'],
  audience: 'client',
  authorize: false,
  settings: { root_dir: { default: '/var/lib/tftpboot', type: 'string' } },
  computeSettings: computeHttpbootSettings,
  exposedSettings: ['http_port', 'https_port'],
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app, ctx, prefix) => (await import('./api.ts')).httpbootRoutes(app, ctx, prefix),
});
