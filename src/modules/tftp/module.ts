// The TFTP module (spec tftp.md): manages PXE boot configs and boot files under the TFTP root,
// and optionally serves that root itself with the built-in TFTP server.

import { defineModule } from '../../core/module.ts';
import { tftpRoutes } from './api.ts';
import { TFTP_SETTINGS, readTftpSettings } from './settings.ts';
import { startBuiltinServer } from './builtin.ts';

export default defineModule({
  name: 'tftp',
  prefixes: ['/tftp'],
  audience: 'foreman',
  authorize: true,
  settings: TFTP_SETTINGS,
  exposedSettings: ['tftp_servername'],
  start: async (ctx) => {
    readTftpSettings(ctx.settings, ctx.global.settingsDir); // range errors fail the module here
    await startBuiltinServer(ctx);
  },
  routes: tftpRoutes,
});
