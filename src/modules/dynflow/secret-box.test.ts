// SecretBox: sealed secrets open only with the same key and for the same task; key files in the
// three accepted forms, and a clear refusal of a key that is too short.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SecretBox, SecretBoxError } from './secret-box.ts';

test('a sealed value opens with the same key and task id only', () => {
  const box = SecretBox.ephemeral();
  const sealed = box.seal({ ssh_password: 'hunter2' }, 'task-1');
  assert.equal(sealed.includes('hunter2'), false);
  assert.notEqual(box.seal({ ssh_password: 'hunter2' }, 'task-1'), sealed, 'a fresh nonce every time');
  assert.deepEqual(box.open(sealed, 'task-1'), { ssh_password: 'hunter2' });
  assert.throws(() => box.open(sealed, 'task-2'), SecretBoxError);
  assert.throws(() => SecretBox.ephemeral().open(sealed, 'task-1'), /sealed by an earlier run of the proxy/);
  assert.throws(() => box.open('garbage', 'task-1'), /unknown format/);
});

test('key files: 32 raw bytes, 64 hex characters or a passphrase; too short is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dynflow-key-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const raw = randomBytes(32);
  const files = { raw: join(dir, 'raw'), hex: join(dir, 'hex'), pass: join(dir, 'pass'), short: join(dir, 'short') };
  await writeFile(files.raw, raw);
  await writeFile(files.hex, `${raw.toString('hex')}\n`);
  await writeFile(files.pass, 'correct horse battery staple\n');
  await writeFile(files.short, 'tiny');
  const fromRaw = await SecretBox.fromFile(files.raw);
  const fromHex = await SecretBox.fromFile(files.hex);
  assert.ok(fromRaw.persistent);
  assert.deepEqual(fromHex.open(fromRaw.seal({ a: 1 }, 't'), 't'), { a: 1 }, 'the same key either way');
  const fromPass = await SecretBox.fromFile(files.pass);
  const again = await SecretBox.fromFile(files.pass);
  assert.deepEqual(again.open(fromPass.seal({ b: 2 }, 't'), 't'), { b: 2 });
  await assert.rejects(SecretBox.fromFile(files.short), /holds 4 characters; it needs 32 raw bytes, 64 hex characters or a passphrase/);
  await assert.rejects(SecretBox.fromFile(join(dir, 'missing')), /cannot read secrets_key_file/);
  assert.throws(() => fromPass.open(fromRaw.seal({ a: 1 }, 't'), 't'), /cannot be opened with the key of secrets_key_file/);
});
