// Reload and TLS: a certificate and key replaced in place (same paths, as a renewal does) are
// served to connections made after the reload, while a keep-alive connection made before keeps
// working; a certificate that does not match its key is refused and the old pair stays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import { startTestProxy } from '../../src/core/testing.ts';
import { httpsSettings, makePki } from '../lib/certs.ts';
import { tempDir, removeDir } from '../lib/procs.ts';

/** A TLS connection to 127.0.0.1:`port` trusting `cas`, open once the handshake is done. */
async function open(port: number, cas: Buffer[]): Promise<TLSSocket> {
  const socket = connect({ port, host: '127.0.0.1', ca: cas, servername: 'localhost' });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** One keep-alive HTTP/1.1 GET on `socket`; status and body. */
function get(socket: TLSSocket, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const text = data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ status: Number(text.slice(9, 12)), body: data.subarray(end + 4, end + 4 + length).toString() });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
  });
}

function fingerprint(socket: TLSSocket): string {
  return socket.getPeerX509Certificate()?.fingerprint256 ?? '';
}

test('a replaced certificate is served to new connections after a reload; an open keep-alive connection keeps working', async () => {
  const dir = await tempDir('sp-reload-tls');
  await mkdir(join(dir, 'old'));
  await mkdir(join(dir, 'new'));
  const oldPki = await makePki(join(dir, 'old'));
  const newPki = await makePki(join(dir, 'new'));
  const cas = [await readFile(oldPki.caCert), await readFile(newPki.caCert)];
  const oldPrint = new X509Certificate(await readFile(oldPki.serverCert)).fingerprint256;
  const newPrint = new X509Certificate(await readFile(newPki.serverCert)).fingerprint256;
  const proxy = await startTestProxy({ global: httpsSettings(oldPki) });
  const sockets: TLSSocket[] = [];
  try {
    const port = (proxy.proxy.listeners.find((l) => l.spec.scheme === 'https') ?? assert.fail('no https listener')).addresses[0].port;
    const kept = await open(port, cas);
    sockets.push(kept);
    assert.equal(fingerprint(kept), oldPrint);
    assert.equal((await get(kept, '/features')).status, 200);

    // Half-done renewal: the new certificate with the old key does not make a TLS context.
    await copyFile(newPki.serverCert, oldPki.serverCert);
    const refused = await proxy.proxy.reload();
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? '', /settings\.yml: ssl_private_key: listener 'https': the certificate and key do not make a TLS context/);
    const during = await open(port, cas);
    sockets.push(during);
    assert.equal(fingerprint(during), oldPrint, 'the refused reload left the old pair in place');

    await copyFile(newPki.serverKey, oldPki.serverKey);
    const result = await proxy.proxy.reload();
    assert.equal(result.ok, true, result.error);
    const fresh = await open(port, cas);
    sockets.push(fresh);
    assert.equal(fingerprint(fresh), newPrint);
    assert.equal((await get(fresh, '/features')).status, 200);

    // The connection made before the reload (the old certificate's) is still open and answered.
    assert.equal(kept.destroyed, false);
    const again = await get(kept, '/features');
    assert.equal(again.status, 200);
    assert.deepEqual(JSON.parse(again.body), JSON.parse((await get(fresh, '/features')).body));
  } finally {
    for (const s of sockets) s.destroy();
    await proxy.close();
    await removeDir(dir);
  }
});
