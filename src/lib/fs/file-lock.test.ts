import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileLockError, updateFile, withFileLock } from './file-lock.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lock-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const append = (line: string) => (current: string | undefined): [string, undefined] => [`${current ?? ''}${line}\n`, undefined];

test('concurrent updates in one process are serialised: nothing is lost', async () => {
  const f = join(dir, 'a.txt');
  await Promise.all(Array.from({ length: 200 }, (_, i) => updateFile(f, append(`line${i}`))));
  const lines = (await readFile(f, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 200);
  assert.equal(new Set(lines).size, 200);
  assert.equal(existsSync(`${f}.lock`), false, 'the lock file is removed');
});

test('a failing update releases the lock and leaves the file as it was', async () => {
  const f = join(dir, 'b.txt');
  await writeFile(f, 'keep\n');
  await assert.rejects(updateFile(f, () => { throw new Error('boom'); }), /boom/);
  assert.equal(await readFile(f, 'utf8'), 'keep\n');
  await updateFile(f, append('next'));
  assert.equal(await readFile(f, 'utf8'), 'keep\nnext\n');
});

test('in a burst, a change that throws fails only its own caller; the others land, in order', async () => {
  const f = join(dir, 'burst.txt');
  const results = await Promise.allSettled([
    updateFile(f, (c) => [`${c ?? ''}1\n`, 'one']),
    updateFile(f, () => {
      throw new Error('bad change');
    }),
    updateFile(f, (c) => [undefined, c]),
    updateFile(f, (c) => [`${c ?? ''}3\n`, 'three']),
  ]);
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['one', 'bad change', '1\n', 'three'],
  );
  assert.equal(await readFile(f, 'utf8'), '1\n3\n');
});

test('an existing file keeps its mode; a new one gets the requested mode', async () => {
  const f = join(dir, 'c.txt');
  await writeFile(f, '');
  await chmod(f, 0o640);
  await updateFile(f, append('x'), { mode: 0o600 });
  assert.equal((await stat(f)).mode & 0o777, 0o640);
  const g = join(dir, 'd.txt');
  await updateFile(g, append('x'), { mode: 0o600 });
  assert.equal((await stat(g)).mode & 0o777, 0o600);
});

test('a lock held by a live process makes others wait, then time out with a clear error', async () => {
  const f = join(dir, 'e.txt');
  await writeFile(`${f}.lock`, String(process.ppid)); // a live process that is not us
  await assert.rejects(withFileLock(f, async () => 1, { timeoutMs: 200 }), FileLockError);
  await rm(`${f}.lock`);
});

test('a lock left by a dead process is taken over', async () => {
  const f = join(dir, 'g.txt');
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = child.pid as number;
  await new Promise((r) => child.on('exit', r));
  await writeFile(`${f}.lock`, String(deadPid));
  assert.equal(await withFileLock(f, async () => 42, { timeoutMs: 2000 }), 42);
});

test('concurrent updates from several processes lose nothing', async () => {
  const f = join(dir, 'multi.txt');
  const lib = fileURLToPath(new URL('./file-lock.ts', import.meta.url));
  const script = `
    const { updateFile } = await import(${JSON.stringify(lib)});
    const tag = process.argv[1];
    await Promise.all(Array.from({ length: 25 }, (_, i) => updateFile(${JSON.stringify(f)}, (c) => [(c ?? '') + tag + '-' + i + '\\n', undefined])));
  `;
  const runs = ['p1', 'p2', 'p3'].map(
    (tag) =>
      new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script, tag], { stdio: 'inherit' });
        c.on('exit', resolve);
      }),
  );
  assert.deepEqual(await Promise.all(runs), [0, 0, 0]);
  const lines = (await readFile(f, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 75);
  assert.equal(new Set(lines).size, 75);
});
