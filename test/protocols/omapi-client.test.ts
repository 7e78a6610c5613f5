// Deadline behaviour of the OMAPI client against stand-in TCP servers (a dhcpd cannot be made to
// hang on demand); the real protocol exchange is covered by test/dhcp/omapi.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { OmapiClient, OmapiError } from '../../src/lib/omapi/client.ts';
import { OmapiDecoder, Op, encodeMessage, encodeStartup, u32 } from '../../src/lib/omapi/protocol.ts';
import { ISC_R_NOTFOUND } from '../../src/lib/omapi/client.ts';

async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : 0, sockets };
}

async function close(h: { server: Server; sockets: Socket[] }): Promise<void> {
  for (const s of h.sockets) s.destroy();
  await new Promise((r) => h.server.close(r));
}

test('stand-in silent server: the request fails with a timeout, not a hang', async () => {
  const h = await listen(() => undefined);
  const c = new OmapiClient({ host: '127.0.0.1', port: h.port, requestTimeoutMs: 300, connectTimeoutMs: 300 });
  try {
    await assert.rejects(c.findHost({ name: 'x' }), (e: unknown) => e instanceof OmapiError && e.kind === 'timeout');
  } finally {
    c.close();
    await close(h);
  }
});

test('stand-in server that handshakes then never answers: timeout, and the next call reconnects', async () => {
  let connections = 0;
  const h = await listen((s) => {
    connections++;
    s.write(encodeStartup());
  });
  // No breaker open period: this test is about the reconnect (the breaker has its own tests below).
  const c = new OmapiClient({ host: '127.0.0.1', port: h.port, requestTimeoutMs: 300, breakerOpenMs: 0 });
  try {
    await assert.rejects(c.findHost({ name: 'x' }), (e: unknown) => e instanceof OmapiError && e.kind === 'timeout');
    await assert.rejects(c.findHost({ name: 'x' }), (e: unknown) => e instanceof OmapiError && e.kind === 'timeout');
    assert.equal(connections, 2);
  } finally {
    c.close();
    await close(h);
  }
});

test('stand-in server speaking garbage: protocol error', async () => {
  const h = await listen((s) => s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
  const c = new OmapiClient({ host: '127.0.0.1', port: h.port, requestTimeoutMs: 1000 });
  try {
    await assert.rejects(c.findHost({ name: 'x' }), (e: unknown) => e instanceof OmapiError && e.kind === 'protocol');
  } finally {
    c.close();
    await close(h);
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const isTimeout = (e: unknown): boolean => e instanceof OmapiError && e.kind === 'timeout';
const isBreakerRefusal = (e: unknown): boolean =>
  e instanceof OmapiError && e.kind === 'unavailable' && /is not answering/.test(e.message) && (e.retryAfterMs ?? 0) > 0;

test('stand-in hung dhcpd: after one timeout the next calls fail at once (breaker open), then a single trial probes again', async () => {
  let connections = 0;
  const h = await listen((s) => {
    connections++;
    s.write(encodeStartup());
  });
  const c = new OmapiClient({ host: '127.0.0.1', port: h.port, requestTimeoutMs: 300, breakerOpenMs: 1000 });
  try {
    await assert.rejects(c.findHost({ name: 'x' }), isTimeout);
    const openedAt = Date.now();
    // Nothing reaches the hung server while the breaker is open: no new connection, no waiting.
    await assert.rejects(c.findHost({ name: 'x' }), isBreakerRefusal);
    await assert.rejects(c.deleteHost({ mac: '52:54:00:00:00:01' }), isBreakerRefusal);
    await assert.rejects(c.createHost({ name: 'y', ip: '10.0.0.1', mac: '52:54:00:00:00:01' }), isBreakerRefusal);
    assert.equal(connections, 1);
    await sleep(Math.max(0, openedAt + 1000 - Date.now()) + 50);
    // Half-open: one trial goes to the server again; it times out, so the breaker opens again.
    await assert.rejects(c.findHost({ name: 'x' }), isTimeout);
    assert.equal(connections, 2);
    await assert.rejects(c.findHost({ name: 'x' }), isBreakerRefusal);
    assert.equal(connections, 2);
  } finally {
    c.close();
    await close(h);
  }
});

test('stand-in dhcpd that starts answering again: the trial closes the breaker', async () => {
  let answering = false;
  const h = await listen((s) => {
    s.write(encodeStartup());
    const decoder = new OmapiDecoder(true);
    s.on('data', (chunk: Buffer) => {
      if (!answering) return;
      // Every request is answered "not found", unsigned (the client has no key).
      for (const m of decoder.push(chunk)) {
        s.write(encodeMessage({ authid: 0, op: Op.status, handle: 0, id: m.id + 1, rid: m.id, message: [['result', u32(ISC_R_NOTFOUND)]], object: [], signature: Buffer.alloc(0) }));
      }
    });
  });
  const c = new OmapiClient({ host: '127.0.0.1', port: h.port, requestTimeoutMs: 300, breakerOpenMs: 500 });
  try {
    await assert.rejects(c.findHost({ name: 'x' }), isTimeout);
    await assert.rejects(c.findHost({ name: 'x' }), isBreakerRefusal);
    answering = true;
    await sleep(600);
    assert.equal(await c.findHost({ name: 'x' }), undefined);
    assert.equal(await c.findHost({ name: 'x' }), undefined);
    assert.equal(await c.deleteHost({ mac: '52:54:00:00:00:01' }), false);
  } finally {
    c.close();
    await close(h);
  }
});
