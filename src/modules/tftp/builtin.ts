// The opt-in built-in TFTP server: serves the TFTP root read-only from inside the proxy, so a
// host without tftpd-hpa (containers, BSD, Windows, small sites) is still a complete PXE target.

import type { Logger } from '../../core/logging-types.ts';
import type { ProxyMetrics } from '../../core/metrics.ts';
import { TftpServer, type TftpLog } from '../../lib/tftp/server.ts';
import type { TftpSettings } from './module.ts';

/** Bytes of unacknowledged window one transfer may hold for retransmission. */
const MAX_WINDOW_BYTES = 1024 * 1024;

/**
 * The end of a transfer as the server logs it: `sent <what>`, `transfer of <what> ended by the
 * client: …`, `transfer of <what> failed: …`, where <what> ends with `to <peer> (<n> bytes,
 * blksize …, windowsize …, … retransmits, … ms)`. The last such group is the server's own (a
 * client-chosen file name comes first and cannot end the line).
 */
const TRANSFER_SUMMARY = / to \S+ \((\d+) bytes, blksize \d+, windowsize \d+, \d+ retransmits, \d+ ms\)/g;

function sentBytes(message: string): number {
  let bytes = 0;
  for (const m of message.matchAll(TRANSFER_SUMMARY)) bytes = Number(m[1]);
  return bytes;
}

/**
 * The server's log, counting ended transfers on the way (smart_proxy_tftp_transfers_total,
 * smart_proxy_tftp_sent_bytes_total). The server reports a transfer's end only through its log
 * lines; TftpServer has no event for it.
 */
export function countingLog(log: TftpLog, metrics: ProxyMetrics): TftpLog {
  const ended = (result: 'completed' | 'failed' | 'client_ended', message: string): void => {
    metrics.tftpTransfers.inc({ result });
    const bytes = sentBytes(message);
    if (bytes > 0) metrics.tftpSentBytes.inc(bytes);
  };
  return {
    debug: (message) => log.debug(message),
    info(message) {
      if (message.startsWith('sent ')) ended('completed', message);
      else if (message.startsWith('transfer of ') && message.includes(' ended by the client: ')) ended('client_ended', message);
      log.info(message);
    },
    warn(message) {
      // `failed to start` (the file could not be read or the transfer socket bound) counts too.
      if (message.startsWith('transfer of ') && / failed( to start)?: /.test(message)) ended('failed', message);
      log.warn(message);
    },
  };
}

/** Bind the server on the configured address; a failure names the address and the reason. */
export async function startBuiltinServer(s: TftpSettings, root: string, log: Logger, metrics: ProxyMetrics): Promise<TftpServer> {
  const serverLog = countingLog(log.child('builtin TFTP server'), metrics);
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
