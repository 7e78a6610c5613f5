import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatServer, parseServerSpec } from './client.ts';
import { DnsError } from './errors.ts';

test('dns_server forms: host, host:port, [v6]:port, bare v6, nsupdate-style "host port"', () => {
  assert.deepEqual(parseServerSpec('localhost'), { host: 'localhost', port: 53 });
  assert.deepEqual(parseServerSpec('127.0.0.1:5300'), { host: '127.0.0.1', port: 5300 });
  assert.deepEqual(parseServerSpec('ns1.example.com:5353'), { host: 'ns1.example.com', port: 5353 });
  assert.deepEqual(parseServerSpec('[::1]:5300'), { host: '::1', port: 5300 });
  assert.deepEqual(parseServerSpec('[2001:db8::53]'), { host: '2001:db8::53', port: 53 });
  assert.deepEqual(parseServerSpec('2001:db8::53'), { host: '2001:db8::53', port: 53 });
  assert.deepEqual(parseServerSpec('127.0.0.1 5300'), { host: '127.0.0.1', port: 5300 });
  assert.deepEqual(parseServerSpec(' 10.0.0.1 '), { host: '10.0.0.1', port: 53 });
  for (const bad of ['', 'a:b', 'h:0', 'h:70000', 'x y z', 'a/b', '[::1]:x']) {
    assert.throws(() => parseServerSpec(bad), DnsError, bad);
  }
  assert.equal(formatServer({ host: '::1', port: 53 }), '[::1]:53');
  assert.equal(formatServer({ host: '127.0.0.1', port: 5300 }), '127.0.0.1:5300');
});

test('UDP replies that are malformed or answer another id are ignored (stand-in server sending junk)', async () => {
  const { createSocket } = await import('node:dgram');
  const { exchange } = await import('./client.ts');
  const { buildQuery } = await import('./update.ts');
  const { encodeMessage, decodeMessage } = await import('./message.ts');
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
