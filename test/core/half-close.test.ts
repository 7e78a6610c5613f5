// A client that sends its request with `Connection: close` and then shuts down its write side (as
// socat and many scripts do) must still get the whole answer, also from a route that awaits I/O
// before answering; afterwards the proxy closes the connection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { startTestProxy } from '../../src/core/testing.ts';
import { tempDir, removeDir } from '../lib/procs.ts';
import { httpsSettings, makePki } from '../lib/certs.ts';

/** Send `request`, half-close, and read until the proxy closes its side. */
async function halfClosedExchange(port: number, request: string, open: () => Socket = () => connect(port, '127.0.0.1')): Promise<string> {
  const socket = open();
  await once(socket, 'encrypted' in socket ? 'secureConnect' : 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (b: Buffer) => chunks.push(b));
  socket.end(request);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

function parse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  assert.ok(split > 0, `no complete response head in ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: raw.slice(split + 4) };
}

test('a half-closed client gets the complete answer of an asynchronous route', async () => {
  const p = await startTestProxy({ files: { facts: ':enabled: true\n' } });
  try {
    const port = p.proxy.listeners[0].addresses[0].port;
    // /facts reads dozens of files before answering: the client's FIN arrives while it runs.
    for (const path of ['/facts', '/facts/os', '/v2/features']) {
      const raw = await halfClosedExchange(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
      const r = parse(raw);
      assert.equal(r.status, 200, `${path}: ${raw.slice(0, 300)}`);
      assert.equal(r.headers.connection, 'close');
      assert.equal(Buffer.byteLength(r.body, 'latin1'), Number(r.headers['content-length']), `${path}: truncated body`);
      assert.equal(typeof JSON.parse(r.body), 'object');
    }
  } finally {
    await p.close();
  }
});

test('a half-closed client without Connection: close is answered too, then the connection is closed', async () => {
  const p = await startTestProxy({ files: { facts: ':enabled: true\n' } });
  try {
    const port = p.proxy.listeners[0].addresses[0].port;
    const r = parse(await halfClosedExchange(port, 'GET /facts HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    assert.equal(r.status, 200);
    assert.ok(JSON.parse(r.body).os, 'facts body');
  } finally {
    await p.close();
  }
});

test('over HTTPS, a half-closed client gets the complete answer too', async () => {
  const dir = await tempDir('sp-halfclose');
  try {
    const pki = await makePki(dir);
    const client = await pki.client('foreman.example.com');
    const p = await startTestProxy({ global: { ...httpsSettings(pki), http_port: 0 }, files: { facts: ':enabled: true\n' } });
    try {
      const https = p.proxy.listeners.find((l) => l.spec.scheme === 'https');
      assert.ok(https);
      const port = https.addresses[0].port;
      const [ca, cert, key] = await Promise.all([readFile(pki.caCert), readFile(client.cert), readFile(client.key)]);
      const open = (): Socket => tlsConnect({ host: '127.0.0.1', port, ca, cert, key, servername: 'localhost' });
      const r = parse(await halfClosedExchange(port, 'GET /facts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', open));
      assert.equal(r.status, 200);
      assert.ok(JSON.parse(r.body).os, 'facts body');
    } finally {
      await p.close();
    }
  } finally {
    await removeDir(dir);
  }
});
