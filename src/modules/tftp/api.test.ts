// /tftp routes in-process (fastify inject) on a temporary TFTP root: every variant's files,
// validation and error bodies, the error policy (table errors keep their status, a failed file
// operation is 400 with the route's prefix), traversal, and fetch_boot_file's checks. Downloads
// over real sockets are in test/tftp/fetch-boot-file.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, writeFile, symlink, rm, realpath, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule, type MountedModule } from '../../core/inject.ts';
import tftp from './module.ts';

let base: string;
let root: string;
let mounted: MountedModule;
const MAC = '52:54:00:AA:bb:50';

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'tftpapi-')));
  root = join(base, 'root');
  await mkdir(join(root, 'ztp.cfg'), { recursive: true });
  await mkdir(join(base, 'outside'));
  // builtin_server on: create() must not bind it (the unit tier refuses sockets), start() would.
  mounted = await mountModule(tftp, { settings: { tftproot: root, tftp_servername: '192.0.2.10', builtin_server: true } });
});

after(async () => {
  await mounted?.close();
  await rm(base, { recursive: true, force: true });
});

interface Reply {
  status: number;
  body: string;
  headers: Record<string, unknown>;
}

async function call(method: 'GET' | 'POST' | 'DELETE', url: string, form?: Record<string, string>): Promise<Reply> {
  const r = await mounted.app.inject({
    method,
    url,
    ...(form ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString() } : {}),
  });
  return { status: r.statusCode, body: r.body, headers: r.headers };
}

const read = (rel: string) => readFile(join(root, rel), 'utf8');
const exists = (rel: string) => stat(join(root, rel)).then(() => true, () => false);

test('module is running and exposes tftp_servername', async () => {
  const r = await call('GET', '/v2/features');
  const features = JSON.parse(r.body).tftp;
  assert.equal(features.state, 'running');
  assert.deepEqual(features.settings, { tftp_servername: '192.0.2.10' });
  assert.deepEqual(features.capabilities, []);
});

test('serverName: JSON with an HTML content type', async () => {
  const r = await call('GET', '/tftp/serverName');
  assert.equal(r.status, 200);
  assert.equal(r.body, '{"serverName":"192.0.2.10"}');
  assert.equal(r.headers['content-type'], 'text/html;charset=utf-8');
});

test('serverName without tftp_servername is an empty string', async () => {
  const bare = await mountModule(tftp, { settings: { tftproot: root } });
  try {
    assert.equal((await bare.app.inject({ method: 'GET', url: '/tftp/serverName' })).body, '{"serverName":""}');
  } finally {
    await bare.close();
  }
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
    const w = await call('POST', `/tftp/${variant}/${MAC}`, { pxeconfig: content, extra: 'ignored' });
    assert.equal(w.status, 200, `${variant}: ${w.body}`);
    assert.equal(w.body, '');
    assert.equal(w.headers['content-type'], 'text/html;charset=utf-8');
    for (const f of files) assert.equal(await read(f), content, `${variant} ${f}`);
    const g = await call('GET', `/tftp/${variant}/${MAC}`);
    assert.equal(g.status, 200);
    assert.equal(g.body, content);
    assert.equal(g.headers['content-type'], 'text/html;charset=utf-8');
    const d = await call('DELETE', `/tftp/${variant}/${MAC}`);
    assert.equal(d.status, 200);
    for (const f of files) assert.equal(await exists(f), false, `${variant} ${f} deleted`);
    // Deleting again is fine: Foreman rolls back with deletes of things that may be gone.
    assert.equal((await call('DELETE', `/tftp/${variant}/${MAC}`)).status, 200);
  }
});

test('legacy routes use syslinux; syslinux_config is the legacy content name', async () => {
  assert.equal((await call('POST', `/tftp/${MAC}`, { syslinux_config: 'legacy' })).status, 200);
  assert.equal(await read('pxelinux.cfg/01-52-54-00-aa-bb-50'), 'legacy');
  assert.equal((await call('DELETE', `/tftp/${MAC}`)).status, 200);
  assert.equal(await exists('pxelinux.cfg/01-52-54-00-aa-bb-50'), false);
  assert.equal((await call('POST', '/tftp/create_default', { menu: 'default menu' })).status, 200);
  assert.equal(await read('pxelinux.cfg/default'), 'default menu');
});

test('create_default per variant; ztp targets the directory itself and fails with the prefix', async () => {
  assert.equal((await call('POST', '/tftp/PXEGrub/create_default', { menu: 'grub menu' })).status, 200);
  assert.equal(await read('grub/menu.lst'), 'grub menu');
  assert.equal(await read('grub/efidefault'), 'grub menu');
  assert.equal((await call('POST', '/tftp/PXEGrub2/create_default', { menu: 'g2' })).status, 200);
  assert.equal(await read('grub2/grub.cfg'), 'g2');
  assert.equal((await call('POST', '/tftp/iPXE/create_default', { menu: 'ipxe' })).status, 200);
  assert.equal(await read('pxelinux.cfg/default.ipxe'), 'ipxe');
  // A plain file-system error: untypedStatus 400 with the route's errorPrefix.
  const z = await call('POST', '/tftp/ZTP/create_default', { menu: 'x' });
  assert.equal(z.status, 400);
  assert.match(z.body, /^TFTP: Failed to create PXE default file: .*EISDIR/);
  const missing = await call('POST', '/tftp/PXELinux/create_default', {});
  assert.equal(missing.status, 400);
  assert.equal(missing.body, 'TFTP: Failed to create PXE default file: Default config not supplied');
  const bad = await call('POST', '/tftp/Foo/create_default', { menu: 'x' });
  assert.equal(bad.status, 403);
  assert.equal(bad.body, 'Unrecognized pxeboot config type: Foo');
});

test('validation: bad MAC and unknown variant are 403, MAC checked first; missing content is 400', async () => {
  const mac = await call('POST', '/tftp/Foo/not-a-mac', { pxeconfig: 'x' });
  assert.equal(mac.status, 403);
  assert.equal(mac.body, 'Invalid MAC address: not-a-mac');
  assert.match(String(mac.headers['content-type']), /^application\/json/);
  const legacyMac = await call('DELETE', '/tftp/not-a-mac');
  assert.equal(legacyMac.status, 403);
  assert.equal(legacyMac.body, 'Invalid MAC address: not-a-mac');
  const variant = await call('GET', `/tftp/Foo/${MAC}`);
  assert.equal(variant.status, 403);
  assert.equal(variant.body, 'Unrecognized pxeboot config type: Foo');
  const none = await call('POST', `/tftp/PXELinux/${MAC}`, { other: 'x' });
  assert.equal(none.status, 400);
  assert.equal(none.body, 'TFTP: Failed to create pxe config file: Invalid parameters received');
  const g = await call('GET', '/tftp/PXELinux/00:11:22:33:44:55');
  assert.equal(g.status, 404);
  assert.equal(g.body, `TFTP: Failed to retrieve pxe config file: File ${root}/pxelinux.cfg/01-00-11-22-33-44-55 not found`);
});

test('traversal through the URL or symlinks cannot reach outside the root', async () => {
  for (const path of ['/tftp/PXELinux/..%2F..%2Fetc%2Fpasswd', '/tftp/..%2F..%2Fx/' + MAC, '/tftp/PXELinux/%2e%2e']) {
    const r = await call('POST', path, { pxeconfig: 'x' });
    assert.ok(r.status === 403 || r.status === 404, `${path}: ${r.status}`);
  }
  // A symlinked config directory pointing out of the root is refused, nothing is written there.
  await rm(join(root, 'grub2'), { recursive: true, force: true });
  await symlink(join(base, 'outside'), join(root, 'grub2'));
  try {
    const w = await call('POST', `/tftp/PXEGrub2/${MAC}`, { pxeconfig: 'escape' });
    assert.equal(w.status, 400);
    assert.equal(w.body, `TFTP: Failed to create pxe config file: ${root}/grub2/grub.cfg-01-52-54-00-aa-bb-50 is outside the TFTP root`);
    assert.deepEqual(await readdir(join(base, 'outside')), []);
    await writeFile(join(base, 'outside', 'grub.cfg-01-52-54-00-aa-bb-50'), 'secret');
    const g = await call('GET', `/tftp/PXEGrub2/${MAC}`);
    assert.equal(g.status, 400);
    assert.match(g.body, /^TFTP: Failed to retrieve pxe config file: .* is outside the TFTP root$/);
    assert.doesNotMatch(g.body, /secret/);
    const d = await call('DELETE', `/tftp/PXEGrub2/${MAC}`);
    assert.equal(d.status, 400);
    assert.match(d.body, /^TFTP: Failed to delete pxe config file: .* is outside the TFTP root$/);
    assert.equal(await readFile(join(base, 'outside', 'grub.cfg-01-52-54-00-aa-bb-50'), 'utf8'), 'secret');
    // fetch_boot_file into the symlinked directory: its real path is outside.
    const f = await call('POST', '/tftp/fetch_boot_file', { prefix: 'grub2/x', path: 'http://127.0.0.1:1/vmlinuz' });
    assert.equal(f.status, 400);
    assert.equal(f.body, 'TFTP: Failed to fetch boot file: TFTP destination outside of tftproot');
  } finally {
    await rm(join(root, 'grub2'));
  }
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
    [{ prefix: 'boot/x', path: 'ftp://mirror/vmlinuz' }, 400, 'TFTP: Failed to fetch boot file: ftp downloads are not supported, use http or https: ftp://mirror/vmlinuz'],
    [{ prefix: 'boot/x\0', path: 'http://127.0.0.1:1/vmlinuz' }, 400, "TFTP: Failed to fetch boot file: parameter 'prefix' contains a NUL byte"],
    [{ prefix: 'boot/x', path: 'nfs://server/export/vmlinuz' }, 200, ''],
  ];
  for (const [form, status, text] of cases) {
    const r = await call('POST', '/tftp/fetch_boot_file', form);
    assert.equal(r.status, status, JSON.stringify(form) + ' ' + r.body);
    assert.equal(r.body, text);
  }
});

test('an out-of-range setting fails the module through the schema, naming key and range', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ builtin_server_max_blksize: 100 }, /^tftp: builtin_server_max_blksize must be a whole number of bytes between 512 and 65464, got 100$/],
    [{ boot_file_timeout: 0 }, /^tftp: boot_file_timeout must be a number of seconds between 0.001 and 86400, got 0$/],
    [{ boot_file_max_concurrent: 0 }, /^tftp: boot_file_max_concurrent must be a whole number between 1 and 1000, got 0$/],
    [{ tftp_connect_timeout: 7200 }, /^tftp: tftp_connect_timeout must be a number of seconds between 0.001 and 3600, got 7200$/],
  ];
  for (const [settings, message] of cases) {
    await assert.rejects(mountModule(tftp, { settings: { tftproot: root, ...settings } }), { message });
  }
});
