// Settings quirks of the reference (spec README §3.2–3.5) exercised through the module loader:
// colon and colon-less keys, YAML 1.1 booleans, enabled values, unknown providers, provider
// settings clashing with their module's, validators, dependencies and soft failures.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModuleLoader, parseEnabled } from './lifecycle.ts';
import { parseGlobalSettings } from './settings/load-global.ts';
import { defineModule, defineProvider, type ModuleDefinition, type ProviderDefinition } from './module.ts';
import { silentLogger } from './logging.ts';
import { SettingsError } from './errors.ts';

const noRoutes = (): void => undefined;

const alpha = defineModule({
  name: 'alpha',
  prefixes: ['/alpha'],
  audience: 'foreman',
  authorize: true,
  settings: { use_provider: { default: 'alpha_one', type: 'string' }, ttl: { default: 60, type: 'integer' } },
  providerIds: (s) => [String(s.use_provider)],
  exposedSettings: ['use_provider'],
  routes: noRoutes,
});
const alphaOne = defineProvider({
  id: 'alpha_one',
  module: 'alpha',
  settings: { server: { default: 'localhost', type: 'string' } },
  create: (ctx) => ({ server: ctx.settings.server, ttl: ctx.settings.ttl }),
});
const alphaClash = defineProvider({
  id: 'alpha_clash',
  module: 'alpha',
  settings: { ttl: { default: 5, type: 'integer' } },
  create: () => ({}),
});
const beta = defineModule({
  name: 'beta',
  prefixes: ['/beta'],
  audience: 'client',
  authorize: false,
  requires: ['alpha'],
  settings: { url: { checks: ['url'] }, flag: { default: true, checks: ['boolean'] } },
  routes: noRoutes,
});
const gamma = defineModule({
  name: 'gamma',
  prefixes: ['/gamma'],
  audience: 'client',
  authorize: false,
  settings: {},
  softCheck: (ctx) => (ctx.global.foremanUrl ? undefined : 'missing :foreman_url: from configuration.'),
  routes: noRoutes,
});

async function load(files: Record<string, string>, modules: ModuleDefinition[] = [alpha, beta, gamma], providers: ProviderDefinition[] = [alphaOne, alphaClash]) {
  const dir = await mkdtemp(join(tmpdir(), 'sp-life-'));
  await mkdir(join(dir, 'settings.d'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'settings.d', `${name}.yml`), text);
  const global = parseGlobalSettings({}, join(dir, 'settings.yml'), dir);
  const loader = new ModuleLoader({
    catalogue: { modules: new Map(modules.map((m) => [m.name, m])), providers: new Map(providers.map((p) => [p.id, p])) },
    global,
    log: silentLogger,
    signal: new AbortController().signal,
  });
  try {
    await loader.load();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return loader;
}

test('enabled values: true/yes/on, http, https; anything else disables', () => {
  assert.equal(parseEnabled(true), 'both');
  assert.equal(parseEnabled('http'), 'http');
  assert.equal(parseEnabled('https'), 'https');
  for (const v of [false, 'HTTP', 'true', 1, null, undefined]) assert.equal(parseEnabled(v), false);
});

test('colon keys, colon-less keys and YAML 1.1 booleans all enable a module', async () => {
  for (const text of [':enabled: true\n', 'enabled: true\n', ':enabled: yes\n', ':enabled: on\n']) {
    const l = await load({ alpha: text });
    assert.equal(l.records.get('alpha')?.state, 'running', text);
  }
  const quoted = await load({ alpha: ":enabled: 'true'\n" });
  assert.equal(quoted.records.get('alpha')?.state, 'disabled');
});

test('provider settings merge with the module settings and reach create()', async () => {
  const l = await load({ alpha: ':enabled: true\n:ttl: 30\n', alpha_one: ':server: ns1.example.com\n' });
  const rec = l.records.get('alpha');
  assert.equal(rec?.state, 'running');
  assert.deepEqual(rec?.ctx?.providers[0], { server: 'ns1.example.com', ttl: 30 });
  assert.deepEqual(rec?.providerSettings[0], { use_provider: 'alpha_one', ttl: 30, server: 'ns1.example.com' });
});

test('unknown provider fails the group with the reference message', async () => {
  const l = await load({ alpha: ':enabled: true\n:use_provider: alpha_nope\n' });
  assert.equal(l.records.get('alpha')?.state, 'failed');
  assert.equal(
    l.failedModules.alpha,
    "Disabling all modules in the group ['alpha_nope', 'alpha'] due to a failure in one of them: following providers are not available ['alpha_nope']",
  );
});

test('a provider setting that clashes with its module fails the group', async () => {
  const l = await load({ alpha: ':enabled: true\n:use_provider: alpha_clash\n' });
  assert.equal(l.records.get('alpha')?.state, 'failed');
  assert.match(l.failedModules.alpha_clash, /Provider 'alpha_clash' settings conflict with the main plugin's settings: \['ttl'\]$/);
});

test('validators fail only their group; dependencies follow', async () => {
  const l = await load({ alpha: ':enabled: true\n:ttl: ""\n', beta: ':enabled: true\n:url: http://x\n', gamma: ':enabled: true\n' });
  assert.equal(l.records.get('alpha')?.state, 'failed');
  assert.match(l.failedModules.alpha, /Parameter 'ttl' is expected to have a non-empty value$/);
  assert.equal(l.records.get('beta')?.state, 'failed');
  assert.match(l.failedModules.beta, /'alpha' required by 'beta' could not be found\.$/);
  // A soft check records a failure but the module keeps running (the reference's legacy hook).
  assert.equal(l.records.get('gamma')?.state, 'running');
  assert.equal(l.failedModules.gamma, 'missing :foreman_url: from configuration.');
});

test('url and boolean validators use the reference messages', async () => {
  const a = await load({ alpha: ':enabled: true\n', beta: ':enabled: true\n:url: not a url\n' });
  assert.match(a.failedModules.beta, /Setting 'url' is missing a scheme$/);
  const b = await load({ alpha: ':enabled: true\n', beta: ':enabled: true\n:url: http://x\n:flag: maybe\n' });
  assert.match(b.failedModules.beta, /Setting 'flag' is expected to be true\/false$/);
  const c = await load({ alpha: ':enabled: true\n', beta: ':enabled: true\n' });
  assert.match(c.failedModules.beta, /Setting 'url' is expected to contain a url$/);
});

test('a value of the wrong type stops loading with file and key named', async () => {
  await assert.rejects(load({ alpha: ':enabled: true\n:ttl: soon\n' }), (err: unknown) => {
    assert.ok(err instanceof SettingsError);
    assert.equal(err.key, 'ttl');
    assert.match(err.message, /alpha\.yml: ttl: expected an integer, got string "soon"$/);
    return true;
  });
});

test('bad YAML names the file and line', async () => {
  await assert.rejects(load({ alpha: ':enabled: true\n  bad: [\n' }), /alpha\.yml: invalid YAML \(line \d+\)/);
});

test('disabled modules are not validated', async () => {
  const l = await load({ alpha: ':enabled: false\n:ttl: ""\n' });
  assert.equal(l.records.get('alpha')?.state, 'disabled');
  assert.deepEqual(l.failedModules, {});
});
