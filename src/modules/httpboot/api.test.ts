// /httpboot and /EFI in-process (fastify inject, which streams bodies and handles Range and HEAD)
// on a temporary boot root. inject() normalises `..` and `%2e%2e` in the URL as any URL parser
// does, so the raw-path traversal cases go over a real socket in test/httpboot/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, symlink, rm, realpath } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule, type MountedModule } from '../../core/inject.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import httpboot, { computeHttpbootSettings } from './module.ts';
import { rawPathAfterPrefix } from './api.ts';

let base: string;
let mounted: MountedModule;
const EFI = randomBytes(200_000);

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'httpboot-')));
  const root = join(base, 'root');
  await mkdir(join(root, 'grub2'), { recursive: true });
  await writeFile(join(root, 'grub2', 'grubx64.efi'), EFI);
  await writeFile(join(root, 'grub2', 'grub.cfg'), 'set timeout=5\n');
  await writeFile(join(root, 'notes.txt'), 'hello');
  await writeFile(join(base, 'secret'), 'secret');
  await symlink(join(base, 'secret'), join(root, 'evil'));
  await symlink('grub2/grubx64.efi', join(root, 'shim.efi'));
  await symlink('nowhere', join(root, 'dangling'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  mounted = await mountModule(httpboot, { settings: { root_dir: root }, enabled: 'http' });
});

after(async () => {
  await mounted?.close();
  await rm(base, { recursive: true, force: true });
});

const get = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
  mounted.app.inject({ method, url, headers });

test('files are served under /httpboot and /EFI with type, length and mtime', async () => {
  for (const prefix of ['/httpboot', '/EFI']) {
    const r = await get(`${prefix}/grub2/grubx64.efi`);
    assert.equal(r.statusCode, 200, prefix);
    assert.ok(r.rawPayload.equals(EFI));
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.equal(r.headers['content-length'], String(EFI.length));
    assert.ok(Date.parse(String(r.headers['last-modified'])) > 0);
  }
  assert.equal(String((await get('/httpboot/notes.txt')).headers['content-type']).startsWith('text/plain'), true);
  assert.equal((await get('/httpboot/grub2/grub.cfg')).body, 'set timeout=5\n');
  // A symlink that stays inside the root is followed.
  assert.ok((await get('/httpboot/shim.efi')).rawPayload.equals(EFI));
});

test('percent-encoded spellings of the prefix and the path serve the same file', async () => {
  // The router decodes `%68` before matching /httpboot; the file path must be found the same way.
  for (const url of ['/%68ttpboot/grub2/grubx64.efi', '/%45FI/grub2/grubx64.efi', '/httpboot/gr%75b2/grubx64%2Eefi', '/%68ttpboot/%67rub2/grubx64.efi?x=1']) {
    const r = await get(url);
    assert.equal(r.statusCode, 200, `${url}: ${r.body.slice(0, 80)}`);
    assert.ok(r.rawPayload.equals(EFI), url);
  }
  // An encoded separator is still refused behind an encoded prefix.
  assert.equal((await get('/%68ttpboot/..%2fsecret')).statusCode, 403);
  assert.equal((await get('/%68ttpboot')).statusCode, 403);
});

test('error cases of the spec table', async () => {
  const cases: [string, number, string][] = [
    ['/httpboot/grub2', 403, 'Directory listing not allowed'],
    ['/httpboot', 403, 'Invalid or empty path'],
    ['/httpboot/', 403, 'Invalid or empty path'],
    ['/httpboot/evil', 403, 'Invalid or empty path'],
    ['/httpboot/nonexist', 404, 'Not found'],
    ['/httpboot/dangling', 404, 'Not found'],
    ['/httpboot/fifo', 503, 'Not a regular file'],
  ];
  for (const [path, status, body] of cases) {
    const r = await get(path);
    assert.equal(r.statusCode, status, path);
    assert.equal(r.body, body, path);
    assert.equal(r.headers['content-type'], 'application/json', path);
  }
  assert.equal((await get('/httpboot/nonexist', { accept: 'text/html' })).headers['content-type'], 'text/html;charset=utf-8');
});

test('encoded separators and NUL are refused; malformed encoding is rejected by the router', async () => {
  const cases: [string, number][] = [
    ['/httpboot/..%2f..%2f..%2fetc%2fpasswd', 403],
    ['/httpboot/..%2F..%2Fsecret', 403],
    ['/httpboot/..%5c..%5csecret', 403],
    ['/httpboot/grub2%00.efi', 403],
    ['/httpboot/%ff%fe', 400],
  ];
  for (const [path, status] of cases) {
    const r = await get(path);
    assert.equal(r.statusCode, status, `${path}: ${r.body}`);
    assert.doesNotMatch(r.body, /secret|root:/);
  }
});

test('Range, HEAD and If-Modified-Since', async () => {
  const url = '/httpboot/grub2/grubx64.efi';
  const part = await get(url, { range: 'bytes=100-199' });
  assert.equal(part.statusCode, 206);
  assert.equal(part.headers['content-range'], `bytes 100-199/${EFI.length}`);
  assert.ok(part.rawPayload.equals(EFI.subarray(100, 200)));
  const tail = await get(url, { range: 'bytes=-10' });
  assert.equal(tail.statusCode, 206);
  assert.ok(tail.rawPayload.equals(EFI.subarray(EFI.length - 10)));
  const open = await get(url, { range: `bytes=${EFI.length - 5}-` });
  assert.ok(open.rawPayload.equals(EFI.subarray(EFI.length - 5)));
  const bad = await get(url, { range: `bytes=${EFI.length}-` });
  assert.equal(bad.statusCode, 416);
  assert.equal(bad.headers['content-range'], `bytes */${EFI.length}`);
  assert.equal(bad.body, 'Requested range not satisfiable');
  const multi = await get(url, { range: 'bytes=0-1,5-6' });
  assert.equal(multi.statusCode, 200);
  assert.equal(multi.rawPayload.length, EFI.length);

  const head = await get(url, {}, 'HEAD');
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['content-length'], String(EFI.length));
  assert.equal(head.rawPayload.length, 0);

  const lm = String(head.headers['last-modified']);
  assert.equal((await get(url, { 'if-modified-since': lm })).statusCode, 304);
  const stale = await get(url, { range: 'bytes=0-9', 'if-range': 'Mon, 01 Jan 2001 00:00:00 GMT' });
  assert.equal(stale.statusCode, 200);
  const fresh = await get(url, { range: 'bytes=0-9', 'if-range': lm });
  assert.equal(fresh.statusCode, 206);
});

test('v2 features: http_port/https_port follow the enabled value', async () => {
  const features = JSON.parse((await get('/v2/features')).body);
  assert.equal(features.httpboot.state, 'running');
  assert.equal(features.httpboot.settings.https_port, null);
  assert.equal(features.httpboot.settings.http_port, mounted.global.httpPort);
  const g = { httpPort: 8000, httpsPort: 8443 } as GlobalSettings;
  assert.deepEqual(computeHttpbootSettings({ root_dir: '/x' }, g, 'both'), { root_dir: '/x', http_port: 8000, https_port: 8443 });
  assert.deepEqual(computeHttpbootSettings({}, g, 'https'), { http_port: null, https_port: 8443 });
  assert.deepEqual(computeHttpbootSettings({}, { ...g, httpPort: null }, 'http'), { http_port: null, https_port: null });
});

test('rawPathAfterPrefix keeps the encoding and drops the query', () => {
  assert.equal(rawPathAfterPrefix('/httpboot/a/b', '/httpboot'), '/a/b');
  assert.equal(rawPathAfterPrefix('/%68ttpboot/a%2fb?x=/y', '/httpboot'), '/a%2fb');
  assert.equal(rawPathAfterPrefix('/EFI', '/EFI'), '/');
  assert.equal(rawPathAfterPrefix('/EFI/', '/EFI'), '/');
});
