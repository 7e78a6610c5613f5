// The proxy's outbound HTTP client against real loopback servers: pooling, retries of safe
// requests on stale sockets, deadlines, refusals, aborts, size limits and TLS.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { createHttpClient, HttpClientError } from '../../src/lib/http/client.ts';
import { tempDir, removeDir, freeTcpPort } from '../lib/procs.ts';
import { makePki, type Pki } from '../lib/certs.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function withServer(handler: Handler, fn: (base: string, server: Server) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  const base = await listen(server);
  try {
    await fn(base, server);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

let dir: string;
let pki: Pki;
let proxyCert: { cert: string; key: string };
let otherCa: { cert: string; key: string };
before(async () => {
  dir = await tempDir('httpc');
  pki = await makePki(dir);
  proxyCert = await pki.client('proxy.test');
  otherCa = await pki.otherCa();
});
after(async () => {
  await removeDir(dir);
});

test('requests reuse pooled keep-alive connections', async () => {
  let connections = 0;
  await withServer(
    (req, res) => res.end(`hello ${req.url}`),
    async (base, server) => {
      server.on('connection', () => connections++);
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 1 });
      try {
        for (let i = 0; i < 20; i++) {
          const res = await client.request({ method: 'GET', path: `/n/${i}` });
          assert.equal(await res.text(), `hello /n/${i}`);
        }
        assert.equal(connections, 1);
      } finally {
        await client.close();
      }
    },
  );
});

test('concurrent requests never open more sockets than the pool allows', async () => {
  let connections = 0;
  const waiting: ServerResponse[] = [];
  await withServer(
    (_req, res) => {
      waiting.push(res);
      // answer in batches once the pool is saturated, so requests really overlap
      if (waiting.length === 3) for (const r of waiting.splice(0)) r.end('ok');
    },
    async (base, server) => {
      server.on('connection', () => connections++);
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 3 });
      try {
        const all = await Promise.all(
          Array.from({ length: 12 }, () => client.request({ method: 'GET', path: '/' }).then((r) => r.text())),
        );
        assert.deepEqual(all, Array(12).fill('ok'));
        assert.equal(connections, 3);
      } finally {
        await client.close();
      }
    },
  );
});

test('relative paths keep the base path, absolute paths replace it', async () => {
  const seen: string[] = [];
  await withServer(
    (req, res) => {
      seen.push(req.url ?? '');
      res.end();
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: `${base}/foreman/`, verify: false, timeoutMs: 5000, connections: 1 });
      try {
        await (await client.request({ method: 'GET', path: 'unattended/provision?a=1' })).dump();
        await (await client.request({ method: 'GET', path: '/register?b=2' })).dump();
        assert.deepEqual(seen, ['/foreman/unattended/provision?a=1', '/register?b=2']);
      } finally {
        await client.close();
      }
    },
  );
});

test('POST sends the body and headers unchanged', async () => {
  let got: { method?: string; body: string; type?: string; custom?: string } = { body: '' };
  await withServer(
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got = { method: req.method, body: Buffer.concat(chunks).toString(), type: req.headers['content-type'], custom: req.headers['x-custom'] as string };
        res.statusCode = 201;
        res.end('created');
      });
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 1 });
      try {
        const res = await client.request({
          method: 'POST',
          path: '/x',
          body: 'line1\nline2',
          headers: { 'content-type': 'text/plain', 'x-custom': 'v' },
        });
        assert.equal(res.status, 201);
        assert.equal(await res.text(), 'created');
        assert.deepEqual(got, { method: 'POST', body: 'line1\nline2', type: 'text/plain', custom: 'v' });
      } finally {
        await client.close();
      }
    },
  );
});

test('a GET on a pooled socket the server dropped is retried once on a fresh socket', async () => {
  let n = 0;
  let connections = 0;
  await withServer(
    (req, res) => {
      n++;
      // the second request arrives on the kept-alive socket; drop it without answering
      if (n === 2) req.socket.destroy();
      else res.end(`answer ${n}`);
    },
    async (base, server) => {
      server.on('connection', () => connections++);
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 1 });
      try {
        assert.equal(await (await client.request({ method: 'GET', path: '/' })).text(), 'answer 1');
        assert.equal(await (await client.request({ method: 'GET', path: '/' })).text(), 'answer 3');
        assert.equal(connections, 2);
      } finally {
        await client.close();
      }
    },
  );
});

test('a POST on a dropped socket is not retried', async () => {
  let n = 0;
  await withServer(
    (req, res) => {
      n++;
      if (n === 2) req.socket.destroy();
      else res.end('ok');
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 1 });
      try {
        await (await client.request({ method: 'POST', path: '/', body: 'a' })).dump();
        await assert.rejects(client.request({ method: 'POST', path: '/', body: 'b' }), (err: unknown) => err instanceof HttpClientError && err.kind === 'protocol');
        assert.equal(n, 2);
      } finally {
        await client.close();
      }
    },
  );
});

test('a server that never answers hits the deadline', async () => {
  await withServer(
    () => {
      /* never answers */
    },
    async (base) => {
      // The idle timeout is longer: the deadline is what fires.
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 300, idleTimeoutMs: 60_000, connections: 1 });
      try {
        await assert.rejects(client.request({ method: 'GET', path: '/slow' }), (err: unknown) => {
          assert.ok(err instanceof HttpClientError);
          assert.equal(err.kind, 'timeout');
          assert.match(err.message, /Timed out after 300 ms waiting for http:\/\/127\.0\.0\.1:\d+\/slow/);
          return true;
        });
      } finally {
        await client.close();
      }
    },
  );
});

test('a body that stalls half-way hits the same deadline', async () => {
  await withServer(
    (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 300, connections: 1 });
      try {
        const res = await client.request({ method: 'GET', path: '/stall' });
        assert.equal(res.status, 200);
        await assert.rejects(res.text(), (err: unknown) => err instanceof HttpClientError && err.kind === 'timeout');
      } finally {
        await client.close();
      }
    },
  );
});

test('a server that sends no headers within the idle timeout: the message names the idle timeout', async () => {
  await withServer(
    () => {
      /* never answers */
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 55_000, idleTimeoutMs: 300, connections: 1 });
      try {
        await assert.rejects(client.request({ method: 'GET', path: '/slow' }), (err: unknown) => {
          assert.ok(err instanceof HttpClientError);
          assert.equal(err.kind, 'timeout');
          assert.equal(err.message, `Timed out after 300 ms waiting for the response headers from ${base}/slow`);
          return true;
        });
      } finally {
        await client.close();
      }
    },
  );
});

test('a body that stalls longer than the idle timeout: the message names the idle timeout', async () => {
  await withServer(
    (_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 55_000, idleTimeoutMs: 300, connections: 1 });
      try {
        const res = await client.request({ method: 'GET', path: '/stall' });
        await assert.rejects(res.text(), (err: unknown) => {
          assert.ok(err instanceof HttpClientError);
          assert.equal(err.kind, 'timeout');
          assert.equal(err.message, `Timed out after 300 ms waiting for more of the response body from ${base}/stall`);
          return true;
        });
      } finally {
        await client.close();
      }
    },
  );
});

test('a port that accepts TCP but never completes TLS: the message names the connect timeout and its value', async () => {
  // A stand-in for a Puppet CA port that hangs in the handshake: accepts, reads, never answers.
  const held: Socket[] = [];
  const server = createTcpServer((socket) => {
    held.push(socket);
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const client = createHttpClient({ baseUrl: `https://127.0.0.1:${port}/`, verify: false, timeoutMs: 55_000, connectTimeoutMs: 400, connections: 1 });
  try {
    await assert.rejects(client.request({ method: 'GET', path: 'puppet-ca/v1/certificate_statuses/foreman' }), (err: unknown) => {
      assert.ok(err instanceof HttpClientError);
      assert.equal(err.kind, 'timeout');
      assert.equal(err.message, `Timed out after 400 ms connecting to 127.0.0.1:${port} (TLS handshake not completed)`);
      return true;
    });
    assert.ok(held.length >= 1, 'the TCP connection was accepted');
  } finally {
    await client.close();
    for (const s of held) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

test('a TCP connection that is never established: the message names the connect timeout and says so', async () => {
  // A listener whose process never accepts: once its accept queue is full, the kernel drops
  // further SYNs, so a connect hangs (all on loopback).
  const listener = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const fillers: Socket[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      listener.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      listener.once('exit', (code) => reject(new Error(`listener exited (${code})`)));
    });
    // Fill the accept queue: stop at the first connection that does not get through.
    for (let i = 0; i < 20; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      fillers.push(s);
      const connected = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 300);
        s.once('connect', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!connected) break;
    }
    for (const scheme of ['http', 'https']) {
      const client = createHttpClient({ baseUrl: `${scheme}://127.0.0.1:${port}/`, verify: false, timeoutMs: 55_000, connectTimeoutMs: 300, connections: 1 });
      try {
        await assert.rejects(client.request({ method: 'GET', path: 'x' }), (err: unknown) => {
          assert.ok(err instanceof HttpClientError);
          assert.equal(err.kind, 'timeout');
          assert.equal(err.message, `Timed out after 300 ms connecting to 127.0.0.1:${port} (TCP connection not established)`, scheme);
          return true;
        });
      } finally {
        await client.close();
      }
    }
  } finally {
    for (const s of fillers) s.destroy();
    listener.kill('SIGKILL');
  }
});

test('a refused connection is reported as such, naming host and port', async () => {
  const port = await freeTcpPort();
  const client = createHttpClient({ baseUrl: `http://127.0.0.1:${port}/`, verify: false, timeoutMs: 5000, connections: 1 });
  try {
    await assert.rejects(client.request({ method: 'GET', path: 'x' }), (err: unknown) => {
      assert.ok(err instanceof HttpClientError);
      assert.equal(err.kind, 'connect');
      assert.ok(err.message.startsWith(`Failed to open TCP connection to 127.0.0.1:${port} (`), err.message);
      return true;
    });
  } finally {
    await client.close();
  }
});

test('the caller can abort a request', async () => {
  await withServer(
    () => {
      /* never answers */
    },
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 60_000, connections: 1 });
      try {
        const ac = new AbortController();
        const pending = client.request({ method: 'GET', path: '/', signal: ac.signal });
        ac.abort();
        await assert.rejects(pending, (err: unknown) => err instanceof HttpClientError && err.kind === 'aborted');
      } finally {
        await client.close();
      }
    },
  );
});

test('an oversized body is refused by text()', async () => {
  await withServer(
    (_req, res) => res.end('x'.repeat(5000)),
    async (base) => {
      const client = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 1 });
      try {
        const res = await client.request({ method: 'GET', path: '/' });
        await assert.rejects(res.text(1000), (err: unknown) => err instanceof HttpClientError && err.kind === 'too_large');
      } finally {
        await client.close();
      }
    },
  );
});

async function withTlsServer(requireClientCert: boolean, fn: (base: string, peers: string[]) => Promise<void>): Promise<void> {
  const peers: string[] = [];
  const server = createTlsServer(
    {
      cert: readFileSync(pki.serverCert),
      key: readFileSync(pki.serverKey),
      ca: readFileSync(pki.caCert),
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
    },
    (req, res) => {
      const cert = (req.socket as TLSSocket).getPeerCertificate();
      peers.push(cert && cert.subject ? String(cert.subject.CN) : '');
      res.end('secure');
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    await fn(base, peers);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test('https: verifies the server against the given CA', async () => {
  await withTlsServer(false, async (base) => {
    const good = createHttpClient({ baseUrl: base, verify: true, ca: readFileSync(pki.caCert), timeoutMs: 5000, connections: 1 });
    const wrong = createHttpClient({ baseUrl: base, verify: true, ca: readFileSync(otherCa.cert), timeoutMs: 5000, connections: 1 });
    const none = createHttpClient({ baseUrl: base, verify: false, timeoutMs: 5000, connections: 1 });
    try {
      assert.equal(await (await good.request({ method: 'GET', path: '/' })).text(), 'secure');
      assert.equal(await (await none.request({ method: 'GET', path: '/' })).text(), 'secure');
      await assert.rejects(wrong.request({ method: 'GET', path: '/' }), (err: unknown) => {
        assert.ok(err instanceof HttpClientError);
        assert.equal(err.kind, 'tls');
        assert.match(err.message, /^TLS error talking to 127\.0\.0\.1:\d+: /);
        return true;
      });
    } finally {
      await Promise.all([good.close(), wrong.close(), none.close()]);
    }
  });
});

test('https: presents the client certificate to a server that requires one', async () => {
  await withTlsServer(true, async (base, peers) => {
    const withCert = createHttpClient({
      baseUrl: base,
      verify: true,
      ca: readFileSync(pki.caCert),
      cert: readFileSync(proxyCert.cert),
      key: readFileSync(proxyCert.key),
      timeoutMs: 5000,
      connections: 1,
    });
    const without = createHttpClient({ baseUrl: base, verify: true, ca: readFileSync(pki.caCert), timeoutMs: 5000, connections: 1 });
    try {
      assert.equal(await (await withCert.request({ method: 'GET', path: '/' })).text(), 'secure');
      assert.deepEqual(peers, ['proxy.test']);
      await assert.rejects(without.request({ method: 'GET', path: '/' }), (err: unknown) => err instanceof HttpClientError);
    } finally {
      await Promise.all([withCert.close(), without.close()]);
    }
  });
});

test('without a base URL, absolute URLs are fetched and redirects followed only when asked', async () => {
  await withServer(
    (req, res) => {
      if (req.url === '/old') {
        res.writeHead(302, { location: '/new' });
        res.end();
        return;
      }
      res.end(`at ${req.url}`);
    },
    async (base) => {
      const plain = createHttpClient({ verify: true, timeoutMs: 2000, connections: 2 });
      const following = createHttpClient({ verify: true, timeoutMs: 2000, connections: 2, maxRedirections: 3 });
      try {
        const direct = await plain.request({ method: 'GET', path: `${base}/old` });
        assert.equal(direct.status, 302);
        await direct.dump();
        const followed = await following.request({ method: 'GET', path: `${base}/old` });
        assert.equal(followed.status, 200);
        assert.equal(await followed.text(), 'at /new');
        await assert.rejects(plain.request({ method: 'GET', path: 'relative/path' }), /Invalid URL/);
        await assert.rejects(plain.request({ method: 'GET', path: 'ftp://127.0.0.1/x' }), /unsupported scheme 'ftp:'/);
      } finally {
        await plain.close();
        await following.close();
      }
    },
  );
});
