// The metrics module in a real proxy (in-process core, real sockets): a known mix of requests to
// logs, tftp, templates (relaying to a stand-in Foreman, which cannot run here) and unknown paths,
// a saturated templates bulkhead, and a file fetched over TFTP from the built-in server by curl
// (a real TFTP client); then /metrics scraped over HTTP shows exactly those counts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { startGatedForeman, type GatedForeman } from '../lib/standin-foreman.ts';
import { tempDir, removeDir, freeUdpTcpPort, execFileP, requireCommand } from '../lib/procs.ts';

let dir: string;
let proxy: TestProxy;
let gated: GatedForeman;
let tftpPort: number;
const BOOT_FILE = Buffer.alloc(3000, 'x'); // six 512-byte blocks (the last one partial)

/** Samples of one metric family from the exposition text: label set → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

async function scrape(): Promise<string> {
  const res = await proxy.request('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return res.body;
}

before(async () => {
  requireCommand('curl');
  dir = await tempDir('metrics-scrape');
  await mkdir(join(dir, 'tftproot', 'boot'), { recursive: true });
  await writeFile(join(dir, 'tftproot', 'boot', 'vmlinuz'), BOOT_FILE);
  tftpPort = await freeUdpTcpPort();
  gated = await startGatedForeman({ status: 200, body: '#!ipxe\n' });
  proxy = await startTestProxy({
    global: { foreman_url: gated.foreman.origin },
    files: {
      metrics: { ':enabled': true },
      tftp: {
        ':enabled': true,
        ':tftproot': join(dir, 'tftproot'),
        ':builtin_server': true,
        ':builtin_server_bind': '127.0.0.1',
        ':builtin_server_port': tftpPort,
      },
      // One Foreman slot and no queue: a second concurrent relay is refused by the bulkhead.
      templates: { ':enabled': true, ':template_url': 'http://proxy.example.com:8000', ':upstream_concurrency': 1, ':upstream_queue': 0 },
    },
  });
});

after(async () => {
  gated?.release();
  await proxy?.close();
  await gated?.foreman.close();
  await removeDir(dir);
});

test('after a known request mix, /metrics shows the exact counts per module, route pattern, method and status', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await proxy.request('GET', '/features')).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await proxy.request('GET', '/logs')).status, 200);
  assert.equal((await proxy.request('GET', '/logs/?from_timestamp=0')).status, 200);
  assert.equal((await proxy.request('POST', '/tftp/PXELinux/52:54:00:aa:bb:01', { body: { pxeconfig: 'DEFAULT local' } })).status, 200);
  assert.equal((await proxy.request('POST', '/tftp/PXELinux/52:54:00:aa:bb:02', { body: { pxeconfig: 'DEFAULT local' } })).status, 200);
  // The reference answers an invalid MAC with 403.
  assert.equal((await proxy.request('POST', '/tftp/PXELinux/not-a-mac', { body: { pxeconfig: 'x' } })).status, 403);
  assert.equal((await proxy.request('GET', '/no/such/thing')).status, 404);
  assert.equal((await proxy.request('GET', '/another/unknown/path?x=1')).status, 404);

  // Saturate the templates bulkhead: the first relay holds the only Foreman slot.
  const held = proxy.request('GET', '/unattended/provision?token=first');
  await gated.received(1);
  const refused = await proxy.request('GET', '/unattended/provision?token=second');
  assert.equal(refused.status, 503);
  const during = await scrape();
  assert.equal(samples(during, 'smart_proxy_bulkhead_in_flight').get('{bulkhead="templates"}'), 1);
  assert.equal(samples(during, 'smart_proxy_bulkhead_queued').get('{bulkhead="templates"}'), 0);
  gated.release();
  assert.equal((await held).status, 200);

  const text = await scrape();
  const requests = samples(text, 'smart_proxy_http_requests_total');
  assert.deepEqual(
    Object.fromEntries([...requests].sort(([a], [b]) => a.localeCompare(b))),
    Object.fromEntries(
      [
        ['{module="core",route="/features",method="GET",status="200"}', 3],
        ['{module="logs",route="/logs",method="GET",status="200"}', 3],
        ['{module="tftp",route="/tftp/:variant/:mac",method="POST",status="200"}', 2],
        ['{module="tftp",route="/tftp/:variant/:mac",method="POST",status="403"}', 1],
        ['{module="none",route="unmatched",method="GET",status="404"}', 2],
        ['{module="templates",route="/unattended/:kind",method="GET",status="200"}', 1],
        ['{module="templates",route="/unattended/:kind",method="GET",status="503"}', 1],
        // The scrape taken while the bulkhead was full; this one is recorded once it is answered.
        ['{module="metrics",route="/metrics",method="GET",status="200"}', 1],
      ].sort(([a], [b]) => String(a).localeCompare(String(b))),
    ),
  );
  const durations = samples(text, 'smart_proxy_http_request_duration_seconds_count');
  assert.equal(durations.get('{module="tftp",route="/tftp/:variant/:mac",method="POST"}'), 3);
  assert.equal(durations.get('{module="templates",route="/unattended/:kind",method="GET"}'), 2);
  assert.equal(samples(text, 'smart_proxy_bulkhead_rejected_total').get('{bulkhead="templates",reason="queue_full"}'), 1);
  assert.equal(samples(text, 'smart_proxy_bulkhead_in_flight').get('{bulkhead="templates"}'), 0);
  // Process metrics come from the proxy's own registry.
  assert.ok((samples(text, 'smart_proxy_process_resident_memory_bytes').get('') ?? 0) > 0);
});

test('a file fetched from the built-in TFTP server by curl is counted with its bytes', async () => {
  const out = join(dir, 'fetched');
  await execFileP('curl', ['--silent', '--show-error', '--max-time', '20', '--output', out, `tftp://127.0.0.1:${tftpPort}/boot/vmlinuz`]);
  // A missing file is refused before any transfer starts: not a transfer.
  await assert.rejects(execFileP('curl', ['--silent', '--max-time', '20', '--output', join(dir, 'none'), `tftp://127.0.0.1:${tftpPort}/boot/missing`]));
  // The server counts a transfer when the client acknowledged the last block; curl may exit first.
  let text = '';
  for (let i = 0; i < 100; i++) {
    text = await scrape();
    if (samples(text, 'smart_proxy_tftp_transfers_total').size > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(Object.fromEntries(samples(text, 'smart_proxy_tftp_transfers_total')), { '{result="completed"}': 1 });
  assert.equal(samples(text, 'smart_proxy_tftp_sent_bytes_total').get(''), BOOT_FILE.length);
  assert.equal(samples(text, 'smart_proxy_tftp_transfers_active').get(''), 0);
});
