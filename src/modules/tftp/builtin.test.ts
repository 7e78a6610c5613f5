// The built-in server's transfer counting: started transfers, ended ones by outcome with their
// bytes, as the server reports them to its observer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics } from '../../core/metrics.ts';
import { transferMetrics } from './builtin.ts';

test('transferMetrics counts started transfers, ended ones by outcome, and the bytes sent', async () => {
  const metrics = new ProxyMetrics();
  const observer = transferMetrics(metrics);
  for (let i = 0; i < 4; i++) observer.started();
  observer.ended('completed', 3000);
  observer.ended('client_ended', 1024);
  observer.ended('failed', 8192);
  observer.ended('failed', 0);
  const text = await metrics.registry.metrics();
  assert.match(text, /^smart_proxy_tftp_transfers_started_total 4$/m);
  assert.match(text, /^smart_proxy_tftp_transfers_total\{result="completed"\} 1$/m);
  assert.match(text, /^smart_proxy_tftp_transfers_total\{result="client_ended"\} 1$/m);
  assert.match(text, /^smart_proxy_tftp_transfers_total\{result="failed"\} 2$/m);
  assert.match(text, new RegExp(`^smart_proxy_tftp_sent_bytes_total ${3000 + 1024 + 8192}$`, 'm'));
});
