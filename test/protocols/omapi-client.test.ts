// Deadline behaviour of the OMAPI client against stand-in TCP servers (a dhcpd cannot be made to
// hang on demand); the real protocol exchange is covered by test/dhcp/omapi.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { OmapiClient, OmapiError } from '../../src/lib/omapi/client.ts';
import { encodeStartup } from '../../src/lib/omapi/protocol.ts';

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
  const c = new OmapiClient({ host: '127.0.0.1', port: h.port, requestTimeoutMs: 300 });
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
