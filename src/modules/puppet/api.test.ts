// /puppet routes in-process (fastify inject) with a fake provider: the class listings' two formats,
// environment lookups, name validation and the error policy (404 for an unknown environment, 503
// with Retry-After while Puppet computes classes, 406 with the route's prefix for anything else).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import type { Settings } from '../../core/module.ts';
import { checkDeclared, readDeclared } from '../../core/settings/schema.ts';
import type { EnvironmentInfo } from '../../lib/puppet/classes.ts';
import puppet from './module.ts';
import { EnvironmentNotFoundError, PuppetTimeoutError, type PuppetProvider } from './provider.ts';
import puppetApiProvider from './providers/puppet_proxy_puppet_api/provider.ts';

const CLASSES = {
  files: [
    {
      path: '/etc/puppetlabs/code/environments/production/modules/motd/manifests/init.pp',
      classes: [
        {
          name: 'motd',
          params: [
            { name: 'message', default_literal: 'hello', default_source: "'hello'" },
            { name: 'ref', default_source: '$::osfamily' },
          ],
        },
      ],
    },
    { path: '/etc/puppetlabs/code/environments/production/modules/motd/manifests/config.pp', classes: [{ name: 'motd::config', params: [] }] },
    { path: '/etc/puppetlabs/code/environments/production/modules/broken/manifests/init.pp', error: 'Syntax error at line 1' },
  ],
};

class FakePuppet implements PuppetProvider {
  readonly id = 'puppet_proxy_puppet_api';
  readonly calls: string[] = [];
  failure: Error | undefined;
  envs: EnvironmentInfo[] = [
    { name: 'production', paths: ['/etc/puppetlabs/code/environments/production/modules'] },
    { name: 'development', paths: [] },
  ];
  async environments(): Promise<EnvironmentInfo[]> {
    this.calls.push('environments');
    if (this.failure) throw this.failure;
    return this.envs;
  }
  async classes(environment: string): Promise<unknown> {
    this.calls.push(`classes ${environment}`);
    if (this.failure) throw this.failure;
    return CLASSES;
  }
}

async function mounted(t: TestContext) {
  const fake = new FakePuppet();
  const m = await mountModule(puppet, { providers: { puppet_proxy_puppet_api: fake } }, t);
  return { ...m, fake };
}

test('environments: names in Puppet’s order, one environment, an unknown one is 404', async (t) => {
  const { app, fake } = await mounted(t);
  const list = await app.inject({ method: 'GET', url: '/puppet/environments' });
  assertAnswer(list, 200, '["production","development"]', 'application/json');
  const one = await app.inject({ method: 'GET', url: '/puppet/environments/production' });
  assertAnswer(one, 200, '{"name":"production","paths":["/etc/puppetlabs/code/environments/production/modules"]}', 'application/json');
  const none = await app.inject({ method: 'GET', url: '/puppet/environments/nosuch' });
  assertAnswer(none, 404, "Could not find environment 'nosuch'", 'application/json');
  assert.deepEqual(fake.calls, ['environments', 'environments', 'environments']);
});

test('classes: the legacy format and the per-file format with parse errors', async (t) => {
  const { app, fake } = await mounted(t);
  const legacy = await app.inject({ method: 'GET', url: '/puppet/environments/production/classes' });
  assert.equal(legacy.statusCode, 200);
  assert.equal(legacy.headers['content-type'], 'application/json');
  assert.deepEqual(JSON.parse(legacy.body), [
    { motd: { name: 'motd', module: null, params: { message: 'hello', ref: '${::osfamily}' } } },
    { 'motd::config': { name: 'config', module: 'motd', params: {} } },
  ]);
  const withErrors = await app.inject({ method: 'GET', url: '/puppet/environments/production/classes_and_errors' });
  assert.equal(withErrors.statusCode, 200);
  assert.equal(withErrors.headers['content-type'], 'application/json');
  const files = JSON.parse(withErrors.body) as { path: string; error?: string; classes?: { params: { default_source?: string }[] }[] }[];
  assert.equal(files.length, 3);
  assert.equal(files[0].classes?.[0].params[1].default_source, '${::osfamily}');
  assert.deepEqual(files[2], CLASSES.files[2]);
  assert.deepEqual(fake.calls, ['classes production', 'classes production']);
});

test('the provider’s errors: unknown environment 404, slow Puppet 503 + Retry-After, anything else 406 with the prefix', async (t) => {
  const { app, fake } = await mounted(t);
  for (const url of ['/puppet/environments/nosuch/classes', '/puppet/environments/nosuch/classes_and_errors']) {
    fake.failure = new EnvironmentNotFoundError('nosuch');
    const missing = await app.inject({ method: 'GET', url });
    assertAnswer(missing, 404, "Could not find environment 'nosuch'");

    fake.failure = new PuppetTimeoutError();
    const slow = await app.inject({ method: 'GET', url });
    assertAnswer(slow, 503, 'Puppet is taking too long to respond, please try again later.');
    assert.equal(slow.headers['retry-after'], '15');

    fake.failure = new Error('403 Forbidden request');
    const refused = await app.inject({ method: 'GET', url });
    assertAnswer(refused, 406, 'Failed to show puppet classes: 403 Forbidden request', 'application/json');
  }
  fake.failure = new Error('Failed to open TCP connection to 127.0.0.1:1 (connect ECONNREFUSED)');
  const list = await app.inject({ method: 'GET', url: '/puppet/environments' });
  assertAnswer(list, 406, `Failed to list puppet environments: ${fake.failure.message}`);
  const show = await app.inject({ method: 'GET', url: '/puppet/environments/production', headers: { accept: 'text/plain' } });
  assertAnswer(show, 406, `Failed to show puppet environment: ${fake.failure.message}`, 'text/html;charset=utf-8');
});

test('bad environment names are 400 before Puppet is asked; /puppet/run is 501; other paths 404', async (t) => {
  const { app, fake } = await mounted(t);
  for (const url of ['/puppet/environments/x%3Brm%20-rf', '/puppet/environments/x%3Brm%20-rf/classes', '/puppet/environments/a-b/classes_and_errors']) {
    const r = await app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 400, url);
    assert.match(r.body, /^Invalid environment name "[^"]+": may contain only letters, digits and '_'$/);
  }
  const run = await app.inject({ method: 'POST', url: '/puppet/run' });
  assertAnswer(run, 501, 'Puppetrun support has been removed in version 2.3');
  assert.equal((await app.inject({ method: 'GET', url: '/puppet/nothing' })).statusCode, 404);
  assert.deepEqual(fake.calls, []);
});

test('settings: the provider is forced; api_timeout must be a positive number of seconds', async () => {
  const computed = puppet.computeSettings?.({ use_provider: 'other' }, {} as never, 'both');
  assert.deepEqual(computed?.use_provider, ['puppet_proxy_puppet_api']);
  assert.deepEqual(puppet.providerIds?.({}), ['puppet_proxy_puppet_api']);

  const check = (raw: Settings) =>
    checkDeclared(
      'puppet_proxy_puppet_api',
      'puppet_proxy_puppet_api.yml',
      puppetApiProvider.settings,
      readDeclared('puppet_proxy_puppet_api.yml', puppetApiProvider.settings, { puppet_url: 'https://puppet.example.test:8140', puppet_ssl_ca: '/dev/null', ...raw }),
    );
  assert.equal(await check({ api_timeout: 0.5 }), undefined);
  assert.equal((await check({ api_timeout: 0 }))?.message, 'puppet_proxy_puppet_api: api_timeout must be a number of seconds above 0, got 0');
  assert.equal((await check({ puppet_url: '' }))?.message, "Setting 'puppet_url' is expected to contain a url");
});
