// The TFTP module (spec tftp.md): manages PXE boot configs and boot files under the TFTP root,
// and optionally serves that root itself with the built-in TFTP server.

import { defineModule } from '../../core/module.ts';
import { TFTP_SETTINGS, readTftpSettings } from './settings.ts';

export default defineModule({
  name: 'tftp',
  prefixes: ['/tftp'],
  audience: 'foreman',
  authorize: true,
  settings: TFTP_SETTINGS,
  exposedSettings: ['tftp_servername'],
  start: async (ctx) => {
    readTftpSettings(ctx.settings, ctx.global.settingsDir); // range errors fail the module here
    await (await import('./builtin.ts')).startBuiltinServer(ctx);
  },
  // Loaded on first mount so a disabled module costs no start-up time or memory.
  routes: async (app, ctx) => (await import('./api.ts')).tftpRoutes(app, ctx),
});
