// HTTP boot over real sockets through the real core. Requests go out with raw paths (node:http),
// because URL-parsing clients would collapse the `..` segments the tests are about.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, writeFile, symlink, rm, realpath } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../core/testing.ts';
import { computeHttpbootSettings } from './module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';

let base: string;
let proxy: TestProxy;
const EFI = randomBytes(200_000);

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(method: string, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  const u = new URL(proxy.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

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
  proxy = await startTestProxy({ files: { httpboot: { ':enabled': 'http', ':root_dir': root } } });
});

after(async () => {
  await proxy?.close();
  await rm(base, { recursive: true, force: true });
});

test('files are served under /httpboot and /EFI with type, length and mtime', async () => {
  for (const prefix of ['/httpboot', '/EFI']) {
    const r = await raw('GET', `${prefix}/grub2/grubx64.efi`);
    assert.equal(r.status, 200, prefix);
    assert.ok(r.body.equals(EFI));
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.equal(r.headers['content-length'], String(EFI.length));
    assert.ok(Date.parse(String(r.headers['last-modified'])) > 0);
  }
  assert.equal((await raw('GET', '/httpboot/notes.txt')).headers['content-type']?.toString().startsWith('text/plain'), true);
  assert.equal((await raw('GET', '/httpboot/grub2/grub.cfg')).body.toString(), 'set timeout=5\n');
  // A symlink that stays inside the root is followed.
  assert.ok((await raw('GET', '/httpboot/shim.efi')).body.equals(EFI));
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
    const r = await raw('GET', path);
    assert.equal(r.status, status, path);
    assert.equal(r.body.toString(), body, path);
  }
});

test('traversal is refused: .., encoded dots and encoded separators', async () => {
  const cases: [string, number][] = [
    ['/httpboot/../../../etc/passwd', 404],
    ['/EFI/../../../../etc/passwd', 404],
    ['/httpboot/%2e%2e/%2e%2e/%2e%2e/etc/passwd', 404],
    ['/httpboot/grub2/../../secret', 404],
    ['/httpboot/..%2f..%2f..%2fetc%2fpasswd', 403],
    ['/httpboot/..%2F..%2Fsecret', 403],
    ['/httpboot/..%5c..%5csecret', 403],
    ['/httpboot/grub2%00.efi', 403],
    ['/httpboot/%ff%fe', 400], // rejected by the router as a malformed URL
  ];
  for (const [path, status] of cases) {
    const r = await raw('GET', path);
    assert.equal(r.status, status, `${path}: ${r.body.toString()}`);
    assert.doesNotMatch(r.body.toString(), /secret|root:/);
  }
});

test('Range, HEAD and If-Modified-Since', async () => {
  const part = await raw('GET', '/httpboot/grub2/grubx64.efi', { range: 'bytes=100-199' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 100-199/${EFI.length}`);
  assert.ok(part.body.equals(EFI.subarray(100, 200)));
  const tail = await raw('GET', '/httpboot/grub2/grubx64.efi', { range: 'bytes=-10' });
  assert.equal(tail.status, 206);
  assert.ok(tail.body.equals(EFI.subarray(EFI.length - 10)));
  const open = await raw('GET', '/httpboot/grub2/grubx64.efi', { range: `bytes=${EFI.length - 5}-` });
  assert.ok(open.body.equals(EFI.subarray(EFI.length - 5)));
  const bad = await raw('GET', '/httpboot/grub2/grubx64.efi', { range: `bytes=${EFI.length}-` });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${EFI.length}`);
  const multi = await raw('GET', '/httpboot/grub2/grubx64.efi', { range: 'bytes=0-1,5-6' });
  assert.equal(multi.status, 200);
  assert.equal(multi.body.length, EFI.length);

  const head = await raw('HEAD', '/httpboot/grub2/grubx64.efi');
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(EFI.length));
  assert.equal(head.body.length, 0);

  const lm = String(head.headers['last-modified']);
  assert.equal((await raw('GET', '/httpboot/grub2/grubx64.efi', { 'if-modified-since': lm })).status, 304);
  const stale = await raw('GET', '/httpboot/grub2/grubx64.efi', { range: 'bytes=0-9', 'if-range': 'Mon, 01 Jan 2001 00:00:00 GMT' });
  assert.equal(stale.status, 200);
});

test('v2 features: http_port/https_port follow the enabled value', async () => {
  const features = JSON.parse((await proxy.request('GET', '/v2/features')).body);
  assert.equal(features.httpboot.state, 'running');
  assert.equal(features.httpboot.settings.https_port, null);
  assert.equal(features.httpboot.settings.http_port, proxy.proxy.global.httpPort);
  const g = { httpPort: 8000, httpsPort: 8443 } as GlobalSettings;
  assert.deepEqual(computeHttpbootSettings({ root_dir: '/x' }, g, 'both'), { root_dir: '/x', http_port: 8000, https_port: 8443 });
  assert.deepEqual(computeHttpbootSettings({}, g, 'https'), { http_port: null, https_port: 8443 });
  assert.deepEqual(computeHttpbootSettings({}, { ...g, httpPort: null }, 'http'), { http_port: null, https_port: null });
});
