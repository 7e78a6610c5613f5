import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
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
  assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('multi.txt.') || n.startsWith('.multi.txt.')), [], 'no lock or temp file is left');
});

// Crash safety: a holder killed with SIGKILL (no cleanup runs) must not block the next writer for
// the old 60 s staleness period (every autosign add/remove meanwhile waited 10 s and failed).

interface Child {
  pid: number;
  /** Resolves once the child printed `line`. */
  printed(line: string): Promise<void>;
  kill9(): Promise<void>;
}

/** Run `script` (ES module source) in a child node; it keeps running until killed. */
function startChild(script: string): Child {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `${script}\nsetInterval(() => {}, 60_000);`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid as number,
    printed: (line) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (out.split('\n').includes(line)) resolve();
        };
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          check();
        });
        child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before printing ${line}: ${out}`)));
        check();
      }),
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** updateFile with the default lock options, as the autosign provider calls it; its duration. */
async function timedAppend(f: string, line: string): Promise<number> {
  const started = Date.now();
  await updateFile(f, append(line), { mode: 0o644 });
  return Date.now() - started;
}

// Bound for "at once": far below the 10 s a writer waits before failing.
const PROMPTLY_MS = 5000;
const libPath = fileURLToPath(new URL('./file-lock.ts', import.meta.url));

test('a holder killed with SIGKILL while holding the lock does not block the next update', async () => {
  const f = join(dir, 'killed-holder.conf');
  const child = startChild(`
    const { withFileLock } = await import(${JSON.stringify(libPath)});
    void withFileLock(${JSON.stringify(f)}, () => { process.stdout.write('locked\\n'); return new Promise(() => {}); });
  `);
  await child.printed('locked');
  // The lock names its holder from the moment it exists (first line: the PID, as before).
  assert.equal((await readFile(`${f}.lock`, 'utf8')).split('\n')[0], String(child.pid));
  await assert.rejects(withFileLock(f, async () => 0, { timeoutMs: 200 }), FileLockError, 'a live holder is respected');
  await child.kill9();
  const took = await timedAppend(f, 'after-crash');
  assert.ok(took < PROMPTLY_MS, `the update took ${took} ms`);
  assert.equal(await readFile(f, 'utf8'), 'after-crash\n');
  assert.equal(existsSync(`${f}.lock`), false);
});

test('a creator killed between creating the lock file and writing its PID does not block the next update', async () => {
  // The two-step protocol of the previous version (and of scripts using the same convention):
  // create <path>.lock with O_EXCL, then write the PID. Killed in between, it leaves an empty lock.
  const f = join(dir, 'killed-between.conf');
  const child = startChild(`
    const { open } = await import('node:fs/promises');
    globalThis.lock = await open(${JSON.stringify(`${f}.lock`)}, 'wx', 0o600);
    process.stdout.write('created\\n');
  `);
  await child.printed('created');
  await child.kill9();
  assert.equal(await readFile(`${f}.lock`, 'utf8'), '', 'an empty lock is left behind');
  const took = await timedAppend(f, 'after-crash');
  assert.ok(took < PROMPTLY_MS, `the update took ${took} ms`);
  assert.equal(await readFile(f, 'utf8'), 'after-crash\n');
});

test('an empty lock whose creator is alive (about to write its PID) is respected', async () => {
  const f = join(dir, 'empty-live.conf');
  const child = startChild(`
    const { open } = await import('node:fs/promises');
    globalThis.lock = await open(${JSON.stringify(`${f}.lock`)}, 'wx', 0o600);
    process.stdout.write('created\\n');
  `);
  try {
    await child.printed('created');
    await assert.rejects(withFileLock(f, async () => 0, { timeoutMs: 300 }), FileLockError);
    assert.equal(existsSync(`${f}.lock`), true, 'the live creator keeps its lock');
  } finally {
    await child.kill9();
  }
  assert.equal(await withFileLock(f, async () => 7, { timeoutMs: 2000 }), 7);
});

test('a lock whose PID now belongs to another process (PID reused after a crash or reboot) is taken over', async () => {
  const f = join(dir, 'reused.conf');
  // A live PID, but the identity line (boot id and start time) of some earlier process.
  await writeFile(`${f}.lock`, `${process.ppid}\n00000000-0000-0000-0000-000000000000 1\n`);
  assert.equal(await withFileLock(f, async () => 'taken', { timeoutMs: 2000 }), 'taken');
  assert.equal(existsSync(`${f}.lock`), false);
});
