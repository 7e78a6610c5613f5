// HTTP boot over a real socket with raw request paths (node:http sends the path as written):
// URL-parsing clients, inject() included, would collapse the `..` and `%2e%2e` segments these
// tests are about. The other route tests are in src/modules/httpboot/api.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtemp, mkdir, writeFile, symlink, rm, realpath } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';

let base: string;
let proxy: TestProxy;
const EFI = randomBytes(200_000);

interface Raw {
  status: number;
  body: Buffer;
}

function raw(method: string, path: string): Promise<Raw> {
  const u = new URL(proxy.baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  base = await realpath(await mkdtemp(join(tmpdir(), 'httpboot-raw-')));
  const root = join(base, 'root');
  await mkdir(join(root, 'grub2'), { recursive: true });
  await writeFile(join(root, 'grub2', 'grubx64.efi'), EFI);
  await writeFile(join(base, 'secret'), 'secret');
  await symlink(join(base, 'secret'), join(root, 'evil'));
  proxy = await startTestProxy({ files: { httpboot: { ':enabled': 'http', ':root_dir': root } } });
});

after(async () => {
  await proxy?.close();
  await rm(base, { recursive: true, force: true });
});

test('traversal is refused: .., encoded dots and encoded separators', async () => {
  const cases: [string, number][] = [
    ['/httpboot/../../../etc/passwd', 404],
    ['/EFI/../../../../etc/passwd', 404],
    ['/httpboot/%2e%2e/%2e%2e/%2e%2e/etc/passwd', 404],
    ['/httpboot/grub2/../../secret', 404],
    ['/%68ttpboot/%2e%2e/secret', 404],
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

test('`..` inside the root resolves lexically; an encoded prefix serves the same file', async () => {
  for (const path of ['/httpboot/grub2/../grub2/grubx64.efi', '/%68ttpboot/grub2/grubx64.efi', '/%45FI/x/%2e%2e/grub2/grubx64.efi']) {
    const r = await raw('GET', path);
    assert.equal(r.status, 200, path);
    assert.ok(r.body.equals(EFI), path);
  }
});
