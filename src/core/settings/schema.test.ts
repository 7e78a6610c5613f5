// The settings schema helpers: coercion of Psych-written values (fatal on a wrong type), the
// reference's validator messages, ranges, enums and requirements (group failures), the typed view
// and the documentation extracted from a schema.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TypeGuard } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { SettingsError } from '../errors.ts';
import * as setting from './schema.ts';

const schema = setting.settings({
  server: setting.string({ default: 'localhost', description: 'server' }),
  port: setting.port({ default: 7911, description: 'port' }),
  timeout: setting.number({ default: 10, exclusiveMinimum: 0, maximum: 55, unit: 'seconds', description: 'timeout' }),
  retries: setting.integer({ default: 3, minimum: 0, maximum: 10, description: 'retries' }),
  mode: setting.oneOf(['fast', 'safe'], { default: 'safe', description: 'mode' }),
  names: setting.list({ default: [], description: 'names' }),
  user: setting.string({ requires: ['password_file'], description: 'user' }),
  password_file: setting.file({ checks: ['readable'], description: 'password file' }),
  url: setting.url({ optional: true, description: 'url' }),
  flag: setting.boolean({ default: true, description: 'flag' }),
  principal: setting.string({ required: true, description: 'principal' }),
});

const check = (values: Record<string, unknown>) =>
  setting.checkDeclared('demo', 'demo.yml', schema, setting.readDeclared('demo.yml', schema, { principal: 'p', ...values }));

test('reading: defaults, then values coerced as Psych writes them', () => {
  const v = setting.readDeclared('demo.yml', schema, { port: '7912', names: 'one', retries: '2', mode: 1, extra: 'kept' });
  assert.deepEqual(v, { server: 'localhost', port: 7912, timeout: 10, retries: 2, mode: '1', names: ['one'], flag: true, extra: 'kept' });
  assert.throws(
    () => setting.readDeclared('demo.yml', schema, { retries: 'three' }),
    (e: unknown) => e instanceof SettingsError && e.message === 'demo.yml: retries: expected an integer, got string "three"',
  );
  assert.throws(() => setting.readDeclared('demo.yml', schema, { names: { a: 1 } }), /demo\.yml: names: expected a list, got a mapping/);
});

test('checking: ranges, enums and requirements fail with the key and the reason', async () => {
  assert.equal(await check({}), undefined);
  assert.deepEqual(await check({ timeout: 0 }), {
    file: 'demo.yml',
    key: 'timeout',
    message: 'demo: timeout must be a number of seconds above 0 and at most 55, got 0',
    reason: 'must be a number of seconds above 0 and at most 55, got 0',
  });
  assert.equal((await check({ port: 70000 }))?.message, 'demo: port must be a whole number between 1 and 65535, got 70000');
  assert.equal((await check({ retries: 11 }))?.reason, 'must be a whole number between 0 and 10, got 11');
  assert.equal((await check({ mode: 'quick' }))?.message, "Parameter 'mode' must be one of fast, safe");
  assert.equal((await check({ user: 'u' }))?.message, 'demo: user needs password_file to be set too');
});

test("checking: the reference's validators and their messages", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-schema-'));
  try {
    const readable = join(dir, 'pw');
    await writeFile(readable, 'secret');
    assert.equal(await check({ user: 'u', password_file: readable }), undefined);
    assert.equal((await check({ password_file: join(dir, 'nope') }))?.message, `File at '${join(dir, 'nope')}' defined in 'password_file' parameter doesn't exist or is unreadable`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal((await check({ server: '' }))?.message, "Parameter 'server' is expected to have a non-empty value");
  assert.equal((await check({ principal: null }))?.message, "Parameter 'principal' is expected to have a non-empty value");
  assert.equal((await check({ flag: 'maybe' }))?.message, "Setting 'flag' is expected to be true/false");
  assert.equal((await check({ url: 'not a url' }))?.message, "Setting 'url' is missing a scheme");
  assert.equal(await check({ url: null }), undefined);
});

test('the typed view drops schema keys left null', () => {
  const typed = setting.typed(schema, { server: 'x', user: null, other: null });
  assert.deepEqual(typed, { server: 'x', other: null });
});

test('documentation: type, default, constraints, extension', () => {
  const docs = setting.describeSettings(
    setting.settings({
      timeout: setting.integer({ default: 30, minimum: 1, maximum: 55, unit: 'seconds', extension: true, description: 'Deadline.' }),
      key: setting.file({ checks: ['readable'], example: '/etc/k', description: 'Key.' }),
      backend: setting.oneOf(['rest'], { default: 'rest', description: 'Backend.' }),
    }),
  );
  assert.deepEqual(
    docs.map((d) => [d.key, d.type, d.default, d.constraints.join('; '), d.extension, d.example]),
    [
      ['timeout', 'integer', 30, 'a whole number of seconds between 1 and 55', true, undefined],
      ['key', 'string', undefined, 'must be a readable file', false, '/etc/k'],
      ['backend', 'string', 'rest', 'one of `rest`', false, undefined],
    ],
  );
});

test("the schemas are typebox's: its TypeGuard accepts them and its Value.Check agrees with ours", async () => {
  assert.ok(TypeGuard.IsObject(schema));
  for (const [key, prop] of Object.entries(schema.properties)) assert.ok(TypeGuard.IsSchema(prop), key);
  const samples: [string, unknown][] = [
    ['port', 7911], ['port', 0], ['port', 65536],
    ['timeout', 0], ['timeout', 0.5], ['timeout', 55], ['timeout', 56],
    ['retries', -1], ['retries', 10],
    ['mode', 'fast'], ['mode', 'quick'],
    ['names', ['a', 'b']], ['names', []],
  ];
  for (const [key, value] of samples) {
    const ours = (await check({ [key]: value })) === undefined;
    const theirs = Value.Check(schema.properties[key as keyof typeof schema.properties], value);
    assert.equal(ours, theirs, `${key} = ${JSON.stringify(value)}: ours ${ours}, typebox ${theirs}`);
  }
  const full = setting.typed(schema, setting.readDeclared('demo.yml', schema, { principal: 'p' }));
  assert.ok(Value.Check(schema, full), 'a checked settings object is valid for typebox too');
});
