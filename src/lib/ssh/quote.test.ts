import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { shellQuote, shellCommand, checkUserName, checkRemoteDir, SshInputError } from './quote.ts';

const execFileP = promisify(execFile);

/** What `sh` prints for `printf %s <quoted>`: the word the remote shell would see. */
async function throughSh(value: string): Promise<string> {
  const { stdout } = await execFileP('sh', ['-c', `printf %s ${shellQuote(value)}`], { encoding: 'buffer' });
  return stdout.toString('utf8');
}

const hostile = ['', ';', 'a;rm -rf /', '$(id)', '`id`', "'", "''", '"', 'a\nb', '\n', '-rf', '--', '-n', '\\', '$HOME', '*', '~', '!', '&&', '|', 'a b\tc', "it's \"x\" $(y) `z`"];

test('hostile strings round-trip through sh as data', async () => {
  for (const value of hostile) assert.equal(await throughSh(value), value, JSON.stringify(value));
});

test('property: any string without NUL round-trips through sh -c printf %s', async () => {
  // sh reads the command as bytes; lone surrogates cannot be encoded, so generate well-formed text
  const text = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
  const withSyntax = fc
    .array(fc.oneof(text, fc.constantFrom(';', '$(', ')', '`', '\n', "'", '"', '-', '\\', '$', ' ', '&', '|', '<', '>')), { maxLength: 12 })
    .map((parts) => parts.join(''));
  await fc.assert(
    fc.asyncProperty(fc.oneof(text, withSyntax), async (value) => {
      assert.equal(await throughSh(value), value);
    }),
    { numRuns: 60 },
  );
});

test('several words stay several words', async () => {
  const { stdout } = await execFileP('sh', ['-c', `printf '[%s]' ${shellCommand('a b', '', "c'd", '-x')}`]);
  assert.equal(stdout, "[a b][][c'd][-x]");
});

test('NUL is refused with a clear error', () => {
  assert.throws(() => shellQuote('a\0b'), (e: unknown) => e instanceof SshInputError && /NUL/.test(e.message));
});

test('user names: plain and directory-service names pass, shell syntax and options do not', () => {
  for (const ok of ['root', 'deploy_1', 'jdoe@example.com', 'EXAMPLE\\jdoe', 'a.b-c', 'machine$']) checkUserName('effective_user', ok);
  for (const bad of ['', '-rf', '-', 'a;b', '$(id)', '`id`', 'a b', 'a\nb', "o'neil", 'a"b', 'x$y', 'a/b']) {
    assert.throws(
      () => checkUserName('effective_user', bad),
      (e: unknown) => e instanceof SshInputError && e.message.startsWith('effective_user: ') && /not a valid user name/.test(e.message),
      JSON.stringify(bad),
    );
  }
});

test('working dirs must be absolute, without line breaks or ..', () => {
  checkRemoteDir('remote_working_dir', '/var/tmp');
  checkRemoteDir('remote_working_dir', "/tmp/a b;$(x)'`");
  for (const bad of ['var/tmp', '-rf', '', '/tmp/a\nb', '/tmp/../etc', '/tmp/\0']) {
    assert.throws(() => checkRemoteDir('remote_working_dir', bad), (e: unknown) => e instanceof SshInputError && e.field === 'remote_working_dir', JSON.stringify(bad));
  }
});
