// Settings quirks of the reference (spec README §3.2–3.5) exercised through the module loader:
// colon and colon-less keys, YAML 1.1 booleans, enabled values, unknown providers, provider
// settings clashing with their module's, validators, schema ranges, dependencies and soft
// failures; and the lifecycle: one instance per module, close() on group failure and shutdown.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModuleLoader, findUnknownModuleFiles, parseEnabled, unknownModuleMessage } from './lifecycle.ts';
import { parseGlobalSettings } from './settings/load-global.ts';
import { defineModule, defineProvider, type ModuleDefinition, type ProviderDefinition } from './module.ts';
import { silentLogger } from './logging.ts';
import { LogBuffer } from './log-buffer.ts';
import { SettingsError } from './errors.ts';
import * as setting from './settings/schema.ts';

/** What happened, in order: creations and closes of providers and instances. */
const events: string[] = [];

const alphaSettings = setting.settings({
  use_provider: setting.string({ default: 'alpha_one', description: 'provider' }),
  ttl: setting.integer({ default: 60, minimum: 1, maximum: 3600, unit: 'seconds', description: 'ttl' }),
});

interface AlphaProvider {
  server: string;
  ttl: number;
}

const alpha = defineModule({
  name: 'alpha',
  summary: 'test module',
  prefixes: ['/alpha'],
  audience: 'foreman',
  authorize: true,
  settings: alphaSettings,
  providerIds: (s) => [s.use_provider],
  exposedSettings: ['use_provider'],
  create: (ctx, providers) => {
    const provider = providers.get(ctx.settings.use_provider) as AlphaProvider;
    events.push(`create alpha with ${provider.server}`);
    return { provider, routes: () => undefined, close: () => void events.push('close alpha') };
  },
});

function provider(id: string, settings: setting.TObject = setting.settings({ server: setting.string({ default: 'localhost', description: 'server' }) }), fail = false): ProviderDefinition {
  return defineProvider({
    id,
    module: 'alpha',
    summary: id,
    settings,
    moduleSettings: alphaSettings,
    create: (ctx) => {
      if (fail) throw new Error(`${id} cannot start`);
      events.push(`create ${id}`);
      return { server: String((ctx.settings as Record<string, unknown>).server), ttl: ctx.settings.ttl, close: () => void events.push(`close ${id}`) };
    },
  });
}

const alphaOne = provider('alpha_one');
const alphaClash = provider('alpha_clash', setting.settings({ ttl: setting.integer({ default: 5, description: 'ttl' }) }));
const alphaBroken = provider('alpha_broken', undefined, true);

const beta = defineModule({
  name: 'beta',
  summary: 'test module',
  prefixes: ['/beta'],
  audience: 'client',
  authorize: false,
  requires: ['alpha'],
  settings: setting.settings({
    url: setting.url({ description: 'url' }),
    flag: setting.boolean({ default: true, description: 'flag' }),
  }),
  create: () => ({ routes: () => undefined }),
});
const gamma = defineModule({
  name: 'gamma',
  summary: 'test module',
  prefixes: ['/gamma'],
  audience: 'client',
  authorize: false,
  settings: setting.EMPTY_SETTINGS,
  create: (ctx) => ({ routes: () => undefined, softFailure: ctx.global.foremanUrl ? undefined : 'missing :foreman_url: from configuration.' }),
});

async function load(files: Record<string, string>, modules: ModuleDefinition[] = [alpha, beta, gamma] as ModuleDefinition[], providers: ProviderDefinition[] = [alphaOne, alphaClash, alphaBroken]) {
  events.length = 0;
  const dir = await mkdtemp(join(tmpdir(), 'sp-life-'));
  await mkdir(join(dir, 'settings.d'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'settings.d', `${name}.yml`), text);
  const global = parseGlobalSettings({}, join(dir, 'settings.yml'), dir);
  const loader = new ModuleLoader({
    catalogue: { modules: new Map(modules.map((m) => [m.name, m])), providers: new Map(providers.map((p) => [p.id, p])) },
    global,
    log: silentLogger,
    signal: new AbortController().signal,
    logBuffer: new LogBuffer(10, 10),
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
  const instance = rec?.instance as unknown as { provider: AlphaProvider };
  assert.deepEqual({ ...instance.provider, close: undefined }, { server: 'ns1.example.com', ttl: 30, close: undefined });
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

test('a value outside its declared range fails the group, naming file and key', async () => {
  const l = await load({ alpha: ':enabled: true\n:ttl: 99999\n' });
  const rec = l.records.get('alpha');
  assert.equal(rec?.state, 'failed');
  assert.match(l.failedModules.alpha, /alpha: ttl must be a whole number of seconds between 1 and 3600, got 99999$/);
  assert.match(rec?.problem?.file ?? '', /settings\.d\/alpha\.yml$/);
  assert.equal(rec?.problem?.key, 'ttl');
});

test('a provider that fails to start closes the providers created before it', async () => {
  const l = await load({ alpha: ':enabled: true\n:use_provider: alpha_broken\n' });
  assert.equal(l.records.get('alpha')?.state, 'failed');
  assert.match(l.failedModules.alpha, /alpha_broken cannot start$/);
  assert.match(l.records.get('alpha')?.problem?.file ?? '', /alpha_broken\.yml$/);
  assert.deepEqual(events, []);
});

test('a module that fails after its provider was created closes that provider', async () => {
  const failing = defineModule({ ...alpha, create: () => Promise.reject(new Error('no good')) });
  const l = await load({ alpha: ':enabled: true\n' }, [failing] as ModuleDefinition[]);
  assert.equal(l.records.get('alpha')?.state, 'failed');
  assert.match(l.failedModules.alpha, /no good$/);
  assert.deepEqual(events, ['create alpha_one', 'close alpha_one']);
});

test('close() awaits every instance and provider, newest first', async () => {
  const l = await load({ alpha: ':enabled: true\n' });
  assert.deepEqual(events, ['create alpha_one', 'create alpha with localhost']);
  await l.close();
  assert.deepEqual(events, ['create alpha_one', 'create alpha with localhost', 'close alpha', 'close alpha_one']);
  assert.equal(l.records.get('alpha')?.instance, undefined);
});

test('a close() that hangs does not hold up shutdown beyond the deadline', async () => {
  const hanging = defineModule({ ...alpha, create: () => ({ routes: () => undefined, close: () => new Promise<void>(() => undefined) }) });
  const l = await load({ alpha: ':enabled: true\n' }, [hanging] as ModuleDefinition[]);
  await l.close(50);
  assert.deepEqual(events, ['create alpha_one', 'close alpha_one']);
});

test('settings.d files that enable a module nobody provides are listed; provider and known files are not', async () => {
  const loader = await load({
    alpha: ':enabled: true\n',
    alpha_one: ':server: a\n', // a provider file
    beta: ':enabled: false\n',
    openscap: ':enabled: https\n',
    remote_execution_ssh: 'enabled: true\n',
    salt: ':enabled: false\n', // unknown but not enabled
    broken: ':enabled: [\n', // unknown and unparsable: skipped, as the reference never reads it
  });
  assert.deepEqual(
    loader.unknownModuleFiles.map((f) => [f.module, f.file.endsWith(`/settings.d/${f.module}.yml`)]),
    [
      ['openscap', true],
      ['remote_execution_ssh', true],
    ],
  );
  assert.match(unknownModuleMessage(loader.unknownModuleFiles[0]), /\/settings\.d\/openscap\.yml enables module 'openscap', which this proxy does not have; ignored$/);
  assert.equal(loader.records.get('alpha')?.state, 'running');
});

test('no settings directory: nothing to report', async () => {
  assert.deepEqual(await findUnknownModuleFiles('/nonexistent/settings.d', { modules: new Map(), providers: new Map() }), []);
});

// ctx.dependency(): script gets dynflow's engine this way. The dependent waits for the dependency's
// instance, whatever order the groups are brought up in; a failed dependency rejects it.
const engineModule = (fail: boolean) =>
  defineModule({
    name: 'engine',
    summary: 'test module',
    prefixes: ['/engine'],
    audience: 'foreman',
    authorize: true,
    settings: setting.settings({}),
    create: async () => {
      await new Promise((r) => setTimeout(r, 20));
      if (fail) throw new Error('engine cannot start');
      return { routes: () => undefined, exports: { operations: ['single'] } };
    },
  });
const pluginModule = defineModule({
  name: 'plugin',
  summary: 'test module',
  prefixes: ['/plugin'],
  audience: 'foreman',
  authorize: true,
  requires: ['engine'],
  settings: setting.settings({}),
  create: async (ctx) => {
    const engine = await ctx.dependency<{ operations: string[] }>('engine');
    events.push(`plugin got ${engine.operations.join(',')}`);
    await assert.rejects(ctx.dependency('alpha'), /not in its requires/);
    return { routes: () => undefined };
  },
});

test("a module gets a required module's exports; a failed dependency fails it with its reason", async () => {
  const ok = await load({ plugin: ':enabled: true\n', engine: ':enabled: true\n' }, [pluginModule, engineModule(false)] as ModuleDefinition[]);
  assert.equal(ok.records.get('plugin')?.state, 'running');
  assert.deepEqual(events, ['plugin got single']);
  const broken = await load({ plugin: ':enabled: true\n', engine: ':enabled: true\n' }, [pluginModule, engineModule(true)] as ModuleDefinition[]);
  assert.equal(broken.records.get('engine')?.state, 'failed');
  assert.equal(broken.records.get('plugin')?.state, 'failed');
  assert.match(broken.failedModules.plugin ?? '', /'engine' required by 'plugin'/);
});
