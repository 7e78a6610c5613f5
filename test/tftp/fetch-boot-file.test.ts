// fetch_boot_file against a real local HTTP server (node:http on 127.0.0.1): success with
// conditional re-fetch, upstream 404, a server that stalls mid-body (deadline, nothing left
// behind), bodies over the size limit, a transient 503 retried, redirects, and concurrent
// requests for one file sharing a single download through the real API; a full download queue
// answered 503 and close() abandoning running downloads, through the mounted module.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, readdir, rm, realpath, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootFileFetcher, DownloadError, DownloadQueueFull, redactUrl, type FetcherOptions } from '../../src/modules/tftp/boot-file.ts';
import { startTestProxy } from '../../src/core/testing.ts';
import { mountModule } from '../../src/core/inject.ts';
import tftp from '../../src/modules/tftp/module.ts';
import { waitFor } from '../lib/procs.ts';
import { makePki } from '../lib/certs.ts';

const KERNEL = randomBytes(1024 * 1024 + 123);
const LAST_MODIFIED = new Date('2024-05-01T12:00:00Z');
const hits = new Map<string, number>();
const stalled = new Set<ServerResponse>();
let releaseShared: () => void = () => {};
const sharedReleased = new Promise<void>((r) => (releaseShared = r));
let server: Server;
let origin: string;
let base: string;

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'bootfile-')));
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const sendKernel = () => {
      const ims = req.headers['if-modified-since'];
      if (ims && Date.parse(ims) >= LAST_MODIFIED.getTime()) {
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, { 'content-length': KERNEL.length, 'last-modified': LAST_MODIFIED.toUTCString() }).end(KERNEL);
    };
    switch (path) {
      case '/ok/vmlinuz':
        return sendKernel();
      case '/redirect/vmlinuz':
        res.writeHead(302, { location: '/ok/vmlinuz' }).end();
        return;
      case '/missing/vmlinuz':
        res.writeHead(404).end('not here');
        return;
      case '/flaky/vmlinuz':
        if (hits.get(path) === 1) {
          res.writeHead(503).end('try later');
          return;
        }
        return sendKernel();
      case '/stall/vmlinuz':
        // Headers and part of the body, then silence.
        res.writeHead(200, { 'content-length': KERNEL.length });
        res.write(KERNEL.subarray(0, 64 * 1024));
        stalled.add(res);
        return;
      case '/big-declared/initrd':
        res.writeHead(200, { 'content-length': 3 * 1024 * 1024 });
        res.end(Buffer.alloc(3 * 1024 * 1024));
        return;
      case '/big-chunked/initrd': {
        res.writeHead(200); // no length: chunked
        let sent = 0;
        const push = () => {
          while (sent < 3 * 1024 * 1024) {
            sent += 64 * 1024;
            if (!res.write(Buffer.alloc(64 * 1024))) return void res.once('drain', push);
          }
          res.end();
        };
        res.on('error', () => undefined);
        push();
        return;
      }
      case '/hold/vmlinuz':
        // Headers and part of the body, then held until the test ends.
        res.writeHead(200, { 'content-length': KERNEL.length });
        res.write(KERNEL.subarray(0, 64 * 1024));
        stalled.add(res);
        return;
      case '/shared/vmlinuz':
        void sharedReleased.then(() => sendKernel());
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  origin = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

after(async () => {
  releaseShared();
  for (const res of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await rm(base, { recursive: true, force: true });
});

const options = (over: Partial<FetcherOptions> = {}): FetcherOptions => ({
  connectTimeoutMs: 5000,
  idleTimeoutMs: 60_000,
  deadlineMs: 60_000,
  retries: 3,
  retryDelayMs: 10,
  maxBytes: 2 * 1024 * 1024,
  verifyTls: true,
  maxConcurrent: 8,
  maxQueued: 16,
  ...over,
});

async function dirFor(name: string): Promise<string> {
  const d = join(base, name);
  await mkdir(d, { recursive: true });
  return d;
}

async function rejection(p: Promise<unknown>): Promise<DownloadError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DownloadError, String(err));
    return err;
  }
  assert.fail('download should have failed');
}

test('success: file written with the remote mtime; a second fetch is conditional (304)', async () => {
  const dir = await dirFor('ok');
  const f = new BootFileFetcher(options());
  try {
    const dest = join(dir, 'os-vmlinuz');
    assert.equal(await f.fetch(`${origin}/ok/vmlinuz`, dest).promise, 'downloaded');
    assert.ok((await readFile(dest)).equals(KERNEL));
    assert.equal((await stat(dest)).mtime.getTime(), LAST_MODIFIED.getTime());
    assert.equal(await f.fetch(`${origin}/ok/vmlinuz`, dest).promise, 'not-modified');
    assert.deepEqual(await readdir(dir), ['os-vmlinuz']);
    // Redirects are followed.
    const viaRedirect = join(dir, 'redirected');
    assert.equal(await f.fetch(`${origin}/redirect/vmlinuz`, viaRedirect).promise, 'downloaded');
    assert.ok((await readFile(viaRedirect)).equals(KERNEL));
  } finally {
    await f.close();
  }
});

test('upstream 404: failure, not retried, no file', async () => {
  const dir = await dirFor('missing');
  const f = new BootFileFetcher(options());
  try {
    const err = await rejection(f.fetch(`${origin}/missing/vmlinuz`, join(dir, 'x-vmlinuz')).promise);
    assert.match(err.message, /HTTP 404/);
    assert.equal(hits.get('/missing/vmlinuz'), 1);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await f.close();
  }
});

test('a transient 503 is retried', async () => {
  const dir = await dirFor('flaky');
  const f = new BootFileFetcher(options());
  try {
    assert.equal(await f.fetch(`${origin}/flaky/vmlinuz`, join(dir, 'vmlinuz')).promise, 'downloaded');
    assert.equal(hits.get('/flaky/vmlinuz'), 2);
  } finally {
    await f.close();
  }
});

test('a stalling server hits the deadline and leaves no partial file', async () => {
  const dir = await dirFor('stall');
  const f = new BootFileFetcher(options({ deadlineMs: 500 }));
  try {
    const err = await rejection(f.fetch(`${origin}/stall/vmlinuz`, join(dir, 'vmlinuz')).promise);
    assert.match(err.message, /deadline of 0.5 s exceeded/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await f.close();
  }
});

test('bodies over the size limit are refused (declared) or cut off (streamed), nothing left', async () => {
  const dir = await dirFor('big');
  const f = new BootFileFetcher(options({ maxBytes: 1024 * 1024 }));
  try {
    const declared = await rejection(f.fetch(`${origin}/big-declared/initrd`, join(dir, 'a-initrd')).promise);
    assert.match(declared.message, /3145728 bytes exceeds the limit of 1048576/);
    const streamed = await rejection(f.fetch(`${origin}/big-chunked/initrd`, join(dir, 'b-initrd')).promise);
    assert.match(streamed.message, /body exceeds the limit of 1048576 bytes/);
    assert.equal(hits.get('/big-chunked/initrd'), 1);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await f.close();
  }
});

test('through the API: concurrent requests for one file share one download', async () => {
  const root = await dirFor('root');
  const proxy = await startTestProxy({
    files: { tftp: { ':enabled': true, ':tftproot': root, ':boot_file_retry_delay': 0.01 } },
  });
  try {
    const body = { prefix: 'boot/centos-x86_64', path: `${origin}/shared/vmlinuz` };
    const [a, b] = await Promise.all([
      proxy.request('POST', '/tftp/fetch_boot_file', { body }),
      proxy.request('POST', '/tftp/fetch_boot_file', { body }),
    ]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    await waitFor('the proxy to request the file', () => hits.get('/shared/vmlinuz') === 1);
    releaseShared();
    const dest = join(root, 'boot', 'centos-x86_64-vmlinuz');
    await waitFor('the boot file', async () => (await readFile(dest)).equals(KERNEL));
    assert.equal(hits.get('/shared/vmlinuz'), 1);
    assert.deepEqual(await readdir(join(root, 'boot')), ['centos-x86_64-vmlinuz']);
    // A prefix ending in '/' takes the URL's file name as is.
    const r = await proxy.request('POST', '/tftp/fetch_boot_file', { body: { prefix: 'boot/', path: `${origin}/ok/vmlinuz` } });
    assert.equal(r.status, 200);
    await waitFor('boot/vmlinuz', async () => (await readFile(join(root, 'boot', 'vmlinuz'))).equals(KERNEL));
  } finally {
    await proxy.close();
  }
});

test('HTTPS: certificates are verified unless verify_server_cert is false; no retries on a bad certificate', async () => {
  const dir = await dirFor('tls');
  const pki = await makePki(dir);
  let requests = 0;
  const tlsServer = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (_req, res) => {
    requests++;
    res.writeHead(200, { 'content-length': KERNEL.length }).end(KERNEL);
  });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  const a = tlsServer.address();
  const src = `https://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/images/vmlinuz`;
  const out = await dirFor('tls-out');
  const strict = new BootFileFetcher(options());
  const lax = new BootFileFetcher(options({ verifyTls: false }));
  try {
    const err = await rejection(strict.fetch(src, join(out, 'strict-vmlinuz')).promise);
    assert.equal(err.retryable, false, err.message);
    assert.deepEqual(await readdir(out), []);
    assert.equal(requests, 0);
    assert.equal(await lax.fetch(src, join(out, 'lax-vmlinuz')).promise, 'downloaded');
    assert.ok((await readFile(join(out, 'lax-vmlinuz'))).equals(KERNEL));
  } finally {
    await strict.close();
    await lax.close();
    tlsServer.closeAllConnections();
    await new Promise<void>((r) => tlsServer.close(() => r()));
  }
});

test('credentials in source URLs never reach messages', () => {
  assert.equal(redactUrl('http://user:pw@mirror.example/os/vmlinuz'), 'http://mirror.example/os/vmlinuz');
  assert.equal(redactUrl('http://mirror.example/os/vmlinuz'), 'http://mirror.example/os/vmlinuz');
});

test('downloads beyond the concurrency limit wait their turn; a full queue is refused', async () => {
  const dir = await dirFor('queue');
  const f = new BootFileFetcher(options({ maxConcurrent: 1, maxQueued: 1 }));
  try {
    // Slots are taken synchronously: the first runs, the second waits, the third finds the queue full.
    const first = f.fetch(`${origin}/ok/vmlinuz`, join(dir, 'a'));
    const second = f.fetch(`${origin}/ok/vmlinuz`, join(dir, 'b'));
    assert.throws(() => f.fetch(`${origin}/ok/vmlinuz`, join(dir, 'c')), DownloadQueueFull);
    assert.equal(await first.promise, 'downloaded');
    assert.equal(await second.promise, 'downloaded');
    assert.deepEqual((await readdir(dir)).sort(), ['a', 'b']);
    // With the queue drained, new downloads are accepted again.
    assert.equal(await f.fetch(`${origin}/ok/vmlinuz`, join(dir, 'c')).promise, 'downloaded');
  } finally {
    await f.close();
  }
});

test('an idle timeout is transient (retried); credentials in the URL never reach the message', async () => {
  const dir = await dirFor('idle');
  const f = new BootFileFetcher(options({ idleTimeoutMs: 200, retries: 1 }));
  const before = hits.get('/stall/vmlinuz') ?? 0;
  try {
    const port = new URL(origin).port;
    const err = await rejection(f.fetch(`http://user:s3cret@127.0.0.1:${port}/stall/vmlinuz`, join(dir, 'vmlinuz')).promise);
    assert.equal(hits.get('/stall/vmlinuz'), before + 2);
    assert.match(err.message, /^download of http:\/\/127\.0\.0\.1:\d+\/stall\/vmlinuz failed: Timed out after 200 ms/);
    assert.doesNotMatch(err.message, /s3cret|user/);
    const refused = await rejection(f.fetch('http://user:s3cret@127.0.0.1:1/vmlinuz', join(dir, 'other')).promise);
    assert.doesNotMatch(refused.message, /s3cret|user/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await f.close();
  }
});

test('through the API: a full download queue is 503 with Retry-After 30; close() abandons running downloads', async () => {
  const root = await dirFor('busy-root');
  const mounted = await mountModule(tftp, { settings: { tftproot: root, boot_file_max_concurrent: 1, boot_file_max_queued: 0 } });
  const post = (prefix: string, path: string) =>
    mounted.app.inject({
      method: 'POST',
      url: '/tftp/fetch_boot_file',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ prefix, path }).toString(),
    });
  try {
    assert.equal((await post('boot/a', `${origin}/hold/vmlinuz`)).statusCode, 200);
    await waitFor('the held download to start', () => hits.get('/hold/vmlinuz') === 1);
    // The same destination joins the running download, even with the queue full.
    assert.equal((await post('boot/a', `${origin}/hold/vmlinuz`)).statusCode, 200);
    const refused = await post('boot/b', `${origin}/ok/vmlinuz`);
    assert.equal(refused.statusCode, 503);
    assert.equal(refused.headers['retry-after'], '30');
    assert.equal(refused.body, 'TFTP: Failed to fetch boot file: too many boot-file downloads (1 running, 0 waiting); try again later');
  } finally {
    await mounted.close();
  }
  // close() returns once the held download was abandoned and its temp file removed.
  assert.deepEqual(await readdir(join(root, 'boot')), []);
  assert.equal(hits.get('/hold/vmlinuz'), 1);
});
