// One peer must not be able to take every connection slot of a listener: a per-peer limit
// (max_connections_per_peer), and near the cap the longest-idle connections are closed before a
// new one is refused. Peers are distinct loopback addresses (all of 127/8 is loopback on Linux):
// client sockets bind their localAddress.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { startTestProxy } from '../../src/core/testing.ts';
import { tempDir, removeDir, waitFor } from '../lib/procs.ts';
import { httpsSettings, makePki } from '../lib/certs.ts';

interface Held {
  socket: Socket;
  connected: boolean;
  closed: boolean;
}

/** An idle TCP connection from `localAddress`; it never sends a byte. */
function hold(port: number, localAddress: string): Held {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const h: Held = { socket, connected: false, closed: false };
  socket.on('connect', () => (h.connected = true));
  socket.on('close', () => (h.closed = true));
  socket.on('error', () => undefined);
  return h;
}

/** GET `path` over a new connection from `localAddress`. */
function getFrom(localAddress: string, port: number, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} from ${localAddress} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Open `n` idle connections from one peer and wait until each is connected or already closed. */
async function holdMany(port: number, localAddress: string, n: number): Promise<Held[]> {
  const held: Held[] = [];
  for (let i = 0; i < n; i++) held.push(hold(port, localAddress));
  await waitFor(`${n} connections from ${localAddress} to be set up`, () => held.every((h) => h.connected || h.closed), 60_000, 50);
  return held;
}

const open = (held: readonly Held[]): number => held.filter((h) => !h.closed).length;

/** Connections the proxy holds on one listening socket (its own count, not the clients'). */
const openOn = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

test('one peer holding 1 200 idle connections does not lock out another peer', async () => {
  const p = await startTestProxy();
  const port = p.proxy.listeners[0].addresses[0].port;
  const connections = (): Promise<number> => openOn(p.proxy.listeners[0].servers[0]);
  let held: Held[] = [];
  try {
    held = await holdMany(port, '127.0.0.1', 1200);
    // While the first peer holds (or tries to hold) its 1 200 connections, the second is served.
    for (let i = 0; i < 10; i++) {
      const r = await getFrom('127.0.0.2', port, '/features');
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), ['logs']);
    }
    // The proxy kept at most the first peer's share. Counted on the proxy's side: a flood of
    // connects can overflow the kernel's accept queue, and a client whose handshake the kernel
    // then dropped still believes it is connected, so client-side counts are not exact.
    await waitFor('the connections beyond the per-peer limit to be closed', async () => (await connections()) <= 64, 20_000);
    assert.ok(open(held) < 1200, 'the proxy closed connections of the first peer');
  } finally {
    for (const h of held) h.socket.destroy();
    await p.close();
  }
});

test('the 65th connection of one peer is closed at once; its 64 others stay open and usable', async () => {
  const p = await startTestProxy();
  const port = p.proxy.listeners[0].addresses[0].port;
  const connections = (): Promise<number> => openOn(p.proxy.listeners[0].servers[0]);
  let held: Held[] = [];
  try {
    held = await holdMany(port, '127.0.0.3', 64);
    await waitFor('the proxy to accept 64 connections', async () => (await connections()) === 64);
    assert.equal(open(held), 64);

    const extra = hold(port, '127.0.0.3');
    await waitFor('the 65th connection to be closed by the proxy', () => extra.closed, 10_000);
    assert.equal(open(held), 64, 'the 64 admitted connections stay open');

    // An admitted connection still gets answers, and another peer is not affected.
    const first = held[0].socket;
    first.write('GET /version HTTP/1.1\r\nHost: x\r\n\r\n');
    const [answer] = (await once(first, 'data')) as [Buffer];
    assert.match(answer.toString(), /^HTTP\/1\.1 200 /);
    assert.equal((await getFrom('127.0.0.4', port, '/features')).status, 200);

    // Closing connections gives their slots back, exactly once each.
    for (const h of held.slice(0, 10)) h.socket.destroy();
    await waitFor('the proxy to see 10 connections closed', async () => (await connections()) === 54);
    const again = await holdMany(port, '127.0.0.3', 11);
    await waitFor('the 11th new connection to be refused', () => open(again) === 10, 10_000);
    held.push(...again);
  } finally {
    for (const h of held) h.socket.destroy();
    await p.close();
  }
});

test('TLS connections that fail or never finish the handshake give their slot back', async () => {
  const dir = await tempDir('sp-conn');
  const pki = await makePki(dir);
  const p = await startTestProxy({ global: { ...httpsSettings(pki), http_port: 0, limits: { handshake_timeout: 1 } } });
  const https = p.proxy.listeners.find((l) => l.spec.scheme === 'https');
  assert.ok(https);
  const port = https.addresses[0].port;
  let held: Held[] = [];
  try {
    // 64 connections that speak plain HTTP to the TLS port, 64 that never send a ClientHello.
    const garbage = await holdMany(port, '127.0.0.5', 64);
    for (const h of garbage) if (!h.closed) h.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    held = await holdMany(port, '127.0.0.6', 64);
    await waitFor('the proxy to close the failed and timed-out handshakes', () => open(garbage) === 0 && open(held) === 0, 20_000);
    // Both peers have their full share again: 64 completed handshakes each.
    const ca = readFileSync(pki.caCert);
    const tlsFrom = (localAddress: string): TLSSocket => tlsConnect({ socket: connect({ port, host: '127.0.0.1', localAddress }), ca, servername: 'localhost' });
    for (const peer of ['127.0.0.5', '127.0.0.6']) {
      const sockets = await Promise.all(
        Array.from({ length: 64 }, async () => {
          const s = tlsFrom(peer);
          s.on('error', () => undefined);
          await once(s, 'secureConnect');
          return s;
        }),
      );
      // The 65th does not get as far as a handshake (the handshake timeout alone would not explain a
      // refusal: a client that sends its ClientHello at once is not subject to it).
      const extra = tlsFrom(peer);
      const outcome = await new Promise<string>((resolve) => {
        extra.once('secureConnect', () => resolve('handshake completed'));
        extra.once('error', () => resolve('refused'));
        extra.once('close', () => resolve('refused'));
      });
      extra.destroy();
      assert.equal(outcome, 'refused', `the 65th connection from ${peer}`);
      assert.equal(sockets.filter((s) => !s.destroyed).length, 64);
      for (const s of sockets) s.destroy();
    }
  } finally {
    for (const h of held) h.socket.destroy();
    await p.close();
    await removeDir(dir);
  }
});

test('near the cap, each new connection closes the longest-idle one, and a new peer is served', async () => {
  const p = await startTestProxy({ global: { limits: { max_connections: 20, max_connections_per_peer: 8, reserved_connections: 4 } } });
  const port = p.proxy.listeners[0].addresses[0].port;
  const server = p.proxy.listeners[0].servers[0];
  const accepted = (n: number): Promise<void> => waitFor(`the proxy to hold ${n} connections`, async () => (await openOn(server)) === n);
  let held: Held[] = [];
  try {
    // 16 idle connections (the cap less the reserve) from two peers, the first peer's oldest.
    const oldest = await holdMany(port, '127.0.0.7', 8);
    await accepted(8);
    const newer = await holdMany(port, '127.0.0.8', 8);
    await accepted(16);
    held = [...oldest, ...newer];
    // Three more idle connections from a third peer, then a request from a fourth: each arrival
    // closes the connection idle the longest.
    const third = await holdMany(port, '127.0.0.9', 3);
    held.push(...third);
    assert.equal((await getFrom('127.0.0.10', port, '/features')).status, 200);
    await waitFor('four idle connections to be closed', () => held.filter((h) => h.closed).length >= 4);
    assert.deepEqual(
      oldest.map((h) => h.closed),
      [true, true, true, true, false, false, false, false],
      'the four longest-idle connections were closed, in order',
    );
    assert.ok([...newer, ...third].every((h) => !h.closed), 'younger idle connections were left alone');
  } finally {
    for (const h of held) h.socket.destroy();
    await p.close();
  }
});
