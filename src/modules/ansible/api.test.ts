// The ansible module in-process: the listing routes (fastify inject) against a roles tree of the
// test, the checks of a host's input, the event routing and exit statuses, the batch inventory,
// and the operation on the real dynflow engine (node:sqlite, no sockets) when ansible-runner is
// missing. The runs themselves are tested against real sshd in test/ansible/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule } from '../../core/inject.ts';
import { silentLogger } from '../../core/logging.ts';
import { newTaskRecord, type DynflowEngine, type Operation } from '../dynflow/types.ts';
import { testEngine, until } from '../dynflow/test-support.ts';
import { Registry } from 'prom-client';
import ansible from './module.ts';
import { ansibleMetrics } from './api.ts';
import { EventRouter, eventTime } from './events.ts';
import { PLAYBOOK_ACTION, buildInventory, knownHostsNames, validateHostInput } from './inventory.ts';
import { DEFAULT_ROLES_PATH, pathsFromConfig, resolvePaths } from './listing.ts';
import { AnsibleOperation, cmdlineOf } from './operation.ts';

function fakeEngine(): DynflowEngine & { ops: Operation[] } {
  const ops: Operation[] = [];
  return { ops, registerOperation: (op: Operation) => ops.push(op), operations: () => ops.map((o) => o.name) } as unknown as DynflowEngine & { ops: Operation[] };
}

async function tree(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ansible-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'roles/ntp/defaults/main.yml': 'ntp_servers: [0.pool.ntp.org]\n',
    'roles/ntp/defaults/sub/more.yaml': 'ntp_more: 1\n',
    'roles/web/tasks/main.yml': '- debug: msg=hi\n',
    'roles/bad/defaults/main.yml': 'key: [unclosed\n',
    'roles/README.md': 'a file is not a role\n',
    'other/ntp/defaults/main.yml': 'ntp_servers: [shadowed]\n',
    'coll/ansible_collections/ns/c/roles/r1/defaults/main.yml': 'r1: true\n',
    'coll/ansible_collections/ns/c/playbooks/site.yml': '- hosts: all\n',
    'coll/ansible_collections/ns/c/playbooks/site2.yaml': '- hosts: web\n',
  };
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  await writeFile(join(dir, 'ansible.cfg'), `[defaults]\n# roles_path = /commented\nroles_path = ${dir}/roles:${dir}/other:${dir}/missing\ncollections_paths = ${dir}/coll\n`);
  return dir;
}

test('listing routes: roles, variables, playbooks; unknown and bad names are clear errors', async (t) => {
  const dir = await tree(t);
  const engine = fakeEngine();
  const m = await mountModule(ansible, { settings: { ansible_config_file: join(dir, 'ansible.cfg') }, dependencies: { dynflow: engine } }, t);
  assert.deepEqual(
    engine.ops.map((o) => o.name),
    ['ansible-runner'],
  );
  const get = async (url: string): Promise<[number, unknown]> => {
    const r = await m.app.inject({ method: 'GET', url });
    return [r.statusCode, JSON.parse(r.body)];
  };
  assert.deepEqual(await get('/ansible/roles'), [200, ['bad', 'ntp', 'web', 'ns.c.r1']]);
  assert.deepEqual(await get('/ansible/roles/variables'), [200, { ntp: { ntp_servers: ['0.pool.ntp.org'], ntp_more: 1 }, web: {}, 'ns.c.r1': { r1: true } }]);
  assert.deepEqual(await get('/ansible/roles/ntp/variables'), [200, { ntp: { ntp_servers: ['0.pool.ntp.org'], ntp_more: 1 } }]);
  assert.deepEqual(await get('/ansible/roles/ns.c.r1/variables'), [200, { 'ns.c.r1': { r1: true } }]);
  // Defaults that do not parse: nothing to import, as the plugin answers.
  assert.deepEqual(await get('/ansible/roles/bad/variables'), [200, {}]);
  const [status, body] = await get('/ansible/roles/nope/variables');
  assert.equal(status, 404);
  assert.match((body as { error: string }).error, /^role_name: no role 'nope' in the roles paths \(.*\/roles:.*\/other:.*\/missing\)$/);
  const [bad, badBody] = await get('/ansible/roles/..%2Fetc/variables');
  assert.equal(bad, 400);
  assert.match((badBody as { error: string }).error, /^role_name: /);
  assert.deepEqual(await get('/ansible/playbooks_names'), [200, ['ns.c.site', 'ns.c.site2']]);
  assert.deepEqual(await get('/ansible/playbooks/ns.c.site2'), [200, [{ name: 'ns.c.site2', playbooks_content: '- hosts: web\n' }]]);
  assert.deepEqual(await get('/ansible/playbooks/ns.c.site,ns.c.nope'), [200, [{ name: 'ns.c.site', playbooks_content: '- hosts: all\n' }]]);
  const [badPb, badPbBody] = await get('/ansible/playbooks/site');
  assert.equal(badPb, 400);
  assert.match((badPbBody as { error: string }).error, /^playbooks_names: 'site' is not a playbook name/);
});

test('no ansible.cfg: the default paths, and the routes still answer (spec §3.5, Foreman #34605)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ansible-nocfg-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const paths = await resolvePaths(join(dir, 'missing.cfg'));
  assert.deepEqual(paths.roles, DEFAULT_ROLES_PATH);
  assert.match(paths.note ?? '', /ENOENT/);
  const m = await mountModule(ansible, { settings: { ansible_config_file: join(dir, 'missing.cfg') }, dependencies: { dynflow: fakeEngine() } }, t);
  assert.equal((await m.app.inject({ method: 'GET', url: '/ansible/roles' })).statusCode, 200);
  assert.deepEqual(pathsFromConfig('[defaults]\n#roles_path=/x\n  roles_path = ~/r:/s\ncollections_path=/c\n').roles?.[1], '/s');
  assert.deepEqual(pathsFromConfig('collections_path=/c\n').collections, ['/c']);
});

test('working_dir must exist', async () => {
  await assert.rejects(mountModule(ansible, { settings: { working_dir: '/nonexistent/ansible-work' }, dependencies: { dynflow: fakeEngine() } }), /Working directory does not exist: \/nonexistent\/ansible-work/);
});

function input(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    script: '- hosts: all\n  roles: [web]\n',
    ansible_inventory: { all: { hosts: [name], vars: { x: 1 } }, _meta: { hostvars: { [name]: { ansible_host: '10.0.0.1', ansible_port: 2222, foreman: { foreman_interfaces: [{ ip: '10.0.0.1', ip6: '', name }] } } } } },
    ...extra,
  };
}

test('host input: each problem names its field', () => {
  assert.equal(validateHostInput(input('a.example.com')), undefined);
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ ...input('a'), name: '' }, 'name', /required/],
    [{ ...input('a'), name: 'a b' }, 'name', /not a host name/],
    [{ ...input('a'), script: undefined }, 'script', /required/],
    [{ ...input('a'), script: 'a: [b' }, 'script', /not valid YAML/],
    [{ ...input('a'), script: 'hosts: all' }, 'script', /not a playbook/],
    [{ ...input('a'), ansible_inventory: 'x' }, 'ansible_inventory', /required/],
    [{ ...input('a'), ansible_inventory: { _meta: { hostvars: { b: {} } } } }, 'ansible_inventory._meta.hostvars.a', /variables of host 'a'/],
    [{ ...input('a'), verbosity_level: '9' }, 'verbosity_level', /0 to 4/],
    [{ ...input('a'), tags: "a,b'c" }, 'tags', /not a tag name/],
    [{ ...input('a'), tags_flag: 'maybe' }, 'tags_flag', /include or exclude/],
    [{ ...input('a'), secrets: { 'per-host': 'x' } }, 'secrets.per-host', /object/],
  ];
  for (const [bad, field, message] of cases) {
    const problem = validateHostInput(bad);
    assert.equal(problem?.field, field, JSON.stringify(bad));
    assert.match(problem?.message ?? '', message);
  }
});

test('inventory: job passwords override per-host ones (spec §3.5, Foreman #36448); the proxy key by default', () => {
  const inv = buildInventory(
    [
      { name: 'a', input: input('a', { first_execution: true }), secrets: { effective_user_password: 'job-become', 'per-host': { a: { ansible_password: 'host-a', ansible_become_password: 'host-a-become' } } } },
      { name: 'b', input: input('b'), secrets: { 'per-host': { b: { ansible_password: '', ansible_become_password: 'host-b-become' } } } },
    ],
    '/keys/id_rsa_foreman_proxy',
  );
  assert.deepEqual(inv.all.vars, { x: 1 });
  assert.equal(inv.all.hosts.a?.ansible_password, 'host-a');
  assert.equal(inv.all.hosts.a?.ansible_become_password, 'job-become');
  assert.equal('ansible_password' in (inv.all.hosts.b ?? {}), false);
  assert.equal(inv.all.hosts.b?.ansible_become_password, 'host-b-become');
  assert.equal(inv.all.hosts.a?.ansible_ssh_private_key_file, '/keys/id_rsa_foreman_proxy');
  assert.equal((inv.all.hosts.a?.foreman as { first_execution: boolean }).first_execution, true);
  assert.deepEqual(knownHostsNames(inv.all.hosts.a ?? {}), ['[10.0.0.1]:2222', '[a]:2222']);
});

test('ansible-runner command line: tags, check and diff modes', () => {
  assert.equal(cmdlineOf({ tags: 'a, b', tags_flag: 'include', check_mode: true, remote_execution_command: false, diff_mode: true }), '--tags a,b --check --diff');
  assert.equal(cmdlineOf({ tags: ['x'], tags_flag: 'exclude', check_mode: true, remote_execution_command: true }), '--skip-tags x');
  assert.equal(cmdlineOf({ tags: '', job_check_mode: true }), '--check');
});

const ev = (event: string, host: string | undefined, stdout = '', data: Record<string, unknown> = {}): Record<string, unknown> => ({
  event,
  stdout,
  created: '2026-01-05T10:00:00.500000',
  event_data: { ...(host ? { host } : {}), ...data },
});

test('events: per-host output, recap lines to their host, exit statuses per host (spec §3.5, Foreman #36130)', () => {
  const r = new EventRouter(['web1', 'web10', 'db', 'gone', 'skipped']);
  assert.equal(eventTime('2026-01-05T10:00:00.500000'), Date.UTC(2026, 0, 5, 10, 0, 0, 500) / 1000);
  assert.deepEqual(
    r.handle(ev('playbook_on_task_start', undefined, 'TASK [x]')).map((x) => x.host),
    [undefined],
  );
  assert.deepEqual(
    r.handle(ev('runner_on_ok', 'web1', 'ok: [web1]')).map((x) => [x.host, x.entry.output]),
    [['web1', 'ok: [web1]\n']],
  );
  r.handle(ev('runner_on_failed', 'web10', 'fatal: [web10]'));
  r.handle(ev('runner_on_failed', 'db', 'fatal: [db] ignored', { ignore_errors: true }));
  r.handle(ev('runner_on_unreachable', 'gone', 'unreachable'));
  // An event of a host not in the batch is everyone's.
  assert.deepEqual(
    r.handle(ev('runner_on_ok', 'stranger', 'ok: [stranger]')).map((x) => x.host),
    [undefined],
  );
  const recap = '\r\nPLAY RECAP ****\r\n\u001b[0;32mweb1\u001b[0m   : ok=1\r\nweb10   : failed=1\r\ndb      : ok=1\r\ngone : unreachable=1\r\n';
  const routed = r.handle(
    ev('playbook_on_stats', undefined, recap, {
      processed: { web1: 1, web10: 1, db: 1, gone: 1 },
      failures: { web10: 1 },
      dark: { gone: 1 },
      rescued: {},
    }),
  );
  assert.deepEqual(
    routed.map((x) => x.host),
    [undefined, 'web1', 'web10', 'db', 'gone'],
  );
  const run = { code: 2, aborted: false };
  assert.deepEqual(
    ['web1', 'web10', 'db', 'gone', 'skipped'].map((h) => r.exitStatus(h, run)),
    [0, 2, 0, 1, 0],
  );
  assert.equal(r.processed('skipped'), false);
  assert.equal(r.exitStatus('web1', { code: null, aborted: true }), 2);
});

test('events: a rescued failure succeeds; an error event fails the hosts still at 0; no recap uses the exit code', () => {
  const rescued = new EventRouter(['a']);
  rescued.handle(ev('runner_on_failed', 'a', 'fatal'));
  rescued.handle(ev('playbook_on_stats', undefined, 'PLAY RECAP\na : ok=1', { processed: { a: 1 }, failures: {}, rescued: { a: 1 } }));
  assert.equal(rescued.exitStatus('a', { code: 0, aborted: false }), 0);
  const error = new EventRouter(['a', 'b']);
  error.handle(ev('runner_on_ok', 'a', 'ok'));
  error.handle(ev('runner_on_unreachable', 'b', 'x'));
  error.handle(ev('error', undefined, 'boom'));
  assert.deepEqual([error.exitStatus('a', { code: 1, aborted: false }), error.exitStatus('b', { code: 1, aborted: false })], [4, 1]);
  const crashed = new EventRouter(['a']);
  assert.equal(crashed.exitStatus('a', { code: 1, aborted: false }), 1);
  assert.equal(crashed.exitStatus('a', { code: null, aborted: false }), 'EXCEPTION');
});

for (const withEnvFile of [false, true]) {
  test(`a missing ansible-runner fails every host of the batch with what to install (spec §3.5)${withEnvFile ? ', also when the environment file could have set PATH' : ''}`, async (t) => {
    const { engine } = await testEngine(t);
    const workDir = await mkdtemp(join(tmpdir(), 'ansible-op-'));
    t.after(() => rm(workDir, { recursive: true, force: true }));
    const envFile = join(workDir, '..', `${workDir.split('/').pop() as string}.env`);
    if (withEnvFile) {
      await writeFile(envFile, 'export ANSIBLE_FORKS=5\n');
      t.after(() => rm(envFile, { force: true }));
    }
    const op = new AnsibleOperation({
      engine,
      log: silentLogger,
      workingDir: workDir,
      environmentFile: withEnvFile ? envFile : '/nonexistent/ansible.env',
      runnerCommand: '/nonexistent/bin/ansible-runner',
      killGraceMs: 100,
      gatherMs: 100,
      paths: () => resolvePaths('/nonexistent/ansible.cfg'),
      identityKeyFile: () => '/nonexistent/id',
      foremanEnv: {},
    });
    engine.registerOperation(op);
    await engine.start();
    const ids = ['3b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c11', '3b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c12'];
    await engine.launchBatch('ansible-runner', Object.fromEntries(ids.map((id, i) => [id, { action_class: PLAYBOOK_ACTION, action_input: input(`h${i}`) }])), { callbackHost: 'https://proxy' });
    const stopped = async (): Promise<boolean> => [...(await engine.store.states(ids)).values()].filter((s) => s.state === 'stopped').length === ids.length;
    await until(stopped, 'both hosts to stop');
    for (const id of ids) {
      const task = await engine.store.get(id);
      assert.notEqual(task?.exitStatus, 0);
      const out = (await engine.outputOf(id)).map((e) => e.output).join('');
      assert.match(out, /\/nonexistent\/bin\/ansible-runner was not found on the proxy .*python3-ansible-runner/);
    }
    assert.deepEqual(await readdir(workDir), []);
  });
}

test('recovery finishes the whole batch of a dead process once, with a clear message', async (t) => {
  // As with a shared store: the engine recovers nothing by itself at start; the test asks.
  const { engine, store } = await testEngine(t, { recoverAllAtStart: false });
  const op = new AnsibleOperation({
    engine,
    log: silentLogger,
    workingDir: undefined,
    environmentFile: '/nonexistent/ansible.env',
    runnerCommand: 'ansible-runner',
    killGraceMs: 100,
    gatherMs: 0,
    paths: () => resolvePaths('/nonexistent/ansible.cfg'),
    identityKeyFile: () => '/nonexistent/id',
    foremanEnv: {},
  });
  engine.registerOperation(op);
  // A batch as a killed process left it: two hosts running there, one in a live replica.
  const ids = ['4b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c11', '4b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c12', '4b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c13'];
  const parentId = '4b0c6a7e-2f3a-4a0e-9a55-0d7d6f0f9c10';
  const common = { operation: 'ansible-runner', sealedSecrets: null, callback: null, state: 'running' as const, startedAt: Date.now() };
  await store.insertBatch(
    newTaskRecord({ ...common, id: parentId, kind: 'batch', parentId: null, actionClass: 'Proxy::Dynflow::Action::Batch', input: {} }),
    ids.map((id, i) => newTaskRecord({ ...common, id, kind: 'task', parentId, actionClass: PLAYBOOK_ACTION, input: input(`h${i}`), owner: i < 2 ? 'dead-replica' : 'live-replica' })),
  );
  await engine.start();
  const first = await engine.handle(ids[0] as string);
  assert.ok(first);
  await op.recover(first);
  await op.recover((await engine.handle(ids[1] as string)) as NonNullable<typeof first>);
  for (const id of ids.slice(0, 2)) {
    const task = await store.get(id);
    assert.deepEqual([task?.state, task?.exitStatus], ['stopped', 'EXCEPTION']);
    const lines = (await engine.outputOf(id)).map((e) => e.output);
    assert.equal(lines.filter((l) => /replica dead-replica\) stopped while this Ansible run was in progress/.test(l)).length, 1, lines.join('\n'));
  }
  // A host of the batch that another (live) process runs is not touched.
  assert.equal((await store.get(ids[2] as string))?.state, 'running');
});

test('metrics: runs by outcome, running processes, host results; a second instance counts on', async () => {
  const registry = new Registry();
  const m = ansibleMetrics(registry);
  m.runStarted();
  m.hostResult(0);
  m.hostResult(2);
  m.hostResult('EXCEPTION');
  const again = ansibleMetrics(registry);
  again.runStopped();
  again.runEnded('timeout');
  const text = await registry.metrics();
  assert.match(text, /smart_proxy_ansible_runs_total\{result="timeout"\} 1/);
  assert.match(text, /smart_proxy_ansible_running_runs 0/);
  assert.match(text, /smart_proxy_ansible_host_results_total\{exit_status="0"\} 1/);
  assert.match(text, /smart_proxy_ansible_host_results_total\{exit_status="other"\} 1/);
});
