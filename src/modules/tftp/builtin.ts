// The opt-in built-in TFTP server: serves the TFTP root read-only from inside the proxy, so a
// host without tftpd-hpa (containers, BSD, Windows, small sites) is still a complete PXE target.

import type { Logger } from '../../core/logging-types.ts';
import type { ProxyMetrics } from '../../core/metrics.ts';
import { TftpServer, type TransferObserver } from '../../lib/tftp/server.ts';
import type { TftpSettings } from './module.ts';

/** Bytes of unacknowledged window one transfer may hold for retransmission. */
const MAX_WINDOW_BYTES = 1024 * 1024;

/** Counts the built-in server's transfers into the proxy's metrics. */
export function transferMetrics(metrics: ProxyMetrics): TransferObserver {
  return {
    started: () => metrics.tftpTransfersStarted.inc(),
    ended(outcome, bytes) {
      metrics.tftpTransfers.inc({ result: outcome });
      if (bytes > 0) metrics.tftpSentBytes.inc(bytes);
    },
  };
}

/** Bind the server on the configured address; a failure names the address and the reason. */
export async function startBuiltinServer(s: TftpSettings, root: string, log: Logger, metrics: ProxyMetrics): Promise<TftpServer> {
  const serverLog = log.child('builtin TFTP server');
  const server = new TftpServer({
    root,
    host: s.builtin_server_bind,
    port: s.builtin_server_port,
    maxTransfers: s.builtin_server_max_transfers,
    maxRetries: s.builtin_server_retries,
    maxBlksize: s.builtin_server_max_blksize,
    maxWindowsize: s.builtin_server_max_windowsize,
    maxWindowBytes: MAX_WINDOW_BYTES,
    defaultTimeoutMs: s.builtin_server_timeout * 1000,
    log: serverLog,
    observer: transferMetrics(metrics),
  });
  let bound;
  try {
    bound = await server.listen();
  } catch (err) {
    await server.close();
    throw new Error(`built-in TFTP server cannot listen on ${s.builtin_server_bind}:${s.builtin_server_port}: ${(err as Error).message}`);
  }
  serverLog.info(`serving ${root} on ${bound.address}:${bound.port} (read-only)`);
  return server;
}
