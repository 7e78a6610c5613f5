// The /tftp API over real HTTP through the real core (settings loading, routing, error bodies).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile, symlink, rm, realpath, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../core/testing.ts';

let base: string;
let root: string;
let proxy: TestProxy;
const MAC = '52:54:00:AA:bb:50';

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tftpapi-')));
  root = join(base, 'root');
  await mkdir(join(root, 'ztp.cfg'), { recursive: true });
  await mkdir(join(base, 'outside'));
  proxy = await startTestProxy({
    files: { tftp: { ':enabled': true, ':tftproot': root, ':tftp_servername': '192.0.2.10' } },
  });
});

after(async () => {
  await proxy?.close();
  await rm(base, { recursive: true, force: true });
});

const read = (rel: string) => readFile(join(root, rel), 'utf8');
const exists = (rel: string) => stat(join(root, rel)).then(() => true, () => false);

test('module is running and exposes tftp_servername', async () => {
  const r = await proxy.request('GET', '/v2/features');
  const tftp = JSON.parse(r.body).tftp;
  assert.equal(tftp.state, 'running');
  assert.deepEqual(tftp.settings, { tftp_servername: '192.0.2.10' });
  assert.deepEqual(tftp.capabilities, []);
});

test('serverName: JSON with an HTML content type', async () => {
  const r = await proxy.request('GET', '/tftp/serverName');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"serverName":"192.0.2.10"}');
  assert.equal(r.headers['content-type'], 'text/html;charset=utf-8');
});

test('every variant: write, read the first file, delete all files', async () => {
  const cases: [string, string[]][] = [
    ['PXELinux', ['pxelinux.cfg/01-52-54-00-aa-bb-50']],
    ['syslinux', ['pxelinux.cfg/01-52-54-00-aa-bb-50']],
    ['PXEGrub', ['grub/menu.lst.01525400AABB50', 'grub/01-52-54-00-AA-BB-50']],
    ['PXEGrub2', ['grub2/grub.cfg-01-52-54-00-aa-bb-50', 'grub2/grub.cfg-52:54:00:aa:bb:50']],
    ['ZTP', ['ztp.cfg/525400AABB50', 'ztp.cfg/525400AABB50.cfg']],
    ['POAP', ['poap.cfg/525400AABB50']],
    ['iPXE', ['pxelinux.cfg/01-52-54-00-aa-bb-50.ipxe']],
  ];
  for (const [variant, files] of cases) {
    const content = `config for ${variant}\n`;
    const w = await proxy.request('POST', `/tftp/${variant}/${MAC}`, { body: { pxeconfig: content, extra: 'ignored' } });
    assert.equal(w.status, 200, `${variant}: ${w.body}`);
    assert.equal(w.body, '');
    for (const f of files) assert.equal(await read(f), content, `${variant} ${f}`);
    const g = await proxy.request('GET', `/tftp/${variant}/${MAC}`);
    assert.equal(g.status, 200);
    assert.equal(g.body, content);
    assert.equal(g.headers['content-type'], 'text/html;charset=utf-8');
    const d = await proxy.request('DELETE', `/tftp/${variant}/${MAC}`);
    assert.equal(d.status, 200);
    for (const f of files) assert.equal(await exists(f), false, `${variant} ${f} deleted`);
    // Deleting again is fine: Foreman rolls back with deletes of things that may be gone.
    assert.equal((await proxy.request('DELETE', `/tftp/${variant}/${MAC}`)).status, 200);
  }
});

test('legacy routes use syslinux; syslinux_config is the legacy content name', async () => {
  assert.equal((await proxy.request('POST', `/tftp/${MAC}`, { body: { syslinux_config: 'legacy' } })).status, 200);
  assert.equal(await read('pxelinux.cfg/01-52-54-00-aa-bb-50'), 'legacy');
  assert.equal((await proxy.request('DELETE', `/tftp/${MAC}`)).status, 200);
  assert.equal(await exists('pxelinux.cfg/01-52-54-00-aa-bb-50'), false);
  assert.equal((await proxy.request('POST', '/tftp/create_default', { body: { menu: 'default menu' } })).status, 200);
  assert.equal(await read('pxelinux.cfg/default'), 'default menu');
});

test('create_default per variant; ztp targets the directory itself and fails', async () => {
  assert.equal((await proxy.request('POST', '/tftp/PXEGrub/create_default', { body: { menu: 'grub menu' } })).status, 200);
  assert.equal(await read('grub/menu.lst'), 'grub menu');
  assert.equal(await read('grub/efidefault'), 'grub menu');
  assert.equal((await proxy.request('POST', '/tftp/PXEGrub2/create_default', { body: { menu: 'g2' } })).status, 200);
  assert.equal(await read('grub2/grub.cfg'), 'g2');
  assert.equal((await proxy.request('POST', '/tftp/iPXE/create_default', { body: { menu: 'ipxe' } })).status, 200);
  assert.equal(await read('pxelinux.cfg/default.ipxe'), 'ipxe');
  const z = await proxy.request('POST', '/tftp/ZTP/create_default', { body: { menu: 'x' } });
  assert.equal(z.status, 400);
  assert.match(z.body, /^TFTP: Failed to create PXE default file: /);
  const missing = await proxy.request('POST', '/tftp/PXELinux/create_default', { body: {} });
  assert.equal(missing.status, 400);
  assert.equal(missing.body, 'TFTP: Failed to create PXE default file: Default config not supplied');
  const bad = await proxy.request('POST', '/tftp/Foo/create_default', { body: { menu: 'x' } });
  assert.equal(bad.status, 403);
  assert.equal(bad.body, 'Unrecognized pxeboot config type: Foo');
});

test('validation: bad MAC and unknown variant are 403, MAC checked first; missing content is 400', async () => {
  const mac = await proxy.request('POST', '/tftp/Foo/not-a-mac', { body: { pxeconfig: 'x' } });
  assert.equal(mac.status, 403);
  assert.equal(mac.body, 'Invalid MAC address: not-a-mac');
  assert.match(mac.headers['content-type'], /^application\/json/);
  const variant = await proxy.request('GET', `/tftp/Foo/${MAC}`);
  assert.equal(variant.status, 403);
  assert.equal(variant.body, 'Unrecognized pxeboot config type: Foo');
  const none = await proxy.request('POST', `/tftp/PXELinux/${MAC}`, { body: { other: 'x' } });
  assert.equal(none.status, 400);
  assert.equal(none.body, 'TFTP: Failed to create pxe config file: Invalid parameters received');
  const g = await proxy.request('GET', `/tftp/PXELinux/00:11:22:33:44:55`);
  assert.equal(g.status, 404);
  assert.equal(g.body, `TFTP: Failed to retrieve pxe config file: File ${root}/pxelinux.cfg/01-00-11-22-33-44-55 not found`);
});

test('traversal through the URL or symlinks cannot reach outside the root', async () => {
  for (const path of ['/tftp/PXELinux/..%2F..%2Fetc%2Fpasswd', '/tftp/..%2F..%2Fx/' + MAC, '/tftp/PXELinux/%2e%2e']) {
    const r = await proxy.request('POST', path, { body: { pxeconfig: 'x' } });
    assert.ok(r.status === 403 || r.status === 404, `${path}: ${r.status}`);
  }
  // A symlinked config directory pointing out of the root is refused, nothing is written there.
  await rm(join(root, 'grub2'), { recursive: true, force: true });
  await symlink(join(base, 'outside'), join(root, 'grub2'));
  const w = await proxy.request('POST', `/tftp/PXEGrub2/${MAC}`, { body: { pxeconfig: 'escape' } });
  assert.equal(w.status, 400);
  assert.match(w.body, /outside the TFTP root/);
  assert.deepEqual(await readdir(join(base, 'outside')), []);
  await writeFile(join(base, 'outside', 'grub.cfg-01-52-54-00-aa-bb-50'), 'secret');
  const g = await proxy.request('GET', `/tftp/PXEGrub2/${MAC}`);
  assert.equal(g.status, 400);
  assert.doesNotMatch(g.body, /secret/);
  const d = await proxy.request('DELETE', `/tftp/PXEGrub2/${MAC}`);
  assert.equal(d.status, 400);
  assert.equal(await readFile(join(base, 'outside', 'grub.cfg-01-52-54-00-aa-bb-50'), 'utf8'), 'secret');
  await rm(join(root, 'grub2'));
});

test('fetch_boot_file: parameter and destination validation', async () => {
  const cases: [Record<string, string>, number, string][] = [
    [{ path: 'http://127.0.0.1:1/vmlinuz' }, 400, "TFTP: Failed to fetch boot file: parameter 'prefix' is missing"],
    [{ prefix: 'boot/x' }, 400, "TFTP: Failed to fetch boot file: parameter 'path' is missing"],
    [{ prefix: 'boot/x', path: 'gopher://h/vmlinuz' }, 400, 'TFTP: Failed to fetch boot file: Cannot fetch boot file, unknown protocol for medium source path: gopher://h/vmlinuz'],
    [{ prefix: 'boot/x', path: 'vmlinuz' }, 400, 'TFTP: Failed to fetch boot file: Cannot fetch boot file, unknown protocol for medium source path: vmlinuz'],
    [{ prefix: '../../x', path: 'http://127.0.0.1:1/vmlinuz' }, 400, 'TFTP: Failed to fetch boot file: TFTP destination outside of tftproot'],
    [{ prefix: '/etc/x', path: 'http://127.0.0.1:1/vmlinuz' }, 400, 'TFTP: Failed to fetch boot file: TFTP destination outside of tftproot'],
    [{ prefix: `${root}2/x`, path: 'http://127.0.0.1:1/vmlinuz' }, 400, 'TFTP: Failed to fetch boot file: TFTP destination outside of tftproot'],
    [{ prefix: 'boot/x', path: 'http://127.0.0.1:1/a/..' }, 400, 'TFTP: Failed to fetch boot file: no file name in medium source path: http://127.0.0.1:1/a/..'],
    [{ prefix: 'boot/x', path: 'nfs://server/export/vmlinuz' }, 200, ''],
  ];
  for (const [body, status, text] of cases) {
    const r = await proxy.request('POST', '/tftp/fetch_boot_file', { body });
    assert.equal(r.status, status, JSON.stringify(body) + ' ' + r.body);
    assert.equal(r.body, text);
  }
});
