// 300 hostile connections (slowloris header trickles over HTTP and TLS, and TCP connections that
// never send a ClientHello) must not stop a normal mTLS client from being served, and the
// listener's timeouts must eventually close every one of them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir, sleep, waitFor } from '../lib/procs.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';

let dir: string;
let pki: Pki;
let proxy: ProxyProcess;
let client: { cert: string; key: string };

before(async () => {
  dir = await tempDir('sp-slow');
  pki = await makePki(dir);
  client = await pki.client('foreman.example.com');
  await writeSettingsDir(dir, {
    ...httpsSettings(pki),
    http_port: 0,
    trusted_hosts: ['foreman.example.com'],
    log_file: join(dir, 'proxy.log'),
    // Short limits so the test can watch them act; production defaults are longer.
    limits: { handshake_timeout: 3, header_timeout: 4, request_timeout: 8, keepalive_timeout: 2 },
  });
  proxy = await startProxyProcess(['--settings', dir]);
});

after(async () => {
  await proxy?.stop();
  await removeDir(dir);
});

interface Hostile {
  socket: Socket | TLSSocket;
  closed: boolean;
}

function track(socket: Socket | TLSSocket): Hostile {
  const h: Hostile = { socket, closed: false };
  socket.on('close', () => (h.closed = true));
  socket.on('error', () => (h.closed = true));
  return h;
}

test('300 slow connections do not stop a normal GET /features', async (t) => {
  const httpPort = portOf(proxy, 'http');
  const httpsPort = portOf(proxy, 'https');
  const hostile: Hostile[] = [];

  // The hostile connections come from five loopback addresses (all of 127/8 is loopback), 40 per
  // address and port, below max_connections_per_peer: this test is about the timeouts.
  const from = (port: number, i: number): Socket => connect({ port, host: '127.0.0.1', localAddress: `127.0.1.${1 + (i % 5)}` });
  // 100 HTTP slowloris: a request line, then one header byte every second.
  for (let i = 0; i < 100; i++) {
    const s = from(httpPort, i);
    s.on('connect', () => s.write('GET /features HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    hostile.push(track(s));
  }
  // 100 TCP connections to the TLS port that never send a ClientHello.
  for (let i = 0; i < 100; i++) hostile.push(track(from(httpsPort, i)));
  // 100 TLS slowloris: a completed handshake, then a header trickle.
  const ca = readFileSync(pki.caCert);
  for (let i = 0; i < 100; i++) {
    const s = tlsConnect({ socket: from(httpsPort, i), ca, servername: 'localhost' });
    s.on('secureConnect', () => s.write('GET /features HTTP/1.1\r\nHost: x\r\nX-Slow: '));
    hostile.push(track(s));
  }
  const trickle = setInterval(() => {
    for (const h of hostile) if (!h.closed && h.socket.writable && h.socket.readyState === 'open') h.socket.write('a');
  }, 1000);

  try {
    await sleep(1500);
    const openNow = hostile.filter((h) => !h.closed).length;
    assert.ok(openNow >= 250, `expected the hostile connections to be open, ${openNow} are`);

    // A well-behaved Foreman keeps being served while they are open.
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint();
      const r = await fetchUrl(`https://127.0.0.1:${httpsPort}/v2/features`, { tls: { ca: pki.caCert, ...client }, timeoutMs: 5000 });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).logs.state, 'running');
      t.diagnostic(`GET /v2/features with ${hostile.filter((h) => !h.closed).length} hostile connections open: ${ms.toFixed(1)} ms`);
      const f = await fetchUrl(`http://127.0.0.1:${httpPort}/features`, { timeoutMs: 5000 });
      assert.equal(f.status, 200);
    }

    // The listener's own timeouts close every hostile connection.
    await waitFor('hostile connections to be closed by the proxy', () => hostile.every((h) => h.closed), 30_000, 250);
  } finally {
    clearInterval(trickle);
    for (const h of hostile) h.socket.destroy();
  }

  const after = await fetchUrl(`https://127.0.0.1:${httpsPort}/features`, { tls: { ca: pki.caCert, ...client } });
  assert.equal(after.status, 200);
});
