import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dumpTokens, issueToken, loadSigningKey, parseTokens, TokenStore, verifyToken } from './tokens.ts';
import { tokenWhitelisting } from './provider.ts';

const exec = promisify(execFile);
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tok-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function csr(cn: string, password?: string): Promise<Buffer> {
  const conf = join(dir, `${cn}.cnf`);
  await writeFile(
    conf,
    `[req]\nprompt = no\ndistinguished_name = dn\nstring_mask = utf8only\n${password ? 'attributes = attrs\n' : ''}[dn]\nCN = ${cn}\n${password ? `[attrs]\nchallengePassword = ${password}\n` : ''}`,
  );
  const { stdout } = await exec('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${cn}.key`), '-config', conf]);
  return Buffer.from(stdout);
}

test('a missing signing key is generated once, RSA 2048, PKCS#1, mode 0600', async () => {
  const path = join(dir, 'keys', 'sub', 'token.pem');
  const [a, b] = await Promise.all([loadSigningKey(path, true), loadSigningKey(path, true)]);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.match(await readFile(path, 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----\n/);
  assert.equal(a.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(a.publicKey.equals(b.publicKey), 'both callers got the same key');
  await assert.rejects(loadSigningKey(join(dir, 'absent.pem'), false), /cannot read the token signing key/);
  const ec = join(dir, 'ec.pem');
  await exec('openssl', ['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', ec]);
  await assert.rejects(loadSigningKey(ec, false), /need an RSA key/);
});

test('tokens file: YAML list in and out', () => {
  assert.deepEqual(parseTokens(undefined, 'f'), []);
  assert.deepEqual(parseTokens('--- []\n', 'f'), []);
  assert.deepEqual(parseTokens('---\n- a.b.c\n- d.e.f\n', 'f'), ['a.b.c', 'd.e.f']);
  assert.deepEqual(parseTokens(dumpTokens(['x.y.z']), 'f'), ['x.y.z']);
  assert.throws(() => parseTokens('a: 1\n', 'f'), /must hold a YAML list/);
});

test('issue, list, expiry, remove', async () => {
  const keys = await loadSigningKey(join(dir, 'k1.pem'), true);
  const store = new TokenStore(join(dir, 'deep', 'tokens.yml'));
  await store.init();
  assert.equal(await readFile(store.path, 'utf8'), '--- []\n');
  let now = 1_800_000_000_000;
  const p = tokenWhitelisting({ keys, store, signAll: false, defaultTtl: 360, now: () => now });
  const t1 = await p.add('a.example', undefined);
  const t2 = await p.add('b.example', 1);
  assert.ok(t1 && t2);
  const claims = await verifyToken(keys, t1.generated_token, now / 1000);
  assert.deepEqual(claims, { certname: 'a.example', exp: now / 1000 + 360 * 60 });
  assert.deepEqual(await p.list(), ['a.example', 'b.example']);
  now += 2 * 60 * 1000; // b's token (1 minute) has expired
  assert.deepEqual(await p.list(), ['a.example']);
  assert.equal((await store.read()).length, 2, 'listing does not prune');
  await p.remove('nobody.example'); // prunes the expired one, keeps a's
  assert.deepEqual(await store.read(), [t1.generated_token]);
  await p.remove('a.example');
  assert.deepEqual(await store.read(), []);
});

test('validate: only a stored, valid token issued for the CSR’s own name, once', async () => {
  const keys = await loadSigningKey(join(dir, 'k2.pem'), true);
  const other = await loadSigningKey(join(dir, 'k3.pem'), true);
  const store = new TokenStore(join(dir, 'tokens2.yml'));
  await store.init();
  const p = tokenWhitelisting({ keys, store, signAll: false, defaultTtl: 60 });
  const validate = p.validateCsr?.bind(p);
  assert.ok(validate);
  const { generated_token: token } = (await p.add('host.example', undefined)) ?? { generated_token: '' };

  assert.equal(await validate(await csr('host.example')), false, 'no challengePassword');
  assert.equal(await validate(Buffer.from('garbage')), false, 'not a CSR');
  assert.equal(await validate(await csr('other.example', token)), false, 'token of another host');
  const foreign = await issueToken(other, 'host.example', 60, Math.floor(Date.now() / 1000));
  assert.equal(await validate(await csr('host.example', foreign)), false, 'signed by another key');
  const expired = await issueToken(keys, 'host.example', 1, Math.floor(Date.now() / 1000) - 3600);
  await store.update((t) => [[...t, expired], undefined]);
  assert.equal(await validate(await csr('host.example', expired)), false, 'expired');

  const good = await csr('host.example', token);
  assert.equal(await validate(good), true);
  assert.equal(await validate(good), false, 'single use');
  assert.deepEqual(await store.read(), [expired]);

  const signAll = tokenWhitelisting({ keys, store, signAll: true, defaultTtl: 60 });
  assert.equal(await signAll.validateCsr?.(Buffer.from('anything')), true);
});

test('concurrent token issues are all stored', async () => {
  const keys = await loadSigningKey(join(dir, 'k4.pem'), true);
  const store = new TokenStore(join(dir, 'tokens3.yml'));
  await store.init();
  const p = tokenWhitelisting({ keys, store, signAll: false, defaultTtl: 60 });
  await Promise.all(Array.from({ length: 30 }, (_, i) => p.add(`h${i}.example`, undefined)));
  assert.equal((await p.list()).length, 30);
});
