// /salt in-process (fastify inject) with fake salt-key/salt and Salt API backends and a fake task
// engine: the answers and error texts of every route, the checks on names (the reference wrote a
// name with a newline into autosign.conf as two lines), atomic and serialised autosign changes,
// and the `salt` operation's registration and input checks. The real commands (stand-ins on PATH)
// and a Salt API stand-in over HTTPS are in test/salt/.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import { defineModule } from '../../core/module.ts';
import type { DynflowEngine, Operation } from '../dynflow/types.ts';
import salt from './module.ts';
import { saltModule } from './api.ts';
import type { KeyList, SaltCli } from './commands.ts';
import { SaltError } from './errors.ts';
import { MAX_SCRIPT_BYTES, RUN_SCRIPT_ACTION, SaltOperation } from './operation.ts';
import type { SaltApi } from './salt-api.ts';

const JSON_TYPE = 'application/json';

interface FakeCli extends SaltCli {
  calls: string[];
  fail: Error | undefined;
  highstateOk: boolean;
  keys: KeyList;
}

function fakeCli(): FakeCli {
  const cli: FakeCli = {
    calls: [],
    fail: undefined,
    highstateOk: true,
    keys: { 'web1.example.test': { state: 'accepted', fingerprint: 'aa:bb' }, 'new.example.test': { state: 'unaccepted', fingerprint: 'cc:dd' } },
    keyList: async () => {
      cli.calls.push('list');
      if (cli.fail) throw cli.fail;
      return cli.keys;
    },
    keyAccept: async (h) => {
      cli.calls.push(`accept ${h}`);
      if (cli.fail) throw cli.fail;
    },
    keyReject: async (h) => {
      cli.calls.push(`reject ${h}`);
      if (cli.fail) throw cli.fail;
    },
    keyDelete: async (h) => {
      cli.calls.push(`delete ${h}`);
      if (cli.fail) throw cli.fail;
    },
    highstate: async (h) => {
      cli.calls.push(`highstate ${h}`);
      return cli.highstateOk;
    },
  };
  return cli;
}

interface Setup {
  app: Awaited<ReturnType<typeof mountModule>>['app'];
  dir: string;
  cli: FakeCli;
  operations: Operation[];
}

async function setup(t: TestContext, opts: { api?: SaltApi | null; settings?: Record<string, unknown> } = {}): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'salt-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cli = fakeCli();
  const operations: Operation[] = [];
  const engine = { registerOperation: (op: Operation) => operations.push(op) } as unknown as DynflowEngine;
  const def = defineModule({ ...salt, create: (ctx) => saltModule(ctx, { cli, api: opts.api === undefined ? null : opts.api }) });
  const { app } = await mountModule(
    def,
    { settings: { autosign_file: join(dir, 'autosign.conf'), autosign_key_file: join(dir, 'autosign_key'), ...opts.settings }, dependencies: { dynflow: engine } },
    t,
  );
  return { app, dir, cli, operations };
}

test('autosign: list, add once, remove; comments and other lines are kept; the mode is kept', async (t) => {
  const { app, dir } = await setup(t);
  const file = join(dir, 'autosign.conf');
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/autosign' }), 200, '[]', JSON_TYPE);
  await writeFile(file, '# managed by Foreman\nold.example.test\n');
  await chmod(file, 0o640);
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/autosign/web1.example.test' }), 200, '{"message":"Added hostname successfully."}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/autosign/web1.example.test' }), 200, '{"message":"Added hostname successfully."}');
  assert.equal(await readFile(file, 'utf8'), '# managed by Foreman\nold.example.test\nweb1.example.test\n');
  assert.equal((await stat(file)).mode & 0o777, 0o640);
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/autosign' }), 200, '["old.example.test","web1.example.test"]');
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/autosign/old.example.test' }), 200, '{"message":"Removed hostname successfully."}');
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/autosign/absent.example.test' }), 200, '{"message":"Removed hostname successfully."}');
  assert.equal(await readFile(file, 'utf8'), '# managed by Foreman\nweb1.example.test\n');
});

test('autosign keys go to autosign_key_file', async (t) => {
  const { app, dir } = await setup(t);
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/autosign_key/9f86d081884c7d65' }), 200, '{"message":"Added key successfully."}');
  assert.equal(await readFile(join(dir, 'autosign_key'), 'utf8'), '9f86d081884c7d65\n');
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/autosign_key/9f86d081884c7d65' }), 200, '{"message":"Removed key successfully."}');
  assert.equal(await readFile(join(dir, 'autosign_key'), 'utf8'), '');
});

test('concurrent autosign additions are all kept (changes are serialised)', async (t) => {
  const { app, dir } = await setup(t);
  const names = Array.from({ length: 25 }, (_, i) => `host${i}.example.test`);
  const answers = await Promise.all(names.map((n) => app.inject({ method: 'POST', url: `/salt/autosign/${n}` })));
  for (const a of answers) assert.equal(a.statusCode, 200);
  const lines = (await readFile(join(dir, 'autosign.conf'), 'utf8')).trim().split('\n');
  assert.deepEqual(lines.sort(), [...names].sort());
});

test('known problem: a name with a newline or a leading "-" is refused with 400 (the reference wrote "*" into autosign.conf)', async (t) => {
  const { app, dir, cli } = await setup(t);
  for (const url of ['/salt/autosign/evil.example.test%0A*', '/salt/autosign/*', '/salt/autosign/-x', '/salt/autosign_key/a%0A*', '/salt/autosign_key/%23comment']) {
    const res = await app.inject({ method: 'POST', url });
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    assert.match(res.body, /^Invalid (minion name|autosign key) '.*' \(parameter (host|key)\): /);
  }
  await assert.rejects(readFile(join(dir, 'autosign.conf')), { code: 'ENOENT' });
  for (const [method, url] of [
    ['POST', '/salt/key/--include-all'],
    ['DELETE', '/salt/key/-a'],
    ['DELETE', '/salt/key/reject/*'],
    ['POST', '/salt/highstate/%2A'],
  ] as const) {
    assert.equal((await app.inject({ method, url })).statusCode, 400, url);
  }
  assert.deepEqual(cli.calls, []);
});

test('keys: the list by minion, accept/reject/delete answer 200 empty, failures are 406 with the reason', async (t) => {
  const { app, cli } = await setup(t);
  assertAnswer(
    await app.inject({ method: 'GET', url: '/salt/key' }),
    200,
    '{"web1.example.test":{"state":"accepted","fingerprint":"aa:bb"},"new.example.test":{"state":"unaccepted","fingerprint":"cc:dd"}}',
    JSON_TYPE,
  );
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/key/new.example.test' }), 200, '', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/key/reject/web1.example.test' }), 200, '');
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/key/web1.example.test' }), 200, '');
  assert.deepEqual(cli.calls, ['list', 'accept new.example.test', 'reject web1.example.test', 'delete web1.example.test']);
  cli.fail = new Error("salt-key exited with status 1: The key glob 'x.example.test' does not match any unaccepted keys.");
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/key/x.example.test' }), 406, /^Failed to accept salt key for x\.example\.test: salt-key exited with status 1: /);
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/key/x.example.test' }), 406, /^Failed delete salt key for x\.example\.test: /);
  assertAnswer(await app.inject({ method: 'DELETE', url: '/salt/key/reject/x.example.test' }), 406, /^Failed to reject salt key for x\.example\.test: /);
  cli.fail = new Error('Execution of salt-key failed, check log files');
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/key' }), 406, 'Failed to list keys: Execution of salt-key failed, check log files');
});

test('highstate: 200 empty when salt published the job, 500 "Check Log files" when it failed', async (t) => {
  const { app, cli } = await setup(t);
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/highstate/web1.example.test' }), 200, '');
  cli.highstateOk = false;
  assertAnswer(await app.inject({ method: 'POST', url: '/salt/highstate/web1.example.test' }), 500, 'Failed salt run for web1.example.test: Check Log files');
});

test('environments need use_api: 406 without it', async (t) => {
  const { app } = await setup(t);
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/environments' }), 406, 'Failed to list environments: You must enable the Salt API to use this feature.');
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/environments/base' }), 406, 'Failed to list states for base: You must enable the Salt API to use this feature.');
});

test('environments and states through the Salt API; its 404 is a 404 and other failures 406', async (t) => {
  const calls: string[] = [];
  let fail: Error | undefined;
  const api: SaltApi = {
    runner: async (fun, args) => {
      calls.push(`${fun} ${JSON.stringify(args ?? {})}`);
      if (fail) throw fail;
      if (fun === 'fileserver.envs') return ['base', 'dev'];
      return ['top.sls', 'apache/init.sls', 'apache/mod_ssl.sls', 'motd.sls', 'files/motd.txt', 'init.sls'];
    },
    close: async () => undefined,
  };
  const { app } = await setup(t, { api });
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/environments' }), 200, '["base","dev"]', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/environments/dev' }), 200, '["apache","apache.mod_ssl","motd","init"]');
  assert.deepEqual(calls, ['fileserver.envs {}', 'fileserver.file_list {"saltenv":"dev"}']);
  assert.equal((await app.inject({ method: 'GET', url: '/salt/environments/-dev' })).statusCode, 400);
  fail = SaltError.not_found('Received 404 from Salt API: Not Found');
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/environments/dev' }), 404, 'Received 404 from Salt API: Not Found');
  fail = new Error('Failed to query Salt API (401): Could not authenticate');
  assertAnswer(await app.inject({ method: 'GET', url: '/salt/environments/dev' }), 406, 'Failed to list states for dev: Failed to query Salt API (401): Could not authenticate');
});

test('the salt operation is registered on the task engine and checks its input', async (t) => {
  const { operations } = await setup(t);
  assert.equal(operations.length, 1);
  const op = operations[0] as SaltOperation;
  assert.equal(op.name, 'salt');
  assert.deepEqual(op.actionClasses, [RUN_SCRIPT_ACTION]);
  assert.equal(op.validate({ name: 'web1.example.test', hostname: '192.0.2.1', script: 'x' }), undefined);
  assert.equal(op.validate({ hostname: 'web1.example.test', script: 'x' }), undefined);
  assert.equal(op.validate({ name: '-L', script: 'x' })?.field, 'name');
  assert.equal(op.validate({ hostname: '*', script: 'x' })?.field, 'hostname');
  assert.equal(op.validate({ name: 'web1', script: '' })?.field, 'script');
  assert.equal(op.validate({ name: 'web1', script: 'x'.repeat(MAX_SCRIPT_BYTES + 1) })?.field, 'script');
});

test('settings rules: use_api needs api_url; api_ssl_ca needs api_ssl_verify', () => {
  const validate = salt.validate;
  assert.ok(validate);
  const base = {
    autosign_file: 'a',
    autosign_key_file: 'b',
    salt_command_user: 'root',
    use_api: false,
    api_auth: 'pam',
    saltfile: 's',
    api_ssl_verify: false,
    api_timeout: 1,
    command_timeout: 1,
    command_concurrency: 1,
    command_queue: 1,
    max_concurrent_runs: 1,
    kill_grace_period: 1,
  };
  type S = Parameters<typeof validate>[0];
  assert.equal(validate(base as S), undefined);
  assert.equal(validate({ ...base, use_api: true } as S)?.key, 'api_url');
  assert.equal(validate({ ...base, use_api: true, api_url: 'https://salt:8080' } as S), undefined);
  assert.equal(validate({ ...base, api_ssl_ca: '/ca.pem' } as S)?.key, 'api_ssl_ca');
});

// Foreman's Salt provider sends the same action class as SSH (RunScript): the engine accepts an
// action class for the operation named in the launch, whichever registered first.
test('with script (ssh) and salt both registered, both operations accept RunScript launches', async (t) => {
  const { testEngine, FakeOperation } = await import('../dynflow/test-support.ts');
  const { engine } = await testEngine(t);
  engine.registerOperation(new FakeOperation('ssh', [RUN_SCRIPT_ACTION]));
  const dir = await mkdtemp(join(tmpdir(), 'salt-engine-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const def = defineModule({ ...salt, create: (ctx) => saltModule(ctx, { cli: fakeCli(), api: null }) });
  await mountModule(def, { settings: { autosign_file: join(dir, 'a'), autosign_key_file: join(dir, 'k') }, dependencies: { dynflow: engine } }, t);
  await engine.start();
  const item = { action_class: RUN_SCRIPT_ACTION, action_input: { name: 'web1.example.test', hostname: 'web1.example.test', script: 'x: {}' } };
  const ctx = { callbackHost: 'http://proxy.example.test' };
  await engine.launchBatch('ssh', { [randomUUID()]: item }, ctx);
  await engine.launchBatch('salt', { [randomUUID()]: item }, ctx);
});
