import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { CsrError, csrDer, readCsr } from './csr.ts';

const exec = promisify(execFile);
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'csr-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
async function openssl(cn: string, opts: { password?: string; keyArgs?: string[]; mask?: string } = {}): Promise<string> {
  const i = ++n;
  const conf = join(dir, `${i}.cnf`);
  await writeFile(
    conf,
    `[req]\nprompt = no\ndistinguished_name = dn\nstring_mask = ${opts.mask ?? 'utf8only'}\n${opts.password !== undefined ? 'attributes = attrs\n' : ''}` +
      `[dn]\nO = Example\nCN = ${cn}\n${opts.password !== undefined ? `[attrs]\nchallengePassword = ${opts.password}\n` : ''}`,
  );
  const out = join(dir, `${i}.csr`);
  await exec('openssl', ['req', '-new', ...(opts.keyArgs ?? ['-newkey', 'rsa:2048']), '-nodes', '-keyout', join(dir, `${i}.key`), '-config', conf, '-out', out]);
  return readFile(out, 'utf8');
}

test('reads CN and challengePassword from an openssl RSA CSR and verifies it', async () => {
  const pem = await openssl('host.example.test', { password: 'eyJhbGciOiJSUzUxMiJ9.e30.abc_-' });
  assert.deepEqual(await readCsr(pem), { commonName: 'host.example.test', challengePassword: 'eyJhbGciOiJSUzUxMiJ9.e30.abc_-', selfSigned: true });
  assert.deepEqual(await readCsr(csrDer(pem)), await readCsr(pem), 'DER input too');
});

test('a PrintableString challengePassword, an EC key, no password', async () => {
  const printable = await openssl('p.example.test', { password: 'Secret123', mask: 'default' });
  assert.equal((await readCsr(printable)).challengePassword, 'Secret123');
  const ec = await openssl('ec.example.test', { keyArgs: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] });
  assert.deepEqual(await readCsr(ec), { commonName: 'ec.example.test', challengePassword: undefined, selfSigned: true });
  const ed = await openssl('ed.example.test', { keyArgs: ['-newkey', 'ed25519'] });
  assert.equal((await readCsr(ed)).selfSigned, true);
});

test('a tampered CSR no longer verifies', async () => {
  const pem = await openssl('t.example.test');
  const der = Buffer.from(csrDer(pem));
  // Flip a byte inside the CN value: still parses, signature no longer matches.
  const at = der.indexOf(Buffer.from('t.example.test'));
  der[at] = 'u'.charCodeAt(0);
  const info = await readCsr(der);
  assert.equal(info.commonName, 'u.example.test');
  assert.equal(info.selfSigned, false);
});

test('garbage is a CsrError, never another exception', async () => {
  for (const bad of ['', 'hello', '-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----', 'x'.repeat(70_000)]) {
    await assert.rejects(readCsr(bad), CsrError, JSON.stringify(bad.slice(0, 20)));
  }
  const pem = await openssl('f.example.test', { password: 'pw' });
  const der = csrDer(pem);
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: der.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: der.length }), async (pos, byte, cut) => {
      const mutated = Buffer.from(der.subarray(0, cut));
      if (pos < mutated.length) mutated[pos] = byte;
      try {
        await readCsr(mutated);
      } catch (err) {
        assert.ok(err instanceof CsrError, String(err));
      }
    }),
    { numRuns: 300 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      try {
        await readCsr(bytes);
      } catch (err) {
        assert.ok(err instanceof CsrError, String(err));
      }
    }),
    { numRuns: 300 },
  );
});
