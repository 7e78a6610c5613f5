// The built-in server's transfer counting: ended transfers by result and their bytes, read from
// the server's transfer-end reports; other lines are passed on untouched and not counted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics } from '../../core/metrics.ts';
import { countingLog } from './builtin.ts';

test('countingLog counts ended transfers by result with their bytes, and passes every line on', async () => {
  const metrics = new ProxyMetrics();
  const lines: string[] = [];
  const log = countingLog({ debug: (m) => lines.push(`D ${m}`), info: (m) => lines.push(`I ${m}`), warn: (m) => lines.push(`W ${m}`) }, metrics);
  log.info('sent boot/vmlinuz to 192.0.2.7:3456 (3000 bytes, blksize 512, windowsize 1, 0 retransmits, 12 ms)');
  // A client-chosen file name that looks like a summary does not change the byte count.
  log.info('sent x to 1.2.3.4:1 (999999 bytes, blksize 512, windowsize 1, 0 retransmits, 1 ms) to 192.0.2.7:3457 (512 bytes, blksize 512, windowsize 1, 0 retransmits, 3 ms)');
  log.info('transfer of grub2/grubx64.efi to 192.0.2.8:1000 (1024 bytes, blksize 1024, windowsize 4, 1 retransmits, 40 ms) ended by the client: TFTP error 0');
  log.warn('transfer of boot/initrd to 192.0.2.9:2000 (8192 bytes, blksize 512, windowsize 1, 5 retransmits, 6000 ms) failed: no acknowledgement after 5 retransmits');
  log.warn('transfer of boot/x to 192.0.2.9 failed to start: EMFILE');
  log.warn('refused "../etc/passwd" to 192.0.2.9: outside the root');
  log.info('serving /srv/tftp on 0.0.0.0:69 (read-only)');
  log.debug('something');
  const text = await metrics.registry.metrics();
  assert.match(text, /^smart_proxy_tftp_transfers_total\{result="completed"\} 2$/m);
  assert.match(text, /^smart_proxy_tftp_transfers_total\{result="client_ended"\} 1$/m);
  assert.match(text, /^smart_proxy_tftp_transfers_total\{result="failed"\} 2$/m);
  assert.match(text, new RegExp(`^smart_proxy_tftp_sent_bytes_total ${3000 + 512 + 1024 + 8192}$`, 'm'));
  assert.equal(lines.length, 8);
  assert.equal(lines[5], 'W refused "../etc/passwd" to 192.0.2.9: outside the root');
});
