// The opt-in built-in TFTP server: serves the TFTP root read-only from inside the proxy, so a
// host without tftpd-hpa (containers, BSD, Windows, small sites) is still a complete PXE target.

import type { ModuleContext } from '../../core/module.ts';
import { TftpServer } from '../../lib/tftp/server.ts';
import { readTftpSettings } from './settings.ts';
import { TftpRoot } from './files.ts';

/** Bytes of unacknowledged window one transfer may hold for retransmission. */
const MAX_WINDOW_BYTES = 1024 * 1024;

export async function startBuiltinServer(ctx: ModuleContext): Promise<void> {
  const s = readTftpSettings(ctx.settings, ctx.global.settingsDir);
  if (!s.builtin.enabled) return;
  const root = new TftpRoot(s.tftproot, ctx.global.settingsDir);
  const log = ctx.log.child('builtin TFTP server');
  const server = new TftpServer({
    root: root.path,
    host: s.builtin.bind,
    port: s.builtin.port,
    maxTransfers: s.builtin.maxTransfers,
    maxRetries: s.builtin.retries,
    maxBlksize: s.builtin.maxBlksize,
    maxWindowsize: s.builtin.maxWindowsize,
    maxWindowBytes: MAX_WINDOW_BYTES,
    defaultTimeoutMs: s.builtin.timeoutMs,
    log,
  });
  let bound;
  try {
    bound = await server.listen();
  } catch (err) {
    throw new Error(`built-in TFTP server cannot listen on ${s.builtin.bind}:${s.builtin.port}: ${(err as Error).message}`);
  }
  log.info(`serving ${root.path} on ${bound.address}:${bound.port} (read-only)`);
  ctx.signal.addEventListener('abort', () => void server.close(), { once: true });
}
