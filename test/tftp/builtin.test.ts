// Start-up of the built-in TFTP server through the real core: it serves the root when enabled,
// and a port that cannot be bound or a bad limit fails the tftp module with a clear message
// while the rest of the proxy runs on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtemp, mkdir, rm, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy } from '../../src/core/testing.ts';
import { mountModule } from '../../src/core/inject.ts';
import tftp from '../../src/modules/tftp/module.ts';
import { tftpGet } from '../../src/lib/tftp/client.ts';

async function withRoot<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'tftpbuiltin-')));
  try {
    await mkdir(join(base, 'root'));
    return await fn(join(base, 'root'));
  } finally {
    await rm(base, { recursive: true, force: true });
  }
}

async function freeUdpPort(): Promise<number> {
  const holder = createSocket('udp4');
  await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
  const port = holder.address().port;
  await new Promise<void>((r) => holder.close(r));
  return port;
}

/** Binding `port` works, i.e. nothing holds it. */
async function udpPortFree(port: number): Promise<boolean> {
  const probe = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(port, '127.0.0.1', resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

async function v2(proxy: { request(m: string, p: string): Promise<{ body: string }> }): Promise<Record<string, { state: string }>> {
  return JSON.parse((await proxy.request('GET', '/v2/features')).body);
}

test('the built-in server serves what the API wrote', async () => {
  await withRoot(async (root) => {
    const holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
    const port = holder.address().port;
    holder.close();
    const proxy = await startTestProxy({
      files: { tftp: { ':enabled': true, ':tftproot': root, ':builtin_server': true, ':builtin_server_bind': '127.0.0.1', ':builtin_server_port': port } },
    });
    try {
      assert.equal((await v2(proxy)).tftp.state, 'running');
      await proxy.request('POST', '/tftp/iPXE/aa:bb:cc:dd:ee:ff', { body: { pxeconfig: '#!ipxe\nexit\n' } });
      const chunks: Buffer[] = [];
      await tftpGet({ host: '127.0.0.1', port, filename: 'pxelinux.cfg/01-aa-bb-cc-dd-ee-ff.ipxe', sink: (c) => chunks.push(Buffer.from(c)) });
      assert.equal(Buffer.concat(chunks).toString(), '#!ipxe\nexit\n');
    } finally {
      await proxy.close();
    }
  });
});

test('a port already in use fails the tftp module, with the reason in /logs', async () => {
  await withRoot(async (root) => {
    const holder = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', r));
    const port = holder.address().port;
    const proxy = await startTestProxy({
      files: {
        tftp: { ':enabled': true, ':tftproot': root, ':builtin_server': true, ':builtin_server_bind': '127.0.0.1', ':builtin_server_port': port },
        httpboot: { ':enabled': true, ':root_dir': root },
      },
    });
    try {
      const f = await v2(proxy);
      assert.equal(f.tftp.state, 'failed');
      assert.equal(f.httpboot.state, 'running');
      const logs = JSON.parse((await proxy.request('GET', '/logs')).body);
      assert.match(logs.info.failed_modules.tftp, new RegExp(`built-in TFTP server cannot listen on 127.0.0.1:${port}: .*EADDRINUSE`));
    } finally {
      await proxy.close();
      holder.close();
    }
  });
});

test('an out-of-range limit fails the module naming the setting', async () => {
  await withRoot(async (root) => {
    const proxy = await startTestProxy({
      files: { tftp: { ':enabled': true, ':tftproot': root, ':builtin_server': true, ':builtin_server_max_blksize': 100 } },
    });
    try {
      assert.equal((await v2(proxy)).tftp.state, 'failed');
      const logs = JSON.parse((await proxy.request('GET', '/logs')).body);
      assert.match(logs.info.failed_modules.tftp, /builtin_server_max_blksize must be a whole number of bytes between 512 and 65464, got 100/);
    } finally {
      await proxy.close();
    }
  });
});

test('the instance binds the server in start(), not in create(), and releases it in close()', async () => {
  await withRoot(async (root) => {
    const port = await freeUdpPort();
    await writeFile(join(root, 'hello.txt'), 'hi\n');
    const mounted = await mountModule(tftp, {
      settings: { tftproot: root, builtin_server: true, builtin_server_bind: '127.0.0.1', builtin_server_port: port },
    });
    try {
      assert.equal(await udpPortFree(port), true, 'create() must not bind');
      await mounted.instance.start?.();
      assert.equal(await udpPortFree(port), false);
      const chunks: Buffer[] = [];
      await tftpGet({ host: '127.0.0.1', port, filename: 'hello.txt', sink: (c) => chunks.push(Buffer.from(c)) });
      assert.equal(Buffer.concat(chunks).toString(), 'hi\n');
    } finally {
      await mounted.close();
    }
    assert.equal(await udpPortFree(port), true, 'close() releases the port');
  });
});
