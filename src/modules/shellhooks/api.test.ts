// /shellhook routes in-process (fastify inject): name and file checks, the listing, arguments
// from X-Shellhook-Arg-N, a hook run with its body on stdin, and 503 when the queue is full.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule } from '../../core/inject.ts';
import shellhooks from './module.ts';
import { hookArguments, type ShellhooksInstance } from './api.ts';
import { validHookName } from './hooks.ts';

test('hook names: plain file names only', () => {
  for (const ok of ['print_args', 'my-hook', 'hook.sh', 'A1']) assert.equal(validHookName(ok), true, ok);
  for (const bad of ['', '.', '..', '.hidden', '../x', 'a/b', 'a b', 'x\u0000', 'ä']) assert.equal(validHookName(bad), false, bad);
});

test('arguments: X-Shellhook-Arg-1 … up to the first missing one', () => {
  assert.deepEqual(hookArguments({ headers: { 'x-shellhook-arg-1': 'a', 'x-shellhook-arg-2': 'b c', 'x-shellhook-arg-4': 'd' } }), ['a', 'b c']);
  assert.deepEqual(hookArguments({ headers: { 'x-shellhook-arg-2': 'b' } }), []);
});

test('listing, refusals, and a run with the body on stdin', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shellhooks-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'echo_body'), `#!/bin/sh\ncat > "${dir}/body.out"\nprintf '%s' "$1" > "${dir}/arg.out"\n`);
  await chmod(join(dir, 'echo_body'), 0o755);
  await writeFile(join(dir, 'README'), 'x');
  const m = await mountModule(shellhooks, { settings: { directory: dir } }, t);
  const list = await m.app.inject({ method: 'GET', url: '/shellhook/' });
  assert.deepEqual([list.statusCode, JSON.parse(list.body)], [200, { valid: ['echo_body'], invalid: ['README'] }]);

  const bad = await m.app.inject({ method: 'POST', url: '/shellhook/..%2Fecho_body' });
  assert.equal(bad.statusCode, 500);
  assert.match(bad.body, /^Not a valid shellhook name/);
  const notFile = await m.app.inject({ method: 'POST', url: '/shellhook/README' });
  assert.match(notFile.body, /^Not a valid shellhook file/);

  const ran = await m.app.inject({ method: 'POST', url: '/shellhook/echo_body', headers: { 'content-type': 'text/plain', 'x-shellhook-arg-1': 'one' }, payload: 'hello\n' });
  assert.deepEqual([ran.statusCode, ran.body], [200, '']);
  await (m.instance as ShellhooksInstance).idle();
  assert.equal(await readFile(join(dir, 'body.out'), 'utf8'), 'hello\n');
  assert.equal(await readFile(join(dir, 'arg.out'), 'utf8'), 'one');
});

test('past max_running running and 32× as many waiting, POST answers 503 with Retry-After', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shellhooks-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'slow'), '#!/bin/sh\nexec sleep 30\n');
  await chmod(join(dir, 'slow'), 0o755);
  const m = await mountModule(shellhooks, { settings: { directory: dir, max_running: 1 } }, t);
  const statuses: number[] = [];
  for (let i = 0; i < 33; i++) statuses.push((await m.app.inject({ method: 'POST', url: '/shellhook/slow' })).statusCode);
  assert.deepEqual(statuses, Array<number>(33).fill(200));
  const refused = await m.app.inject({ method: 'POST', url: '/shellhook/slow' });
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.headers['retry-after'], '5');
  // close() (by mountModule at the end of the test) stops the running hook and drops the queue.
});
