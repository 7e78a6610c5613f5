import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtemp, mkdir, writeFile, symlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tftpRequestPath, openInsideRoot, ConfineError } from './confine.ts';

test('tftpRequestPath: leading slashes mean the root, backslashes are separators', () => {
  assert.deepEqual(tftpRequestPath('/pxelinux.0'), { ok: true, relative: 'pxelinux.0' });
  assert.deepEqual(tftpRequestPath('pxelinux.cfg/01-aa'), { ok: true, relative: 'pxelinux.cfg/01-aa' });
  assert.deepEqual(tftpRequestPath('grub2\\grubx64.efi'), { ok: true, relative: 'grub2/grubx64.efi' });
  assert.deepEqual(tftpRequestPath('./a//b/./c'), { ok: true, relative: 'a/b/c' });
});

test('tftpRequestPath: a name ending in a separator (or in /.) keeps one trailing slash: it names a directory', () => {
  // As in tftpd-hpa, which opens the name as given: `file/` is not the file `file` (ENOTDIR).
  assert.deepEqual(tftpRequestPath('boot/vmlinuz/'), { ok: true, relative: 'boot/vmlinuz/' });
  assert.deepEqual(tftpRequestPath('/boot/vmlinuz//'), { ok: true, relative: 'boot/vmlinuz/' });
  assert.deepEqual(tftpRequestPath('boot\\vmlinuz\\'), { ok: true, relative: 'boot/vmlinuz/' });
  assert.deepEqual(tftpRequestPath('boot/vmlinuz/.'), { ok: true, relative: 'boot/vmlinuz/' });
  assert.deepEqual(tftpRequestPath('boot/./vmlinuz'), { ok: true, relative: 'boot/vmlinuz' });
});

test('tftpRequestPath refuses .., control characters and empty names', () => {
  for (const bad of ['../etc/passwd', 'a/../../b', '..\\..\\etc\\passwd', '/..', 'a/..', '', '/', 'a\nb', 'a\x7fb']) {
    assert.equal(tftpRequestPath(bad).ok, false, JSON.stringify(bad));
  }
});

test('tftpRequestPath never yields a path that climbs or is absolute', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('..', '.', '', 'a', 'b', '/', '\\', '%2e%2e', '%2f'), { maxLength: 12 }), (parts) => {
      const r = tftpRequestPath(parts.join(''));
      if (r.ok) {
        assert.ok(!r.relative.startsWith('/'));
        assert.ok(!r.relative.split('/').includes('..'));
      }
    }),
  );
});

test('openInsideRoot: serves files and inner symlinks, refuses escapes, dirs, fifos', async () => {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'confine-')));
  try {
    const root = join(base, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(root, 'sub', 'file'), 'hello');
    await writeFile(join(base, 'secret'), 'secret');
    await mkdir(join(base, 'root2'));
    await writeFile(join(base, 'root2', 'x'), 'sibling');
    await symlink('sub/file', join(root, 'inner-link'));
    await symlink(join(base, 'secret'), join(root, 'evil'));
    await symlink('..', join(root, 'up'));
    await symlink('../root2', join(root, 'sib'));
    await symlink('nowhere', join(root, 'dangling'));
    execFileSync('mkfifo', [join(root, 'fifo')]);

    const ok = await openInsideRoot(root, 'sub/file');
    assert.equal(ok.size, 5);
    assert.equal(ok.realPath, join(root, 'sub', 'file'));
    await ok.fh.close();
    const viaLink = await openInsideRoot(root, 'inner-link');
    assert.equal(viaLink.realPath, join(root, 'sub', 'file'));
    await viaLink.fh.close();

    const kind = async (rel: string) => {
      try {
        const f = await openInsideRoot(root, rel);
        await f.fh.close();
        return 'opened';
      } catch (err) {
        assert.ok(err instanceof ConfineError);
        return err.kind;
      }
    };
    assert.equal(await kind('evil'), 'outside');
    assert.equal(await kind('up/secret'), 'outside');
    assert.equal(await kind('sib/x'), 'outside');
    assert.equal(await kind('../secret'), 'outside');
    assert.equal(await kind('dangling'), 'not_found');
    assert.equal(await kind('missing'), 'not_found');
    assert.equal(await kind('sub'), 'directory');
    assert.equal(await kind('sub/'), 'directory');
    // A file asked for with a trailing slash does not exist as a directory.
    assert.equal(await kind('sub/file/'), 'not_found');
    assert.equal(await kind('fifo'), 'not_file');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
