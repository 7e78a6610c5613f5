// /puppet/ca routes in-process (fastify inject) with fake providers: statuses, bodies and content
// types, certname validation, and the error policy (a table error keeps its status, a provider's
// plain error is 406 with the route's prefix, a missing autosign entry is 404). The providers
// against a hung or unreachable CA are in test/puppet/.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError } from '../../core/errors.ts';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import type { Settings } from '../../core/module.ts';
import { checkDeclared, readDeclared } from '../../core/settings/schema.ts';
import type { CertificateInfo } from '../../lib/puppet/cert-status.ts';
import puppetca, { autosignProviderId } from './module.ts';
import { NotPresentError, type AutosignProvider, type CertificateProvider } from './provider.ts';
import tokenProvider from './providers/puppetca_token_whitelisting/provider.ts';

class FakeCertificates implements CertificateProvider {
  readonly kind = 'certificates';
  readonly id = 'puppetca_http_api';
  readonly calls: string[] = [];
  failure: Error | undefined;
  certificates: Record<string, CertificateInfo> = {};
  private step(call: string): void {
    this.calls.push(call);
    if (this.failure) throw this.failure;
  }
  async list(): Promise<Record<string, CertificateInfo>> {
    this.step('list');
    return this.certificates;
  }
  async sign(certname: string): Promise<void> {
    this.step(`sign ${certname}`);
  }
  async clean(certname: string): Promise<void> {
    this.step(`clean ${certname}`);
  }
}

class FakeAutosign implements AutosignProvider {
  readonly kind = 'autosign';
  readonly id: string;
  readonly calls: string[] = [];
  failure: Error | undefined;
  entries: string[] = [];
  constructor(id = 'puppetca_hostname_whitelisting') {
    this.id = id;
  }
  protected step(call: string): void {
    this.calls.push(call);
    if (this.failure) throw this.failure;
  }
  async list(): Promise<string[]> {
    this.step('list');
    return this.entries;
  }
  async add(certname: string, ttlMinutes: number | undefined): Promise<{ generated_token: string } | undefined> {
    this.step(`add ${certname} ${String(ttlMinutes)}`);
    return this.id === 'puppetca_token_whitelisting' ? { generated_token: `token-for-${certname}` } : undefined;
  }
  async remove(certname: string): Promise<void> {
    this.step(`remove ${certname}`);
  }
}

/** A token provider's fake: answers /validate with `verdict`. */
class FakeValidating extends FakeAutosign {
  verdict = true;
  readonly csrs: string[] = [];
  constructor() {
    super('puppetca_token_whitelisting');
  }
  async validateCsr(csr: Buffer): Promise<boolean> {
    this.csrs.push(csr.toString());
    this.step('validate');
    return this.verdict;
  }
}

async function mounted(t: TestContext, autosign: FakeAutosign = new FakeAutosign(), settings: Settings = {}) {
  const certificates = new FakeCertificates();
  const m = await mountModule(puppetca, { settings, providers: { [autosign.id]: autosign, puppetca_http_api: certificates } }, t);
  return { ...m, autosign, certificates };
}

const PEM = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';

test('certificates: list, sign and clean answer application/json, empty bodies included', async (t) => {
  const { app, certificates } = await mounted(t);
  certificates.certificates = {
    'h.example.test': { state: 'valid', fingerprint: 'AB:CD', serial: 4, not_before: null, not_after: null },
  };
  for (const url of ['/puppet/ca', '/puppet/ca/']) {
    const list = await app.inject({ method: 'GET', url });
    assert.equal(list.statusCode, 200);
    assert.equal(list.headers['content-type'], 'application/json');
    assert.equal(list.body, JSON.stringify(certificates.certificates));
  }
  const sign = await app.inject({ method: 'POST', url: '/puppet/ca/h.example.test' });
  assertAnswer(sign, 200, '', 'application/json');
  const clean = await app.inject({ method: 'DELETE', url: '/puppet/ca/h.example.test' });
  assertAnswer(clean, 200, '', 'application/json');
  assert.deepEqual(certificates.calls, ['list', 'list', 'sign h.example.test', 'clean h.example.test']);
});

test('a provider’s plain failure is 406 with the route’s prefix; a table error keeps its status', async (t) => {
  const { app, autosign, certificates } = await mounted(t);
  certificates.failure = new Error('Failed to open TCP connection to 127.0.0.1:1 (connect ECONNREFUSED)');
  const cases: [string, string, string][] = [
    ['GET', '/puppet/ca', 'Failed to list certificates: '],
    ['POST', '/puppet/ca/h.example.test', 'Failed to sign certificate(s) for h.example.test: '],
    ['DELETE', '/puppet/ca/h.example.test', 'Failed to remove certificate(s) for h.example.test: '],
  ];
  for (const [method, url, prefix] of cases) {
    const r = await app.inject({ method: method as 'GET', url });
    assert.equal(r.statusCode, 406, `${method} ${url}`);
    assert.equal(r.body, `${prefix}${certificates.failure.message}`);
    assert.equal(r.headers['content-type'], 'application/json');
  }
  const textual = await app.inject({ method: 'GET', url: '/puppet/ca', headers: { accept: 'text/plain' } });
  assert.equal(textual.statusCode, 406);
  assert.equal(textual.headers['content-type'], 'text/html;charset=utf-8');

  autosign.failure = new Error('EACCES: permission denied');
  const autosignCases: [string, string, string][] = [
    ['GET', '/puppet/ca/autosign', 'Failed to list autosign entries: '],
    ['POST', '/puppet/ca/autosign/h.example.test', 'Failed to enable autosign for h.example.test: '],
    ['DELETE', '/puppet/ca/autosign/h.example.test', 'Failed to remove autosign for h.example.test: '],
  ];
  for (const [method, url, prefix] of autosignCases) {
    const r = await app.inject({ method: method as 'GET', url });
    assert.equal(r.statusCode, 406, `${method} ${url}`);
    assert.equal(r.body, `${prefix}EACCES: permission denied`);
  }

  // The bulkhead's 503 (a table error of the core) passes untouched, Retry-After included.
  certificates.failure = new ProxyError(503, 'puppetca: too many concurrent requests, try again later', 'bulkhead.full', { 'retry-after': '5' });
  const busy = await app.inject({ method: 'POST', url: '/puppet/ca/h.example.test' });
  assertAnswer(busy, 503, 'puppetca: too many concurrent requests, try again later');
  assert.equal(busy.headers['retry-after'], '5');
});

test('hostname autosign: list, add (globs too), remove; a missing entry is 404 without a prefix', async (t) => {
  const { app, autosign } = await mounted(t);
  autosign.entries = ['a.example.test', '*.wild.example.test'];
  const list = await app.inject({ method: 'GET', url: '/puppet/ca/autosign' });
  assertAnswer(list, 200, '["a.example.test","*.wild.example.test"]', 'application/json');

  const add = await app.inject({ method: 'POST', url: '/puppet/ca/autosign/b.example.test' });
  assertAnswer(add, 200, '', 'application/json');
  assert.equal((await app.inject({ method: 'POST', url: '/puppet/ca/autosign/*.example.test' })).statusCode, 200);

  const removed = await app.inject({ method: 'DELETE', url: '/puppet/ca/autosign/b.example.test' });
  assertAnswer(removed, 200, '');

  autosign.failure = new NotPresentError('Attempt to remove nonexistent client autosign for c.example.test');
  const missing = await app.inject({ method: 'DELETE', url: '/puppet/ca/autosign/c.example.test' });
  assertAnswer(missing, 404, 'Attempt to remove nonexistent client autosign for c.example.test', 'application/json');
  assert.deepEqual(autosign.calls, [
    'list',
    'add b.example.test undefined',
    'add *.example.test undefined',
    'remove b.example.test',
    'remove c.example.test',
  ]);
});

test('token autosign: the token is the body, token_ttl passes when a positive integer, no globs', async (t) => {
  const autosign = new FakeValidating();
  const { app } = await mounted(t, autosign, { use_provider: 'puppetca_token_whitelisting' });
  const add = await app.inject({ method: 'POST', url: '/puppet/ca/autosign/t.example.test?token_ttl=5' });
  assertAnswer(add, 200, '{"generated_token":"token-for-t.example.test"}', 'application/json');
  const form = await app.inject({
    method: 'POST',
    url: '/puppet/ca/autosign/u.example.test',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'token_ttl=7',
  });
  assert.equal(form.statusCode, 200);
  for (const bad of ['0', '-5', 'abc', '1.5']) {
    assert.equal((await app.inject({ method: 'POST', url: `/puppet/ca/autosign/v.example.test?token_ttl=${bad}` })).statusCode, 200);
  }
  const glob = await app.inject({ method: 'POST', url: '/puppet/ca/autosign/*.example.test' });
  assertAnswer(glob, 400, /^Invalid certname "\*\.example\.test": /);
  assert.deepEqual(autosign.calls, [
    'add t.example.test 5',
    'add u.example.test 7',
    ...Array.from({ length: 4 }, () => 'add v.example.test undefined'),
  ]);
});

test('/validate: 200 or 404 with empty JSON bodies, the body read raw whatever its type, 406 on failure', async (t) => {
  const autosign = new FakeValidating();
  const { app, certificates } = await mounted(t, autosign, { use_provider: ['puppetca_token_whitelisting'] });
  // Net::HTTP labels the PEM a form: it must still arrive byte for byte.
  const ok = await app.inject({ method: 'POST', url: '/puppet/ca/validate', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: PEM });
  assertAnswer(ok, 200, '', 'application/json');
  assert.deepEqual(autosign.csrs, [PEM]);

  autosign.verdict = false;
  const refused = await app.inject({ method: 'POST', url: '/puppet/ca/validate', headers: { 'content-type': 'text/plain' }, payload: PEM });
  assertAnswer(refused, 404, '', 'application/json');

  autosign.failure = new Error('tokens.yml is not valid YAML');
  const broken = await app.inject({ method: 'POST', url: '/puppet/ca/validate', headers: { 'content-type': 'text/plain' }, payload: PEM });
  assertAnswer(broken, 406, 'Failed to validate CSR: tokens.yml is not valid YAML');

  const tooBig = await app.inject({ method: 'POST', url: '/puppet/ca/validate', headers: { 'content-type': 'text/plain' }, payload: 'x'.repeat(70_000) });
  assert.equal(tooBig.statusCode, 413);
  assert.deepEqual(certificates.calls, [], '/validate is never taken for a certname');
});

test('/validate without a validating provider is 501', async (t) => {
  const { app, autosign, certificates } = await mounted(t);
  const r = await app.inject({ method: 'POST', url: '/puppet/ca/validate', headers: { 'content-type': 'text/plain' }, payload: PEM });
  assertAnswer(r, 501, 'Provider only supports trivial autosigning');
  assert.deepEqual([...autosign.calls, ...certificates.calls], []);
});

test('hostile certnames are 400, JSON-quoted, before any provider is called', async (t) => {
  const { app, autosign, certificates } = await mounted(t);
  for (const name of ['a;b.example.test', '$(id)', 'a\nb.example.test', '-o', 'a b', "a'b", 'x|y']) {
    for (const [method, url] of [
      ['POST', `/puppet/ca/${encodeURIComponent(name)}`],
      ['DELETE', `/puppet/ca/${encodeURIComponent(name)}`],
      ['POST', `/puppet/ca/autosign/${encodeURIComponent(name)}`],
      ['DELETE', `/puppet/ca/autosign/${encodeURIComponent(name)}`],
    ] as const) {
      const r = await app.inject({ method, url });
      assert.equal(r.statusCode, 400, `${method} ${JSON.stringify(name)}`);
      assert.equal(r.body.startsWith(`Invalid certname ${JSON.stringify(name)}: `), true, r.body);
    }
  }
  assert.deepEqual([...autosign.calls, ...certificates.calls], []);
});

test('use_provider: a scalar or a list, the certificate provider appended once, exactly one autosign provider', async () => {
  const computed = (raw: Settings): Settings => {
    const s = readDeclared('puppetca.yml', puppetca.settings, raw);
    return puppetca.computeSettings ? puppetca.computeSettings(s, {} as never, 'both') : s;
  };
  const ids = (raw: Settings): string[] => puppetca.providerIds?.(computed(raw) as never) ?? [];
  assert.deepEqual(ids({}), ['puppetca_hostname_whitelisting', 'puppetca_http_api']);
  assert.deepEqual(ids({ use_provider: 'puppetca_token_whitelisting' }), ['puppetca_token_whitelisting', 'puppetca_http_api']);
  assert.deepEqual(ids({ use_provider: ['puppetca_http_api', 'puppetca_token_whitelisting', 'puppetca_http_api'] }), [
    'puppetca_token_whitelisting',
    'puppetca_http_api',
  ]);
  assert.deepEqual(computed({ use_provider: 'puppetca_hostname_whitelisting' }).use_provider, ['puppetca_hostname_whitelisting', 'puppetca_http_api']);

  const empty = computed({ use_provider: '' });
  assert.equal((await checkDeclared('puppetca', 'puppetca.yml', puppetca.settings, empty))?.message, "Parameter 'use_provider' is expected to have a non-empty value");
  assert.deepEqual(puppetca.providerIds?.(empty as never), []);

  const rule = "use_provider must name exactly one autosign provider ('puppetca_hostname_whitelisting' or 'puppetca_token_whitelisting')";
  const validate = (raw: Settings) => puppetca.validate?.(computed(raw) as never);
  assert.equal(validate({}), undefined);
  assert.deepEqual(validate({ use_provider: 'puppetca_http_api' }), { key: 'use_provider', message: rule });
  assert.deepEqual(validate({ use_provider: ['puppetca_hostname_whitelisting', 'puppetca_token_whitelisting'] }), { key: 'use_provider', message: rule });
  assert.equal(autosignProviderId(['puppetca_token_whitelisting', 'puppetca_http_api']), 'puppetca_token_whitelisting');
  await assert.rejects(mountModule(puppetca, { settings: { use_provider: 'puppetca_http_api' } }), { message: rule });
});

test('settings: token_ttl must be a positive number of minutes', async () => {
  const check = (raw: Settings) =>
    checkDeclared('puppetca_token_whitelisting', 'puppetca_token_whitelisting.yml', tokenProvider.settings, readDeclared('puppetca_token_whitelisting.yml', tokenProvider.settings, raw));
  assert.equal(await check({ token_ttl: 0.5 }), undefined);
  assert.equal((await check({ token_ttl: 0 }))?.message, 'puppetca_token_whitelisting: token_ttl must be a number of minutes above 0, got 0');
  assert.equal((await check({ token_ttl: '-5' }))?.reason, 'must be a number of minutes above 0, got -5');
});
