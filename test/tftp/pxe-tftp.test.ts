// PXE configs written through the /tftp API, fetched with real TFTP clients (tftp-hpa's `tftp`
// and busybox `tftp`) from tftpd-hpa and from the proxy's built-in server, both on loopback.
// windowsize (RFC 7440) is requested with the project's own library client, because neither
// Debian client can ask for it; tftpd-hpa 5.2 does not implement it and the transfer falls back
// to lock-step, which the test checks too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, readFile, symlink, chmod, realpath, stat } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { tftpGet, TftpClientError } from '../../src/lib/tftp/client.ts';
import { tempDir, removeDir, freeUdpTcpPort, stopDaemon, type Daemon } from '../lib/procs.ts';
import { startTftpdHpa, tftpHpaGet, busyboxGet, sha256File, DropRelay } from './helpers.ts';

const MAC = '52:54:00:aa:bb:50';
const BIG_SIZE = 34 * 1024 * 1024 + 777; // > 65535 blocks of 512 bytes: block numbers roll over
let T: string;
let root: string;
let proxy: TestProxy;
let tftpd: Daemon | undefined;
let builtinPort: number;
let hpaPort: number;
let bigSha: string;
let servers: [string, number][];

before(async () => {
  T = await realpath(await tempDir('tftpit'));
  root = join(T, 'root');
  await mkdir(join(root, 'boot'), { recursive: true });
  await chmod(root, 0o755);
  const big = randomBytes(BIG_SIZE);
  bigSha = createHash('sha256').update(big).digest('hex');
  await writeFile(join(root, 'boot', 'big.img'), big, { mode: 0o644 });
  await writeFile(join(root, 'boot', 'small.img'), randomBytes(64 * 1024 + 5), { mode: 0o644 });
  await writeFile(join(T, 'secret'), 'secret contents\n');
  await symlink(join(T, 'secret'), join(root, 'evil'));
  await mkdir(join(T, 'get'));

  builtinPort = await freeUdpTcpPort();
  hpaPort = await freeUdpTcpPort();
  proxy = await startTestProxy({
    files: {
      tftp: {
        ':enabled': true,
        ':tftproot': root,
        ':builtin_server': true,
        ':builtin_server_bind': '127.0.0.1',
        ':builtin_server_port': builtinPort,
        ':builtin_server_timeout': 0.5,
      },
    },
  });
  tftpd = await startTftpdHpa(root, hpaPort, T);
  servers = [
    ['tftpd-hpa', hpaPort],
    ['built-in', builtinPort],
  ];
});

after(async () => {
  await stopDaemon(tftpd);
  await proxy?.close();
  if (T) await removeDir(T);
});

const local = (name: string) => join(T, 'get', name);

test('PXE configs written through the API are served by both servers to tftp-hpa and busybox', async () => {
  const pxelinux = 'DEFAULT linux\nLABEL linux\n  KERNEL boot/vmlinuz\n  APPEND initrd=boot/initrd.img\n';
  const grub2 = 'set default=0\nmenuentry "install" {\n  linuxefi boot/vmlinuz\n}\n';
  assert.equal((await proxy.request('POST', `/tftp/PXELinux/${MAC}`, { body: { pxeconfig: pxelinux } })).status, 200);
  assert.equal((await proxy.request('POST', `/tftp/PXEGrub2/${MAC}`, { body: { pxeconfig: grub2 } })).status, 200);
  assert.equal((await proxy.request('POST', '/tftp/PXEGrub2/create_default', { body: { menu: 'default menu\n' } })).status, 200);

  for (const [name, port] of servers) {
    const out = await tftpHpaGet(port, 'pxelinux.cfg/01-52-54-00-aa-bb-50', local(`${name}-pxelinux`), T);
    assert.equal(await readFile(local(`${name}-pxelinux`), 'utf8'), pxelinux, `${name}: ${out}`);
    // netascii, tftp-hpa's default mode: converted on the wire, converted back by the client.
    await tftpHpaGet(port, 'pxelinux.cfg/01-52-54-00-aa-bb-50', local(`${name}-ascii`), T, 'netascii');
    assert.equal(await readFile(local(`${name}-ascii`), 'utf8'), pxelinux, name);
    await busyboxGet(port, 'grub2/grub.cfg-01-52-54-00-aa-bb-50', local(`${name}-grub2`), T);
    assert.equal(await readFile(local(`${name}-grub2`), 'utf8'), grub2, name);
    await busyboxGet(port, '/grub2/grub.cfg', local(`${name}-default`), T);
    assert.equal(await readFile(local(`${name}-default`), 'utf8'), 'default menu\n', name);
  }

  // After DELETE through the API, both servers answer "File not found".
  assert.equal((await proxy.request('DELETE', `/tftp/PXELinux/${MAC}`)).status, 200);
  for (const [name, port] of servers) {
    const out = await tftpHpaGet(port, 'pxelinux.cfg/01-52-54-00-aa-bb-50', local(`${name}-gone`), T);
    assert.match(out, /Error code 1: File not found/, name);
  }
});

test('a file over 32 MB with 512-byte blocks (block-number rollover) arrives byte-identical: tftp-hpa client', async () => {
  for (const [name, port] of servers) {
    const out = await tftpHpaGet(port, 'boot/big.img', local(`${name}-big512`), T);
    assert.equal((await stat(local(`${name}-big512`))).size, BIG_SIZE, `${name}: ${out}`);
    assert.equal(await sha256File(local(`${name}-big512`)), bigSha, name);
  }
});

test('a file over 32 MB with blksize 1468 arrives byte-identical: busybox client', async () => {
  for (const [name, port] of servers) {
    await busyboxGet(port, 'boot/big.img', local(`${name}-big1468`), T, 1468);
    assert.equal(await sha256File(local(`${name}-big1468`)), bigSha, name);
  }
});

test('a file over 32 MB with windowsize 16 + blksize 1468 + tsize: library client (built-in negotiates, tftpd-hpa falls back)', async () => {
  for (const [name, port] of servers) {
    const h = createHash('sha256');
    const r = await tftpGet({ host: '127.0.0.1', port, filename: 'boot/big.img', blksize: 1468, windowsize: 16, tsize: true, retransmitMs: 2000, sink: (c) => h.update(c) });
    assert.equal(h.digest('hex'), bigSha, name);
    assert.equal(r.bytes, BIG_SIZE);
    assert.equal(r.tsize, BIG_SIZE, name);
    assert.equal(r.blksize, 1468, name);
    if (name === 'built-in') assert.equal(r.oack.get('windowsize'), '16');
    else assert.equal(r.oack.has('windowsize'), false, 'tftpd-hpa 5.2 does not implement RFC 7440');
  }
});

test('a dropped ACK is recovered by retransmission (tftp-hpa client through a lossy relay)', async () => {
  const expected = await sha256File(join(root, 'boot', 'small.img'));
  for (const [name, port] of servers) {
    let lost = false;
    const relay = new DropRelay(port, (dir, what) => {
      if (dir === 'c2s' && what === 'ACK 3' && !lost) return (lost = true);
      return false;
    });
    const relayPort = await relay.start();
    try {
      await tftpHpaGet(relayPort, 'boot/small.img', local(`${name}-lossy`), T);
    } finally {
      relay.close();
    }
    assert.deepEqual(relay.dropped, ['c2s ACK 3'], name);
    assert.ok(relay.seen.filter((s) => s === 's2c DATA 3').length >= 2, `${name} retransmitted DATA 3`);
    assert.equal(await sha256File(local(`${name}-lossy`)), expected, name);
  }
});

test('a dropped ACK inside a window is recovered (library client, windowsize 8, built-in server)', async () => {
  const expected = await sha256File(join(root, 'boot', 'small.img'));
  let lost = false;
  const relay = new DropRelay(builtinPort, (dir, what) => {
    if (dir === 'c2s' && what === 'ACK 16' && !lost) return (lost = true);
    return false;
  });
  const relayPort = await relay.start();
  const h = createHash('sha256');
  try {
    await tftpGet({ host: '127.0.0.1', port: relayPort, filename: 'boot/small.img', blksize: 512, windowsize: 8, retransmitMs: 3000, sink: (c) => h.update(c) });
  } finally {
    relay.close();
  }
  assert.deepEqual(relay.dropped, ['c2s ACK 16']);
  assert.ok(relay.seen.filter((s) => s === 's2c DATA 9').length >= 2, 'window 9..16 was resent');
  assert.equal(h.digest('hex'), expected);
});

test('traversal attempts over TFTP are refused by both servers', async () => {
  for (const [name, port] of servers) {
    for (const [i, remote] of ['../secret', '../../../etc/passwd', 'boot/../../secret', '/etc/passwd', 'evil', '..\\secret'].entries()) {
      const file = local(`${name}-trav-${i}`);
      const out = await tftpHpaGet(port, remote, file, T);
      assert.match(out, /Error code [12]:/, `${name} ${remote}: ${out}`);
      const got = await readFile(file, 'utf8').catch(() => '');
      assert.equal(got, '', `${name} ${remote} must not deliver anything`);
    }
    await assert.rejects(busyboxGet(port, '../secret', local(`${name}-bb-trav`), T), `${name} busybox`);
  }
});

test('a file asked for with a trailing slash (file/) is refused by both servers with the same TFTP error', async () => {
  const errors: Record<string, string> = {};
  for (const [name, port] of servers) {
    for (const remote of ['boot/small.img/', 'boot/small.img/.']) {
      const outcome = await tftpGet({ host: '127.0.0.1', port, filename: remote, retransmitMs: 300, sink: () => undefined }).then(
        () => 'served',
        (err: unknown) => (err instanceof TftpClientError ? `${err.code}: ${err.message}` : String(err)),
      );
      errors[`${name} ${remote}`] = outcome;
    }
  }
  // tftpd-hpa opens the name as given: open("small.img/") fails with ENOTDIR, sent as error 1.
  assert.deepEqual(errors, {
    'tftpd-hpa boot/small.img/': '1: server error 1: File not found',
    'tftpd-hpa boot/small.img/.': '1: server error 1: File not found',
    'built-in boot/small.img/': '1: server error 1: File not found',
    'built-in boot/small.img/.': '1: server error 1: File not found',
  });
});
