import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bootRequestPath } from './path.ts';
import { parseRange } from '../../lib/http/range.ts';
import { contentTypeFor } from './mime.ts';

test('bootRequestPath collapses .. inside the root and refuses encoded separators', () => {
  assert.deepEqual(bootRequestPath('/grub2/grubx64.efi'), { ok: true, relative: 'grub2/grubx64.efi' });
  assert.deepEqual(bootRequestPath('/../../etc/passwd'), { ok: true, relative: 'etc/passwd' });
  assert.deepEqual(bootRequestPath('/%2e%2e/a/./b/../c'), { ok: true, relative: 'a/c' });
  assert.deepEqual(bootRequestPath('/a%20b'), { ok: true, relative: 'a b' });
  for (const bad of ['', '/', '/..', '/a/..', '/..%2fetc', '/a%5cb', '/a%00', '/%zz']) assert.equal(bootRequestPath(bad).ok, false, bad);
});

test('bootRequestPath output never climbs, whatever the input', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('/', '..', '.', 'a', '%2e', '%2E%2e', '%2f', '%5c', '%00', '%', 'b'), { maxLength: 16 }), (parts) => {
      const r = bootRequestPath(parts.join(''));
      if (r.ok) {
        assert.ok(!r.relative.startsWith('/'));
        assert.ok(!r.relative.split('/').some((s) => s === '..' || s === '.' || s === ''));
      }
    }),
    { numRuns: 3000 },
  );
});

test('parseRange', () => {
  assert.deepEqual(parseRange(undefined, 100), { kind: 'none' });
  assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'range', start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=90-500', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'range', start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { kind: 'range', start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 100), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=5-2', 100), { kind: 'none' });
  assert.deepEqual(parseRange('bytes=0-1,3-4', 100), { kind: 'none' });
  assert.deepEqual(parseRange('items=0-1', 100), { kind: 'none' });
  fc.assert(
    fc.property(fc.nat(1000), fc.nat(1000), fc.integer({ min: 1, max: 1000 }), (a, b, size) => {
      const r = parseRange(`bytes=${a}-${b}`, size);
      if (r.kind === 'range') assert.ok(r.start <= r.end && r.end < size);
    }),
  );
});

test('content types', () => {
  assert.equal(contentTypeFor('grub2/grubx64.efi'), 'application/octet-stream');
  assert.equal(contentTypeFor('pxelinux.cfg/default'), 'application/octet-stream');
  assert.equal(contentTypeFor('a.d/readme'), 'application/octet-stream');
  assert.equal(contentTypeFor('notes.TXT'), 'text/plain');
});
