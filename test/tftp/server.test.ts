// The built-in server against the library client, in one process. The tests with the real
// tftp-hpa/busybox clients and tftpd-hpa are in pxe-tftp.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, symlink, rm, realpath } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TftpServer, type TftpServerOptions } from '../../src/lib/tftp/server.ts';
import { tftpGet, TftpClientError, type TftpGetOptions } from '../../src/lib/tftp/client.ts';
import { decode, encodeAck, encodeError, encodeRequest } from '../../src/lib/tftp/packet.ts';

let base: string;
let root: string;
const files: Record<string, Buffer> = {};

const serverOptions = (over: Partial<TftpServerOptions> = {}): TftpServerOptions => ({
  root,
  host: '127.0.0.1',
  port: 0,
  maxTransfers: 10,
  maxRetries: 5,
  maxBlksize: 65464,
  maxWindowsize: 64,
  maxWindowBytes: 1 << 20,
  defaultTimeoutMs: 200,
  ...over,
});

async function withServer<T>(fn: (port: number, srv: TftpServer) => Promise<T>, over: Partial<TftpServerOptions> = {}): Promise<T> {
  const srv = new TftpServer(serverOptions(over));
  const { port } = await srv.listen();
  try {
    return await fn(port, srv);
  } finally {
    await srv.close();
  }
}

async function get(port: number, filename: string, o: Partial<TftpGetOptions> = {}) {
  const chunks: Buffer[] = [];
  const r = await tftpGet({ host: '127.0.0.1', port, filename, retransmitMs: 300, sink: (c) => chunks.push(Buffer.from(c)), ...o });
  return { ...r, data: Buffer.concat(chunks) };
}

/** The server sees the final ACK a moment after the client has finished. */
async function idle(srv: TftpServer): Promise<void> {
  for (let i = 0; i < 500 && srv.activeTransfers > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(srv.activeTransfers, 0);
}

async function errorOf(p: Promise<unknown>): Promise<TftpClientError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TftpClientError, String(err));
    return err;
  }
  assert.fail('expected a TFTP error');
}

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tftpsrv-')));
  root = join(base, 'root');
  await mkdir(join(root, 'pxelinux.cfg'), { recursive: true });
  files['small.txt'] = Buffer.from('hello tftp\n');
  files['empty'] = Buffer.alloc(0);
  files['exact'] = randomBytes(1024);
  files['medium.bin'] = randomBytes(3 * 1024 * 1024 + 17);
  files['text.cfg'] = Buffer.from('line1\nline2\r\nend');
  files['roll.bin'] = randomBytes(8 * 70000 + 3); // > 65536 blocks of 8 bytes
  for (const [name, data] of Object.entries(files)) await writeFile(join(root, name), data);
  await writeFile(join(base, 'secret'), 'secret');
  await symlink(join(base, 'secret'), join(root, 'evil'));
});

after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('lock-step transfers: small, empty, exact multiple of the block size', async () => {
  await withServer(async (port) => {
    for (const name of ['small.txt', 'empty', 'exact']) {
      const r = await get(port, name);
      assert.deepEqual(r.data, files[name], name);
      assert.equal(r.oack.size, 0);
      assert.equal(r.blksize, 512);
    }
    // A leading slash and backslashes address the same file.
    assert.deepEqual((await get(port, '/small.txt')).data, files['small.txt']);
  });
});

test('blksize + tsize + windowsize are negotiated and the file arrives intact', async () => {
  await withServer(async (port) => {
    const r = await get(port, 'medium.bin', { blksize: 1468, windowsize: 16, tsize: true, timeout: 2 });
    assert.equal(r.blksize, 1468);
    assert.equal(r.windowsize, 16);
    assert.equal(r.tsize, files['medium.bin'].length);
    assert.equal(r.oack.get('timeout'), '2');
    assert.ok(r.data.equals(files['medium.bin']));
  });
});

test('block numbers roll over past 65535 (window mode)', async () => {
  await withServer(async (port) => {
    const r = await get(port, 'roll.bin', { blksize: 8, windowsize: 64 });
    assert.equal(createHash('sha256').update(r.data).digest('hex'), createHash('sha256').update(files['roll.bin']).digest('hex'));
  });
});

test('netascii converts LF to CR LF and CR to CR NUL, without tsize', async () => {
  await withServer(async (port) => {
    const r = await get(port, 'text.cfg', { mode: 'netascii', tsize: true });
    assert.deepEqual(r.data, Buffer.from('line1\r\nline2\r\0\r\nend'));
    assert.equal(r.tsize, undefined);
  });
});

test('a dropped ACK is recovered by retransmission (lock-step and windowed)', async () => {
  await withServer(async (port, srv) => {
    let dropped = 0;
    const once = (block: number) => block === 5 && dropped++ === 0;
    const r = await get(port, 'medium.bin', { dropAck: once });
    assert.equal(dropped, 2); // asked twice: dropped the first, sent the retransmission
    assert.ok(r.data.equals(files['medium.bin']));

    let droppedW = 0;
    const w = await get(port, 'medium.bin', { blksize: 1024, windowsize: 8, dropAck: (b) => b === 32 && droppedW++ === 0 });
    assert.ok(droppedW >= 1);
    assert.ok(w.data.equals(files['medium.bin']));
    await idle(srv);
  });
});

test('traversal, symlinks out of the root, missing files and writes are refused', async () => {
  await withServer(async (port) => {
    for (const name of ['../secret', 'pxelinux.cfg/../../secret', '..\\secret', 'evil', 'pxelinux.cfg']) {
      const e = await errorOf(get(port, name));
      assert.equal(e.code, 2, `${name}: ${e.message}`);
    }
    const e = await errorOf(get(port, 'nope'));
    assert.equal(e.code, 1);
    assert.match(e.message, /File not found/);
    // A write request is answered with an access violation.
    const sock = createSocket('udp4');
    const reply = await new Promise<Buffer>((resolve) => {
      sock.once('message', resolve);
      sock.send(encodeRequest('WRQ', 'upload', 'octet'), port, '127.0.0.1');
    });
    sock.close();
    assert.deepEqual(decode(reply), { op: 'ERROR', code: 2, message: 'Access violation: this server is read-only' });
  });
});

test('a file asked for with a trailing slash is not served: File not found, as from tftpd-hpa', async () => {
  await withServer(async (port) => {
    for (const name of ['small.txt/', '/small.txt/', 'small.txt//', 'small.txt/.', 'small.txt\\']) {
      const e = await errorOf(get(port, name));
      assert.equal(e.code, 1, `${name}: ${e.message}`);
      assert.match(e.message, /File not found/, name);
    }
    // A directory stays refused, with or without the slash.
    assert.equal((await errorOf(get(port, 'pxelinux.cfg/'))).code, 2);
  });
});

test('silent client: the server retransmits, then gives up; the transfer cap refuses extra clients', async () => {
  await withServer(
    async (port, srv) => {
      const sock = createSocket('udp4');
      const seen: string[] = [];
      const ended = new Promise<void>((resolve) => {
        sock.on('message', (m) => {
          const p = decode(m);
          seen.push(p.op === 'DATA' ? `DATA ${p.block}` : p.op);
          if (p.op === 'ERROR') resolve();
        });
      });
      sock.send(encodeRequest('RRQ', 'medium.bin', 'octet'), port, '127.0.0.1');
      // While that transfer is alive, a second client is refused.
      await new Promise<void>((resolve) => {
        const check = () => (srv.activeTransfers === 1 ? resolve() : setTimeout(check, 10));
        check();
      });
      const busy = await errorOf(get(port, 'small.txt', { retries: 0 }));
      assert.match(busy.message, /busy/);
      await ended;
      sock.close();
      assert.deepEqual(seen, ['DATA 1', 'DATA 1', 'DATA 1', 'DATA 1', 'ERROR']);
      assert.equal(srv.activeTransfers, 0);
    },
    { maxTransfers: 1, maxRetries: 3, defaultTimeoutMs: 50 },
  );
});

test('a retransmitted RRQ does not start a second transfer', async () => {
  await withServer(async (port, srv) => {
    const sock = createSocket('udp4');
    const blocks: number[] = [];
    const done = new Promise<void>((resolve) => {
      sock.on('message', (m, rinfo) => {
        const p = decode(m);
        if (p.op !== 'DATA') return;
        blocks.push(p.block);
        sock.send(encodeAck(p.block), rinfo.port, rinfo.address);
        if (p.data.length < 512) resolve();
      });
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    sock.send(encodeRequest('RRQ', 'exact', 'octet'), port, '127.0.0.1');
    sock.send(encodeRequest('RRQ', 'exact', 'octet'), port, '127.0.0.1');
    await done;
    sock.close();
    assert.deepEqual(blocks, [1, 2, 3]);
    await idle(srv);
  });
});

test('a PXE-style tsize probe (OACK answered with ERROR 8) ends the transfer without data', async () => {
  await withServer(async (port, srv) => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const oack = await new Promise<{ size: string | undefined; port: number }>((resolve) => {
      sock.once('message', (m, rinfo) => {
        const p = decode(m);
        resolve({ size: p.op === 'OACK' ? p.options.get('tsize') : undefined, port: rinfo.port });
      });
      sock.send(encodeRequest('RRQ', 'medium.bin', 'octet', new Map([['tsize', '0']])), port, '127.0.0.1');
    });
    assert.equal(oack.size, String(files['medium.bin'].length));
    const later: string[] = [];
    sock.on('message', (m) => later.push(decode(m).op));
    sock.send(encodeError(8, 'tsize only'), oack.port, '127.0.0.1');
    await idle(srv);
    sock.close();
    assert.deepEqual(later, []);
    // The real request follows and is served normally.
    assert.ok((await get(port, 'medium.bin', { blksize: 1456 })).data.equals(files['medium.bin']));
  });
});
