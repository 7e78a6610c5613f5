// puppetca and puppet over real HTTP with no Puppet Server listening (the port is closed): what
// Foreman sees when the CA is down, autosigning that needs no CA, and start-up failures.
// The real-Puppet-Server tests are in puppet.test.ts; the routes alone, with fake providers, in
// src/modules/puppetca/api.test.ts and src/modules/puppet/api.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createServer, type Socket } from 'node:net';
import { startTestProxy } from '../../src/core/testing.ts';

const exec = promisify(execFile);
let dir = '';
let ca = '';
let closedPort = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'puppetca-api-'));
  ca = join(dir, 'ca.pem');
  await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-subj', '/CN=test ca', '-days', '1', '-out', ca]);
  closedPort = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function puppetFiles(): Record<string, string> {
  return { puppet_url: `https://127.0.0.1:${closedPort}`, puppet_ssl_ca: ca };
}

test('Puppet CA unreachable: list, sign and clean answer 406 with the reason; autosign still works', async (t) => {
  const autosign = join(dir, 'autosign.conf');
  const proxy = await startTestProxy({
    files: {
      puppetca: { enabled: true },
      puppetca_hostname_whitelisting: { autosignfile: autosign },
      puppetca_http_api: puppetFiles(),
      puppet: { enabled: true },
      puppet_proxy_puppet_api: puppetFiles(),
    },
  });
  t.after(() => proxy.close());

  const features = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, { state: string; settings: Record<string, unknown> }>;
  assert.equal(features.puppetca.state, 'running');
  assert.deepEqual(features.puppetca.settings, {
    puppet_url: `https://127.0.0.1:${closedPort}`,
    use_provider: ['puppetca_hostname_whitelisting', 'puppetca_http_api'],
  });
  assert.deepEqual(features.puppet.settings, { puppet_url: `https://127.0.0.1:${closedPort}`, use_provider: ['puppet_proxy_puppet_api'] });

  const list = await proxy.request('GET', '/puppet/ca');
  assert.equal(list.status, 406);
  assert.match(list.body, new RegExp(`^Failed to list certificates: Failed to open TCP connection to 127\\.0\\.0\\.1:${closedPort}`));
  assert.match(list.headers['content-type'], /^application\/json/);
  const sign = await proxy.request('POST', '/puppet/ca/h.example.test', { body: '' });
  assert.equal(sign.status, 406);
  assert.match(sign.body, /^Failed to sign certificate\(s\) for h\.example\.test: /);
  const clean = await proxy.request('DELETE', '/puppet/ca/h.example.test');
  assert.equal(clean.status, 406);
  assert.match(clean.body, /^Failed to remove certificate\(s\) for h\.example\.test: /);

  assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), [], 'missing autosign.conf lists empty');
  const missing = await proxy.request('DELETE', '/puppet/ca/autosign/h.example.test');
  assert.equal(missing.status, 406);
  assert.equal(missing.body, `Failed to remove autosign for h.example.test: No such file ${autosign}`);
  const add = await proxy.request('POST', '/puppet/ca/autosign/h.example.test', { body: '' });
  assert.equal(add.status, 200);
  assert.equal(add.headers['content-type'], 'application/json');
  assert.equal(await readFile(autosign, 'utf8'), 'h.example.test\n');

  const envs = await proxy.request('GET', '/puppet/environments');
  assert.equal(envs.status, 406);
  assert.match(envs.body, /^Failed to list puppet environments: Failed to open TCP connection/);
  const classes = await proxy.request('GET', '/puppet/environments/production/classes');
  assert.equal(classes.status, 406);
  assert.match(classes.body, /^Failed to show puppet classes: /);
  const show = await proxy.request('GET', '/puppet/environments/production');
  assert.equal(show.status, 406);
  assert.match(show.body, /^Failed to show puppet environment: /);
});

test('a Puppet CA port that accepts TCP but never completes TLS: 406 naming the connect timeout that fired', async (t) => {
  // A stand-in that accepts connections and never answers the TLS ClientHello. The operation
  // deadline (55 s) does not fire first: the connect timeout (10 s) does, and the message says so.
  const held: Socket[] = [];
  const hung = createServer((socket) => {
    held.push(socket);
    socket.resume();
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => hung.close(r));
  });
  const a = hung.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  const proxy = await startTestProxy({
    files: {
      puppetca: { enabled: true },
      puppetca_hostname_whitelisting: { autosignfile: join(dir, 'hung-autosign.conf') },
      puppetca_http_api: { puppet_url: `https://127.0.0.1:${port}`, puppet_ssl_ca: ca },
    },
  });
  t.after(() => proxy.close());
  const list = await proxy.request('GET', '/puppet/ca');
  assert.equal(list.status, 406);
  assert.equal(list.body, `Failed to list certificates: Timed out after 10000 ms connecting to 127.0.0.1:${port} (TLS handshake not completed)`);
  assert.ok(held.length >= 1, 'the proxy did connect');
});

test('misconfigurations fail the puppetca group with a clear message', async (t) => {
  const onlyHttpApi = await startTestProxy({
    files: { puppetca: { enabled: true, use_provider: 'puppetca_http_api' }, puppetca_http_api: puppetFiles() },
  });
  t.after(() => onlyHttpApi.close());
  let f = JSON.parse((await onlyHttpApi.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
  assert.equal(f.puppetca.state, 'failed');
  const logs = (await onlyHttpApi.request('GET', '/logs')).body;
  assert.match(logs, /use_provider must name exactly one autosign provider/);

  const noKey = await startTestProxy({
    files: { puppetca: { enabled: true, use_provider: ['puppetca_token_whitelisting'] }, puppetca_http_api: puppetFiles() },
  });
  t.after(() => noKey.close());
  f = JSON.parse((await noKey.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
  assert.equal(f.puppetca.state, 'failed');
  assert.match((await noKey.request('GET', '/logs')).body, /no key to sign tokens with/);

  const noUrl = await startTestProxy({ files: { puppetca: { enabled: true }, puppetca_hostname_whitelisting: { autosignfile: join(dir, 'x.conf') } } });
  t.after(() => noUrl.close());
  f = JSON.parse((await noUrl.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
  assert.equal(f.puppetca.state, 'failed');
  assert.match((await noUrl.request('GET', '/logs')).body, /puppet_url/);

  const badRanges = await startTestProxy({
    files: {
      puppetca: { enabled: true, use_provider: 'puppetca_token_whitelisting' },
      puppetca_token_whitelisting: { certificate: join(dir, 'range-key.pem'), tokens_file: join(dir, 'range-tokens.yml'), token_ttl: 0 },
      puppetca_http_api: puppetFiles(),
      puppet: { enabled: true },
      puppet_proxy_puppet_api: { ...puppetFiles(), api_timeout: -1 },
    },
  });
  t.after(() => badRanges.close());
  f = JSON.parse((await badRanges.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
  assert.equal(f.puppetca.state, 'failed');
  assert.equal(f.puppet.state, 'failed');
  const rangeLogs = (await badRanges.request('GET', '/logs')).body;
  assert.match(rangeLogs, /token_ttl must be a number of minutes above 0, got 0/);
  assert.match(rangeLogs, /api_timeout must be a number of seconds above 0, got -1/);
});

test('token provider over HTTP: token_ttl, list, revoke, validate refusals', async (t) => {
  const key = join(dir, 'tok', 'key.pem');
  const tokens = join(dir, 'tok', 'tokens.yml');
  const proxy = await startTestProxy({
    files: {
      puppetca: { enabled: true, use_provider: 'puppetca_token_whitelisting' },
      puppetca_token_whitelisting: { certificate: key, tokens_file: tokens },
      puppetca_http_api: puppetFiles(),
    },
  });
  t.after(() => proxy.close());
  const r = await proxy.request('POST', '/puppet/ca/autosign/a.example.test?token_ttl=2', { body: '' });
  assert.equal(r.status, 200, r.body);
  const token = (JSON.parse(r.body) as { generated_token: string }).generated_token;
  const exp = (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }).exp;
  assert.ok(exp - Date.now() / 1000 <= 120 && exp - Date.now() / 1000 > 60);
  // Not a positive integer: the setting (360 minutes) applies.
  for (const bad of ['0', '-5', 'abc', '1.5']) {
    const t2 = (JSON.parse((await proxy.request('POST', `/puppet/ca/autosign/b.example.test?token_ttl=${bad}`, { body: '' })).body) as { generated_token: string }).generated_token;
    const e2 = (JSON.parse(Buffer.from(t2.split('.')[1], 'base64url').toString()) as { exp: number }).exp;
    assert.ok(e2 - Date.now() / 1000 > 359 * 60, bad);
  }
  assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), ['a.example.test', 'b.example.test', 'b.example.test', 'b.example.test', 'b.example.test']);
  assert.equal((await proxy.request('DELETE', '/puppet/ca/autosign/b.example.test')).status, 200);
  assert.equal((await proxy.request('DELETE', '/puppet/ca/autosign/nobody.example.test')).status, 200, 'token removal always succeeds');
  assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), ['a.example.test']);
  const tooBig = await proxy.request('POST', '/puppet/ca/validate', { body: 'x'.repeat(70_000), headers: { 'content-type': 'text/plain' } });
  assert.equal(tooBig.status, 413);
  const empty = await proxy.request('POST', '/puppet/ca/validate', { body: '', headers: { 'content-type': 'text/plain' } });
  assert.equal(empty.status, 404);

  // A CSR posted with no Content-Type at all is read raw too.
  const cn = 'nc.example.test';
  const conf = join(dir, 'nc.cnf');
  const issued = (JSON.parse((await proxy.request('POST', `/puppet/ca/autosign/${cn}`, { body: '' })).body) as { generated_token: string }).generated_token;
  await writeFile(conf, `[req]\nprompt = no\ndistinguished_name = dn\nstring_mask = utf8only\nattributes = attrs\n[dn]\nCN = ${cn}\n[attrs]\nchallengePassword = ${issued}\n`);
  const { stdout: pem } = await exec('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'nc.key'), '-config', conf]);
  const ok = await proxy.request('POST', '/puppet/ca/validate', { body: pem });
  assert.equal(ok.status, 200, ok.body);
});
