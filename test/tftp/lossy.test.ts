// The built-in server and the library client over a relay that loses packets in both directions
// (seeded, so every run loses the same packets), plus garbage thrown at the listening port: the
// files must still arrive byte-identical and the server must keep serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdir, writeFile, realpath } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TftpServer } from '../../src/lib/tftp/server.ts';
import { tftpGet } from '../../src/lib/tftp/client.ts';
import { tempDir, removeDir } from '../lib/procs.ts';
import { DropRelay } from './helpers.ts';

let T: string;
let server: TftpServer;
let port: number;
const DATA = randomBytes(300 * 1024 + 7);
const SHA = createHash('sha256').update(DATA).digest('hex');

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

before(async () => {
  T = await realpath(await tempDir('tftplossy'));
  await mkdir(join(T, 'root'));
  await writeFile(join(T, 'root', 'img'), DATA);
  server = new TftpServer({
    root: join(T, 'root'),
    host: '127.0.0.1',
    port: 0,
    maxTransfers: 50,
    maxRetries: 20,
    maxBlksize: 65464,
    maxWindowsize: 64,
    maxWindowBytes: 1 << 20,
    defaultTimeoutMs: 50,
  });
  port = (await server.listen()).port;
});

after(async () => {
  await server?.close();
  if (T) await removeDir(T);
});

for (const [label, blksize, windowsize, seed] of [
  ['lock-step', 1024, undefined, 1],
  ['windowsize 8', 1024, 8, 2],
  ['windowsize 32, blksize 512', 512, 32, 3],
] as const) {
  test(`5% loss each way, ${label}: the file arrives intact`, async () => {
    const rnd = prng(seed);
    const relay = new DropRelay(port, (_dir, what) => what !== 'RRQ' && rnd() < 0.05);
    const relayPort = await relay.start();
    const h = createHash('sha256');
    try {
      await tftpGet({ host: '127.0.0.1', port: relayPort, filename: 'img', blksize, windowsize, retransmitMs: 150, retries: 20, sink: (c) => h.update(c) });
    } finally {
      relay.close();
    }
    assert.ok(relay.dropped.length > 0, 'the relay lost packets');
    assert.equal(h.digest('hex'), SHA);
  });
}

test('garbage on the listening port is answered or ignored, and service continues', async () => {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const rnd = prng(42);
  for (let i = 0; i < 2000; i++) {
    const len = Math.floor(rnd() * 80);
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = Math.floor(rnd() * 256);
    // Bias towards valid-looking opcodes so the request parser is exercised.
    if (len >= 2 && rnd() < 0.7) buf.writeUInt16BE(1 + Math.floor(rnd() * 6), 0);
    sock.send(buf, port, '127.0.0.1');
  }
  await new Promise((r) => setTimeout(r, 200));
  sock.close();
  const h = createHash('sha256');
  await tftpGet({ host: '127.0.0.1', port, filename: 'img', blksize: 1400, windowsize: 4, sink: (c) => h.update(c) });
  assert.equal(h.digest('hex'), SHA);
});
