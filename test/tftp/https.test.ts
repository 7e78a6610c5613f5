// The whole binary over real TLS: /tftp behind client-certificate authorization and
// trusted_hosts, /httpboot open to hosts without certificates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, readFile, writeFile, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tempDir, removeDir, waitFor } from '../lib/procs.ts';
import { httpsSettings, makePki, type Pki } from '../lib/certs.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';

let dir: string;
let root: string;
let pki: Pki;
let proxy: ProxyProcess;
let foreman: { cert: string; key: string };
let stranger: { cert: string; key: string };
const form = { 'content-type': 'application/x-www-form-urlencoded' };

before(async () => {
  dir = await tempDir('sp-tftptls');
  root = join(dir, 'root');
  await mkdir(join(root, 'grub2'), { recursive: true });
  await writeFile(join(root, 'grub2', 'shimx64.efi'), 'EFI-BINARY-CONTENT');
  pki = await makePki(dir);
  foreman = await pki.client('foreman.example.com');
  stranger = await pki.client('intruder.example.com');
  const settings = join(dir, 'settings');
  await writeSettingsDir(
    settings,
    {
      ...httpsSettings(pki),
      http_port: 0,
      // Plain HTTP from 127.0.0.1 is identified as "localhost" through the hosts file.
      trusted_hosts: ['foreman.example.com', 'localhost'],
      log_file: join(settings, 'proxy.log'),
    },
    { tftp: { ':enabled': true, ':tftproot': root }, httpboot: { ':enabled': true, ':root_dir': root } },
  );
  proxy = await startProxyProcess(['--settings', settings]);
});

after(async () => {
  await proxy?.stop();
  await removeDir(dir);
});

const url = (path: string) => `https://127.0.0.1:${portOf(proxy, 'https')}${path}`;

test('Foreman (trusted client certificate) writes and reads a PXE config over HTTPS', async () => {
  const w = await fetchUrl(url('/tftp/PXEGrub2/52:54:00:11:22:33'), {
    method: 'POST',
    tls: { ca: pki.caCert, ...foreman },
    headers: form,
    body: 'pxeconfig=' + encodeURIComponent('menuentry "x" {}\n'),
  });
  assert.equal(w.status, 200, w.body);
  assert.equal(await readFile(join(root, 'grub2', 'grub.cfg-01-52-54-00-11-22-33'), 'utf8'), 'menuentry "x" {}\n');
  const r = await fetchUrl(url('/tftp/PXEGrub2/52:54:00:11:22:33'), { tls: { ca: pki.caCert, ...foreman } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'menuentry "x" {}\n');
});

test('no certificate or an untrusted CN: 403 and nothing written', async () => {
  for (const tls of [{ ca: pki.caCert }, { ca: pki.caCert, ...stranger }]) {
    const w = await fetchUrl(url('/tftp/PXELinux/52:54:00:44:55:66'), { method: 'POST', tls, headers: form, body: 'pxeconfig=x' });
    assert.equal(w.status, 403);
  }
  await assert.rejects(stat(join(root, 'pxelinux.cfg', '01-52-54-00-44-55-66')));
});

test('HTTP boot over HTTPS needs no client certificate; ranges work over TLS', async () => {
  const r = await fetchUrl(url('/EFI/grub2/shimx64.efi'), { tls: { ca: pki.caCert } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'EFI-BINARY-CONTENT');
  const part = await fetchUrl(url('/httpboot/grub2/shimx64.efi'), { tls: { ca: pki.caCert }, headers: { range: 'bytes=4-9' } });
  assert.equal(part.status, 206);
  assert.equal(part.body, 'BINARY');
  const trav = await fetchUrl(url('/httpboot/..%2f..%2fsettings%2fsettings.yml'), { tls: { ca: pki.caCert } });
  assert.equal(trav.status, 403);
});

test('a download requested over HTTP and over HTTPS at once is fetched once', async () => {
  let hits = 0;
  let release: () => void = () => {};
  const released = new Promise<void>((r) => (release = r));
  const origin = createServer((_req, res) => {
    hits++;
    void released.then(() => res.writeHead(200, { 'content-length': 6 }).end('kernel'));
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const a = origin.address();
  const src = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/os/vmlinuz`;
  try {
    const body = `prefix=boot%2Fshared&path=${encodeURIComponent(src)}`;
    const viaHttps = await fetchUrl(url('/tftp/fetch_boot_file'), { method: 'POST', tls: { ca: pki.caCert, ...foreman }, headers: form, body });
    assert.equal(viaHttps.status, 200, viaHttps.body);
    const viaHttp = await fetchUrl(`http://127.0.0.1:${portOf(proxy, 'http')}/tftp/fetch_boot_file`, { method: 'POST', headers: form, body });
    assert.equal(viaHttp.status, 200, viaHttp.body);
    await waitFor('the download to start', () => hits === 1);
    release();
    await waitFor('boot/shared-vmlinuz', async () => (await readFile(join(root, 'boot', 'shared-vmlinuz'), 'utf8')) === 'kernel');
    assert.equal(hits, 1);
  } finally {
    release();
    origin.closeAllConnections();
    await new Promise<void>((r) => origin.close(() => r()));
  }
});
