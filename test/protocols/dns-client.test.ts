// The DNS client over a real UDP socket, against a stand-in server that sends junk first.

import { test } from 'node:test';
import assert from 'node:assert/strict';

test('UDP replies that are malformed or answer another id are ignored (stand-in server sending junk)', async () => {
  const { createSocket } = await import('node:dgram');
  const { exchange } = await import('../../src/lib/dns/client.ts');
  const { buildQuery } = await import('../../src/lib/dns/update.ts');
  const { encodeMessage, decodeMessage } = await import('../../src/lib/dns/message.ts');
  const srv = createSocket('udp4');
  await new Promise<void>((r) => srv.bind(0, '127.0.0.1', r));
  let mode: 'junk' | 'good' = 'junk';
  srv.on('message', (msg, rinfo) => {
    const q = decodeMessage(msg);
    const send = (b: Uint8Array): void => void srv.send(b, rinfo.port, rinfo.address);
    // junk with the right id, then a well-formed reply to another id
    send(Uint8Array.of(msg[0], msg[1], 0x80, 0, 0, 5, 0, 0, 0, 0, 0, 0));
    const other = { ...q, id: (q.id + 1) & 0xffff, qr: true };
    send(encodeMessage(other));
    if (mode === 'good') send(encodeMessage({ ...q, qr: true, aa: true }));
  });
  try {
    const server = { host: '127.0.0.1', port: srv.address().port };
    await assert.rejects(
      exchange(buildQuery(4711, 'x.example.test', 1), { server, tryTimeoutsMs: [150, 150] }),
      /no reply from DNS server 127\.0\.0\.1:\d+ after 2 tries; the only replies were malformed/,
    );
    mode = 'good';
    const r = await exchange(buildQuery(4712, 'x.example.test', 1), { server, tryTimeoutsMs: [2000] });
    assert.equal(r.response.id, 4712);
    assert.equal(r.response.aa, true);
  } finally {
    srv.close();
  }
});
