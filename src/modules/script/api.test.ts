// The script module without sockets: /ssh routes through inject(), the pull-host job logic
// (ownership, update shapes, a bad update refused without killing the job), the `ssh` operation's
// input checks and pull-mode run/cancel, and the start-up checks. The engine is a small fake over
// the real node:sqlite task store (in memory); the real engine and daemons are in test/script/.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import { parseGlobalSettings } from '../../core/settings/load-global.ts';
import { silentLogger } from '../../core/logging.ts';
import { SqliteTaskStore } from '../dynflow/store/sqlite.ts';
import type { DynflowEngine, ExitStatus, Operation, OutputEntry, PlanResult, SendOptions, TaskHandle, TaskRecord, WorkQueue } from '../dynflow/types.ts';
import script, { type ScriptSettings } from './module.ts';
import { expandHome, startupProblem } from './api.ts';
import { CANCEL_GRACE_QUEUE, MESSAGES, PICKUP_DEADLINE_QUEUE, RUN_SCRIPT_ACTION, ScriptOperation, pullHostId } from './operation.ts';
import { PullJobs } from './pull-jobs.ts';
import { parseUpdate } from './pull-updates.ts';
import type { NotificationDispatcher, Publisher, YggMessage } from './pull/types.ts';

// ---- a fake engine over the real sqlite store ------------------------------------------------

class FakeQueue implements WorkQueue {
  readonly sent: Array<{ queue: string; data: Record<string, unknown>; opts?: SendOptions }> = [];
  readonly cancelled: string[] = [];
  readonly workers = new Map<string, (job: { id: string; data: Record<string, unknown>; attempt: number }) => Promise<void>>();
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async send(queue: string, data: Record<string, unknown>, opts?: SendOptions): Promise<string> {
    this.sent.push({ queue, data, opts });
    return String(this.sent.length);
  }
  async cancelByKey(queue: string, key: string): Promise<void> {
    this.cancelled.push(`${queue} ${key}`);
  }
  async work(queue: string, _c: number, handler: (job: { id: string; data: Record<string, unknown>; attempt: number }) => Promise<void>): Promise<void> {
    this.workers.set(queue, handler);
  }
  /** Run the timer job that was queued last on `queue`, as if it came due. */
  async fire(queue: string): Promise<void> {
    const job = [...this.sent].reverse().find((j) => j.queue === queue);
    assert.ok(job, `nothing was queued on ${queue}`);
    await this.workers.get(queue)?.({ id: 'x', data: job.data, attempt: 1 });
  }
}

class FakeEngine implements DynflowEngine {
  readonly store = new SqliteTaskStore({ path: ':memory:' });
  readonly queue = new FakeQueue();
  readonly replicaId = 'replica-a';
  readonly ops: Operation[] = [];
  registerOperation(op: Operation): void {
    this.ops.push(op);
  }
  operations(): string[] {
    return this.ops.map((o) => o.name);
  }
  async handle(taskId: string): Promise<TaskHandle | undefined> {
    const task = await this.store.get(taskId);
    if (!task) return undefined;
    const store = this.store;
    return {
      task,
      secrets: () => ({}),
      output: (entries: readonly Omit<OutputEntry, 'id'>[]) => store.appendOutput(taskId, entries, 1 << 20),
      async setOutputExtra(extra: Record<string, unknown>) {
        const now = await store.get(taskId);
        await store.update(taskId, { outputExtra: { ...now?.outputExtra, ...extra } });
      },
      async finish(exitStatus: ExitStatus, result?: PlanResult) {
        const r = result ?? (exitStatus === 0 ? 'success' : 'error');
        const done = await store.update(taskId, { state: 'stopped', result: r, exitStatus, endedAt: Date.now() }, ['running', 'planned', 'pending']);
        return done !== undefined;
      },
      signal: new AbortController().signal,
    };
  }
  async addTask(input: Record<string, unknown>, id = crypto.randomUUID()): Promise<TaskRecord> {
    const task: TaskRecord = {
      id,
      kind: 'task',
      parentId: null,
      operation: 'ssh',
      actionClass: RUN_SCRIPT_ACTION,
      state: 'running',
      result: 'pending',
      input,
      sealedSecrets: null,
      callback: null,
      createdAt: Date.now(),
      startedAt: Date.now(),
      endedAt: null,
      exitStatus: null,
      exitStatusTimestamp: null,
      outputExtra: {},
      owner: this.replicaId,
      droppedOutputBytes: 0,
      abortRequested: null,
    };
    await this.store.insertTask(task);
    return task;
  }
}

class FakeDispatcher implements NotificationDispatcher {
  readonly events: string[] = [];
  add(uuid: string): void {
    this.events.push(`add ${uuid}`);
  }
  picked(uuid: string): void {
    this.events.push(`picked ${uuid}`);
  }
  done(uuid: string): void {
    this.events.push(`done ${uuid}`);
  }
  runningJobs(): string[] {
    return [];
  }
  stats() {
    return { pending: 0, hot: 0, cold: 0, running: 0, waitingResend: 0 };
  }
  async close(): Promise<void> {}
}

class FakePublisher implements Publisher {
  readonly messages: Array<{ hostId: string; message: YggMessage }> = [];
  async publish(hostId: string, message: YggMessage): Promise<void> {
    this.messages.push({ hostId, message });
  }
  async close(): Promise<void> {}
}

async function newEngine(t: TestContext): Promise<FakeEngine> {
  const engine = new FakeEngine();
  await engine.store.open();
  t.after(() => engine.store.close());
  return engine;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'script-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function pullSetup(engine: FakeEngine, mqtt: boolean) {
  const dispatcher = new FakeDispatcher();
  const publisher = new FakePublisher();
  const operation = new ScriptOperation({
    mode: mqtt ? 'pull-mqtt' : 'pull',
    engine,
    log: silentLogger,
    runner: () => Promise.reject(new Error('no runner in pull mode')),
    privateKey: async () => undefined,
    defaults: { remoteWorkingDir: '/var/tmp', cleanup: true },
    dispatcher: () => (mqtt ? dispatcher : undefined),
    publisher: () => (mqtt ? publisher : undefined),
    cancelGraceSeconds: 30,
  });
  const jobs = new PullJobs({ engine, operation, dispatcher: () => (mqtt ? dispatcher : undefined) });
  return { operation, jobs, dispatcher, publisher };
}

const HOST_INPUT = {
  hostname: 'web1.example.com',
  script: 'echo hello\r\n',
  effective_user: 'admin',
  proxy_url: 'https://proxy.example.com:9090/',
  time_to_pickup: 60,
};

async function startPullTask(engine: FakeEngine, operation: ScriptOperation, input: Record<string, unknown> = HOST_INPUT) {
  const task = await engine.addTask(input);
  await operation.run((await engine.handle(task.id)) as TaskHandle);
  const job = await engine.store.pullJobForTask(task.id);
  assert.ok(job);
  return { task, job };
}

async function outputOf(engine: FakeEngine, taskId: string): Promise<string[]> {
  return (await engine.store.readOutput(taskId)).entries.map((e) => `${e.output_type}: ${e.output}`);
}

// ---- routes --------------------------------------------------------------------------------

test('GET /ssh/pubkey answers the raw public key; a missing key is 404 with a JSON error', async (t) => {
  const dir = await tempDir(t);
  const key = join(dir, 'id_rsa_foreman_proxy');
  const engine = await newEngine(t);
  const mount = (file: string) => mountModule(script, { settings: { mode: 'pull', ssh_identity_key_file: file }, dependencies: { dynflow: engine } }, t);
  await writeFile(`${key}.pub`, 'ssh-ed25519 AAAAC3Nza proxy@example\n');
  const { app } = await mount(key);
  assertAnswer(await app.inject({ method: 'GET', url: '/ssh/pubkey' }), 200, 'ssh-ed25519 AAAAC3Nza proxy@example\n');
  const missing = await mount(join(dir, 'absent'));
  const res = await missing.app.inject({ method: 'GET', url: '/ssh/pubkey' });
  assertAnswer(res, 404, JSON.stringify({ error: `SSH public key file ${join(dir, 'absent')}.pub doesn't exist` }), 'application/json');
});

test('GET /ssh/ca_pubkey is empty when no CA is configured, the CA key when one is', async (t) => {
  const dir = await tempDir(t);
  const engine = await newEngine(t);
  const none = await mountModule(script, { settings: { mode: 'pull' }, dependencies: { dynflow: engine } }, t);
  assertAnswer(await none.app.inject({ method: 'GET', url: '/ssh/ca_pubkey' }), 200, '');
  await writeFile(join(dir, 'ca.pub'), 'ssh-rsa AAAACA ca\n');
  const withCa = await mountModule(script, { settings: { mode: 'pull', ssh_user_ca_public_key_file: join(dir, 'ca.pub') }, dependencies: { dynflow: engine } }, t);
  assertAnswer(await withCa.app.inject({ method: 'GET', url: '/ssh/ca_pubkey' }), 200, 'ssh-rsa AAAACA ca\n');
});

test('the public keys skip trusted_hosts; /ssh/jobs needs a client certificate even for trusted hosts', async (t) => {
  const engine = await newEngine(t);
  const { app } = await mountModule(script, { settings: { mode: 'pull' }, global: { trusted_hosts: ['foreman.example.com'] }, dependencies: { dynflow: engine } }, t);
  assert.equal((await app.inject({ method: 'GET', url: '/ssh/ca_pubkey' })).statusCode, 200);
  for (const [method, url] of [
    ['GET', '/ssh/jobs'],
    ['GET', '/ssh/jobs/0b5e7a4e-0000-4000-8000-000000000000'],
    ['POST', '/ssh/jobs/0b5e7a4e-0000-4000-8000-000000000000/update'],
    ['GET', '/ssh/jobs/0b5e7a4e-0000-4000-8000-000000000000/cancel'],
  ] as const) {
    assertAnswer(await app.inject({ method, url }), 403, 'could not read client cert from environment');
  }
  // /ssh/session is the standard check: trusted_hosts applies.
  assertAnswer(await app.inject({ method: 'POST', url: '/ssh/session' }), 403, /unable to resolve|Untrusted client/);
});

test('POST /ssh/session without the raw upgrade headers is 400 with the reference text', async (t) => {
  const dir = await tempDir(t);
  const key = join(dir, 'id');
  await writeFile(key, 'not really a key');
  await writeFile(`${key}.pub`, 'ssh-ed25519 AAAA\n');
  const engine = await newEngine(t);
  const { app } = await mountModule(script, { settings: { mode: 'pull', ssh_identity_key_file: key }, dependencies: { dynflow: engine } }, t);
  const res = await app.inject({ method: 'POST', url: '/ssh/session', payload: '{}' });
  assertAnswer(res, 400, "Invalid request: /ssh/session requires connection upgrade to 'raw'");
});

test('the module registers the ssh operation; cockpit is advertised only when its key exists; mode is published', async (t) => {
  const dir = await tempDir(t);
  const engine = await newEngine(t);
  const withoutKey = await mountModule(script, { settings: { mode: 'pull', ssh_identity_key_file: join(dir, 'none') }, dependencies: { dynflow: engine } }, t);
  assert.deepEqual(engine.operations(), ['ssh']);
  assert.deepEqual(await withoutKey.instance.capabilities?.(), []);
  const key = join(dir, 'id');
  await writeFile(key, 'k');
  await writeFile(`${key}.pub`, 'p');
  const withKey = await mountModule(script, { settings: { mode: 'pull', ssh_identity_key_file: key }, dependencies: { dynflow: engine } }, t);
  assert.deepEqual(await withKey.instance.capabilities?.(), ['cockpit']);
  const off = await mountModule(script, { settings: { mode: 'pull', ssh_identity_key_file: key, cockpit_integration: false }, dependencies: { dynflow: engine } }, t);
  assert.deepEqual(await off.instance.capabilities?.(), []);
  assert.deepEqual(script.exposedSettings, ['mode']);
  assert.equal(script.settingsFile, 'remote_execution_ssh');
});

// ---- settings ------------------------------------------------------------------------------

const defaults = (over: Partial<ScriptSettings> = {}): ScriptSettings =>
  ({
    mode: 'ssh',
    ssh_identity_key_file: '~/.ssh/id_rsa_foreman_proxy',
    ssh_user: 'root',
    remote_working_dir: '/var/tmp',
    local_working_dir: '/var/tmp',
    socket_working_dir: '/var/tmp',
    kerberos_auth: false,
    cockpit_integration: true,
    ssh_log_level: 'error',
    cleanup_working_dirs: true,
    mqtt_ttl: 5,
    mqtt_resend_interval: 900,
    max_concurrent_hosts: 100,
    max_queued_hosts: 10000,
    connect_timeout: 30,
    kill_grace_period: 10,
    known_hosts_file: '~/.ssh/known_hosts',
    cancel_grace_period: 300,
    ...over,
  }) as ScriptSettings;

test('settings rules: mode, ssh_log_level and the pull-mqtt broker use the reference messages', () => {
  const validate = script.validate as (s: ScriptSettings) => { key: string; message: string } | undefined;
  assert.deepEqual(validate(defaults({ mode: 'ssh-async' })), { key: 'mode', message: 'Mode has to be one of ssh, pull, pull-mqtt, given ssh-async' });
  assert.deepEqual(validate(defaults({ ssh_log_level: 'verbose' })), {
    key: 'ssh_log_level',
    message: "Wrong value 'verbose' for ssh_log_level, must be one of debug, info, error, fatal",
  });
  assert.deepEqual(validate(defaults({ mode: 'pull-mqtt' })), { key: 'mqtt_broker', message: 'mqtt_broker has to be set when pull-mqtt mode is used' });
  assert.deepEqual(validate(defaults({ mode: 'pull-mqtt', mqtt_broker: 'mqtt.example.com' })), { key: 'mqtt_port', message: 'mqtt_port has to be set when pull-mqtt mode is used' });
  assert.equal(validate(defaults({ mode: 'pull-mqtt', mqtt_broker: 'mqtt.example.com', mqtt_port: 1883 })), undefined);
  assert.equal(validate(defaults()), undefined);
});

test('start-up: keys are required in ssh mode only; a proxy log level of WARN works; ssh_log_level may not be more verbose', async (t) => {
  const dir = await tempDir(t);
  const global = (level: string) => parseGlobalSettings({ http_port: 8000, log_level: level }, '/nonexistent/settings.yml', '/nonexistent');
  const key = join(dir, 'id_rsa_foreman_proxy');
  assert.equal(
    await startupProblem(defaults(), global('INFO'), key),
    `SSH private key file ${key} doesn't exist.\nYou can generate one with \`ssh-keygen -t rsa -b 4096 -f ${key} -N ''\``,
  );
  await writeFile(key, 'k');
  assert.equal(await startupProblem(defaults(), global('INFO'), key), `SSH public key file ${key}.pub doesn't exist`);
  await writeFile(`${key}.pub`, 'p');
  assert.equal(await startupProblem(defaults({ ssh_user_ca_public_key_file: join(dir, 'ca.pub') }), global('INFO'), key), `SSH CA public key file ${join(dir, 'ca.pub')} doesn't exist`);
  await writeFile(join(dir, 'ca.pub'), 'ca');
  assert.equal(await startupProblem(defaults({ ssh_user_ca_public_key_file: join(dir, 'ca.pub') }), global('INFO'), key), `SSH certificate file ${key}-cert.pub doesn't exist`);
  assert.equal(await startupProblem(defaults(), global('WARN'), key), undefined);
  assert.equal(await startupProblem(defaults({ ssh_log_level: 'fatal' }), global('WARN'), key), undefined);
  assert.match((await startupProblem(defaults({ ssh_log_level: 'debug' }), global('INFO'), key)) ?? '', /ssh_log_level cannot be more verbose than regular log level/);
  assert.equal(await startupProblem(defaults({ ssh_log_level: 'debug' }), global('DEBUG'), key), undefined);
  // Pull modes start without any key.
  assert.equal(await startupProblem(defaults({ mode: 'pull' }), global('INFO'), join(dir, 'absent')), undefined);
  assert.equal(await startupProblem(defaults({ mode: 'pull-mqtt' }), global('WARN'), join(dir, 'absent')), undefined);
});

test('~ in key paths is the home directory of the proxy user', () => {
  assert.equal(expandHome('~/.ssh/id_rsa_foreman_proxy', '/var/lib/foreman-proxy'), '/var/lib/foreman-proxy/.ssh/id_rsa_foreman_proxy');
  assert.equal(expandHome('/etc/key', '/home/x'), '/etc/key');
  assert.equal(expandHome('~other/key', '/home/x'), '~other/key');
});

test('a missing key in ssh mode fails the module with the reference message', async (t) => {
  const dir = await tempDir(t);
  const engine = await newEngine(t);
  await assert.rejects(
    mountModule(script, { settings: { mode: 'ssh', ssh_identity_key_file: join(dir, 'id') }, dependencies: { dynflow: engine } }, t),
    new RegExp(`SSH private key file ${join(dir, 'id')} doesn't exist`),
  );
});

// ---- operation input checks ----------------------------------------------------------------

test('validate names the field and the reason', async (t) => {
  const engine = await newEngine(t);
  const { operation } = pullSetup(engine, false);
  const ok = { hostname: 'web1.example.com', script: 'true' };
  assert.equal(operation.validate(ok), undefined);
  assert.equal(operation.validate({ ...ok, hostname: '192.0.2.7', ssh_port: '2222', effective_user_method: 'su', remote_working_dir: '/tmp', ssh_user: 'user@EXAMPLE.COM' }), undefined);
  assert.equal(operation.validate({ ...ok, hostname: '2001:db8::1' }), undefined);
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ script: 'true' }, 'hostname', /is required/],
    [{ ...ok, hostname: 7 }, 'hostname', /must be a string/],
    [{ ...ok, hostname: '-oProxyCommand=x' }, 'hostname', /not a host name/],
    [{ ...ok, hostname: 'web1.example.com; rm -rf /' }, 'hostname', /not a host name/],
    [{ hostname: 'h' }, 'script', /is required/],
    [{ ...ok, script: ['x'] }, 'script', /must be a string/],
    [{ ...ok, ssh_port: 70000 }, 'ssh_port', /port number/],
    [{ ...ok, ssh_port: 'ssh' }, 'ssh_port', /port number/],
    [{ ...ok, effective_user_method: 'pkexec' }, 'effective_user_method', /^effective_user_method 'pkexec' not supported$/],
    [{ ...ok, remote_working_dir: 'var/tmp' }, 'remote_working_dir', /absolute/],
    [{ ...ok, remote_working_dir: '/var/tmp\nx' }, 'remote_working_dir', /line break/],
    [{ ...ok, remote_working_dir: '/var/tmp/../etc' }, 'remote_working_dir', /'\.\.'/],
    [{ ...ok, ssh_user: 'root; reboot' }, 'ssh_user', /not a valid user name/],
    [{ ...ok, effective_user: '-u root' }, 'effective_user', /not a valid user name/],
    [{ ...ok, execution_timeout_interval: 'soon' }, 'execution_timeout_interval', /whole number of seconds/],
    [{ ...ok, secrets: 'pw' }, 'secrets', /must be an object/],
    [{ ...ok, alternative_names: { fqdn: 'a/b' } }, 'alternative_names.fqdn', /host identity/],
  ];
  for (const [input, field, message] of cases) {
    const problem = operation.validate(input);
    assert.equal(problem?.field, field, JSON.stringify(input));
    assert.match(problem?.message ?? '', message);
  }
  assert.deepEqual(operation.actionClasses, ['Proxy::RemoteExecution::Ssh::Actions::RunScript']);
  assert.deepEqual(operation.secretKeys, ['secrets']);
});

test('the pull host id is consumer_uuid, else fqdn, else hostname', () => {
  assert.equal(pullHostId({ hostname: '192.0.2.1', alternative_names: { fqdn: 'h.example.com', consumer_uuid: 'c0ffee' } }), 'c0ffee');
  assert.equal(pullHostId({ hostname: '192.0.2.1', alternative_names: { fqdn: 'h.example.com' } }), 'h.example.com');
  assert.equal(pullHostId({ hostname: '192.0.2.1' }), '192.0.2.1');
});

// ---- pull jobs -----------------------------------------------------------------------------

test('pull run stores the job (CR stripped) ready for pickup, arms time_to_pickup and hands it to the dispatcher', async (t) => {
  const engine = await newEngine(t);
  const { operation, dispatcher } = pullSetup(engine, true);
  const { task, job } = await startPullTask(engine, operation);
  assert.equal(job.hostname, 'web1.example.com');
  assert.equal(job.script, 'echo hello\n');
  assert.equal(job.state, 'ready_for_pickup');
  assert.equal(job.effectiveUser, 'admin');
  assert.equal((await engine.store.get(task.id))?.outputExtra.state, 'ready_for_pickup');
  assert.deepEqual(dispatcher.events, [`add ${job.uuid}`]);
  const timer = engine.queue.sent.find((s) => s.queue === PICKUP_DEADLINE_QUEUE);
  assert.equal(timer?.opts?.singletonKey, `pickup:${job.uuid}`);
  assert.ok((timer?.opts?.startAfter ?? 0) >= Date.now() + 59_000);
  // A retried run resumes the same job instead of storing a second one.
  await operation.run((await engine.handle(task.id)) as TaskHandle);
  assert.deepEqual(await engine.store.pullJobsOf('web1.example.com'), [job.uuid]);
});

test('a host sees only its own jobs: anyone else gets the 404 of a missing job', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs } = pullSetup(engine, true);
  const { job } = await startPullTask(engine, operation);
  assert.deepEqual(await jobs.list('web1.example.com'), [job.uuid]);
  assert.deepEqual(await jobs.list('Web1.Example.com'), [job.uuid]);
  assert.deepEqual(await jobs.list('web2.example.com'), []);
  for (const call of [() => jobs.fetch('web2.example.com', job.uuid), () => jobs.update('web2.example.com', job.uuid, Buffer.from('{}')), () => jobs.cancel('web2.example.com', job.uuid)]) {
    await assert.rejects(call(), (err: Error & { status?: number; code?: string }) => err.status === 404 && err.code === 'script.job_not_found');
  }
  await assert.rejects(jobs.fetch('web1.example.com', 'no-such-job'), { status: 404 });
});

test('fetching a job delivers it (state, dispatcher slot, pickup timer cancelled) and can be repeated', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs, dispatcher } = pullSetup(engine, true);
  const { task, job } = await startPullTask(engine, operation);
  const first = await jobs.fetch('web1.example.com', job.uuid);
  assert.deepEqual(first, { script: 'echo hello\n', effectiveUser: 'admin' });
  assert.equal((await engine.store.getPullJob(job.uuid))?.state, 'delivered');
  assert.equal((await engine.store.get(task.id))?.outputExtra.state, 'delivered');
  assert.ok(engine.queue.cancelled.includes(`${PICKUP_DEADLINE_QUEUE} pickup:${job.uuid}`));
  assert.deepEqual(await jobs.fetch('web1.example.com', job.uuid), first);
  assert.ok(dispatcher.events.includes(`picked ${job.uuid}`));
});

test('version 1 updates append output with the host timestamps; the exit update finishes the task and drops the job', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs, dispatcher } = pullSetup(engine, true);
  const { task, job } = await startPullTask(engine, operation);
  await jobs.fetch('web1.example.com', job.uuid);
  const body = {
    version: '1',
    updates: [
      { timestamp: '2026-01-05T10:00:01Z', type: 'output', stream: 'stdout', content: 'hello\n' },
      { timestamp: '2026-01-05T10:00:01.5Z', type: 'output', stream: 'stderr', content: 'warn\n' },
    ],
  };
  await jobs.update('web1.example.com', job.uuid, Buffer.from(JSON.stringify(body)));
  const out = await engine.store.readOutput(task.id);
  assert.deepEqual(
    out.entries.map((e) => [e.output_type, e.output, e.timestamp]),
    [
      ['stdout', 'hello\n', Date.parse('2026-01-05T10:00:01Z') / 1000],
      ['stderr', 'warn\n', Date.parse('2026-01-05T10:00:01.5Z') / 1000],
    ],
  );
  assert.equal((await engine.store.get(task.id))?.outputExtra.state, 'running');
  await jobs.update('web1.example.com', job.uuid, Buffer.from(JSON.stringify({ version: '1', updates: [{ timestamp: '2026-01-05T10:00:02Z', type: 'exit', exit_code: 3 }] })));
  const done = await engine.store.get(task.id);
  assert.equal(done?.state, 'stopped');
  assert.equal(done?.exitStatus, 3);
  assert.equal(done?.result, 'error');
  assert.equal(await engine.store.getPullJob(job.uuid), undefined);
  assert.ok(dispatcher.events.includes(`done ${job.uuid}`));
});

test('legacy unversioned updates: a string or a list of lines, optional exit_code', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs } = pullSetup(engine, false);
  const { task, job } = await startPullTask(engine, operation);
  await jobs.update('web1.example.com', job.uuid, Buffer.from(JSON.stringify({ output: ['one\n', 'two\n'], type: 'stderr' })));
  await jobs.update('web1.example.com', job.uuid, Buffer.from(JSON.stringify({ output: 'three\n', exit_code: '0' })));
  assert.deepEqual(await outputOf(engine, task.id), ['stderr: one\n', 'stderr: two\n', 'stdout: three\n']);
  const done = await engine.store.get(task.id);
  assert.equal(done?.exitStatus, 0);
  assert.equal(done?.result, 'success');
});

test('a bad update is refused with 400 naming the field, applies nothing and leaves the job running', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs } = pullSetup(engine, true);
  const { task, job } = await startPullTask(engine, operation);
  await jobs.fetch('web1.example.com', job.uuid);
  const bad: Array<[string, RegExp]> = [
    ['not json', /^body: not valid JSON/],
    ['[1]', /^body: must be a JSON object/],
    [JSON.stringify({ version: '2', updates: [] }), /^version: unsupported version "2"/],
    [JSON.stringify({ version: '1', updates: {} }), /^updates: must be an array/],
    // The good first entry is not applied either: the body is checked whole.
    [JSON.stringify({ version: '1', updates: [{ type: 'output', content: 'x' }, { type: 'reboot' }] }), /^updates\[1\]\.type: must be output or exit/],
    [JSON.stringify({ version: '1', updates: [{ type: 'exit', exit_code: 'zero' }] }), /^updates\[0\]\.exit_code: must be an integer/],
    [JSON.stringify({ version: '1', updates: [{ type: 'output', content: 'x', timestamp: 'yesterday' }] }), /^updates\[0\]\.timestamp: must be a time/],
    [JSON.stringify({ output: [1] }), /^output\[0\]: must be a string/],
    [JSON.stringify({ output: 'x', type: 'stdin' }), /^type: must be one of stdout, stderr, debug/],
  ];
  for (const [body, message] of bad) {
    await assert.rejects(jobs.update('web1.example.com', job.uuid, Buffer.from(body)), (err: Error & { status?: number }) => {
      assert.equal(err.status, 400, body);
      assert.match(err.message, message);
      return true;
    });
  }
  const still = await engine.store.get(task.id);
  assert.equal(still?.state, 'running');
  assert.equal(still?.exitStatus, null);
  assert.deepEqual(await outputOf(engine, task.id), []);
  assert.equal((await engine.store.getPullJob(job.uuid))?.state, 'delivered');
});

test('cancel before delivery removes the job and ends the task with EXCEPTION and the message', async (t) => {
  const engine = await newEngine(t);
  const { operation, dispatcher } = pullSetup(engine, true);
  const { task, job } = await startPullTask(engine, operation);
  assert.equal(await operation.cancel((await engine.handle(task.id)) as TaskHandle, 'cancelled'), true);
  const done = await engine.store.get(task.id);
  assert.equal(done?.state, 'stopped');
  assert.equal(done?.exitStatus, 'EXCEPTION');
  assert.deepEqual(await outputOf(engine, task.id), [`debug: ${MESSAGES.cancelled}`]);
  assert.equal(await engine.store.getPullJob(job.uuid), undefined);
  assert.ok(dispatcher.events.includes(`done ${job.uuid}`));
});

test('time_to_pickup: a job not fetched in time fails with the reference message; a fetched one is left alone', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs } = pullSetup(engine, true);
  await operation.startTimers();
  const late = await startPullTask(engine, operation);
  await engine.queue.fire(PICKUP_DEADLINE_QUEUE);
  assert.equal((await engine.store.get(late.task.id))?.exitStatus, 'EXCEPTION');
  assert.deepEqual(await outputOf(engine, late.task.id), [`debug: ${MESSAGES.notPickedUp}`]);
  const fetched = await startPullTask(engine, operation, { ...HOST_INPUT, hostname: 'web2.example.com' });
  await jobs.fetch('web2.example.com', fetched.job.uuid);
  await engine.queue.fire(PICKUP_DEADLINE_QUEUE);
  assert.equal((await engine.store.get(fetched.task.id))?.state, 'running');
});

test('cancel after delivery: MQTT cancel message, then the task ends after cancel_grace_period if the host never reports', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs, publisher } = pullSetup(engine, true);
  await operation.startTimers();
  const { task, job } = await startPullTask(engine, operation);
  await jobs.fetch('web1.example.com', job.uuid);
  assert.equal(await operation.cancel((await engine.handle(task.id)) as TaskHandle, 'timeout'), true);
  assert.equal((await engine.store.get(task.id))?.state, 'running');
  assert.deepEqual(await outputOf(engine, task.id), [`debug: ${MESSAGES.timeout}${MESSAGES.viaMqtt}`]);
  assert.equal(publisher.messages.length, 1);
  const sent = publisher.messages[0];
  assert.equal(sent?.hostId, 'web1.example.com');
  assert.equal(sent?.message.content, `https://proxy.example.com:9090/ssh/jobs/${job.uuid}/cancel`);
  assert.deepEqual(sent?.message.metadata, { event: 'cancel', job_uuid: job.uuid });
  const grace = engine.queue.sent.find((s) => s.queue === CANCEL_GRACE_QUEUE);
  assert.ok((grace?.opts?.startAfter ?? 0) >= Date.now() + 29_000);
  await engine.queue.fire(CANCEL_GRACE_QUEUE);
  const done = await engine.store.get(task.id);
  assert.equal(done?.state, 'stopped');
  assert.equal(done?.exitStatus, 'EXCEPTION');
  assert.match((await outputOf(engine, task.id))[1] ?? '', /did not report the end of the cancelled job within 30 seconds/);
  assert.equal(await engine.store.getPullJob(job.uuid), undefined);
});

test('cancel of a fetched job without MQTT says it cannot be stopped; the host can still report its exit', async (t) => {
  const engine = await newEngine(t);
  const { operation, jobs } = pullSetup(engine, false);
  const { task, job } = await startPullTask(engine, operation);
  await jobs.fetch('web1.example.com', job.uuid);
  await operation.cancel((await engine.handle(task.id)) as TaskHandle, 'cancelled');
  assert.deepEqual(await outputOf(engine, task.id), [`debug: ${MESSAGES.cancelled}${MESSAGES.noMqtt}`]);
  await jobs.update('web1.example.com', job.uuid, Buffer.from(JSON.stringify({ version: '1', updates: [{ type: 'exit', exit_code: 143 }] })));
  assert.equal((await engine.store.get(task.id))?.exitStatus, 143);
});

test('recover: a push task interrupted by a stop ends with EXCEPTION and says so; a pull job is offered again', async (t) => {
  const engine = await newEngine(t);
  const push = new ScriptOperation({
    mode: 'ssh',
    engine,
    log: silentLogger,
    runner: () => Promise.reject(new Error('not used')),
    privateKey: async () => undefined,
    defaults: { remoteWorkingDir: '/var/tmp', cleanup: true },
    dispatcher: () => undefined,
    publisher: () => undefined,
    cancelGraceSeconds: 30,
  });
  const task = await engine.addTask({ hostname: 'h', script: 'true' });
  await engine.store.update(task.id, { owner: 'replica-b' });
  await push.recover((await engine.handle(task.id)) as TaskHandle);
  const done = await engine.store.get(task.id);
  assert.equal(done?.exitStatus, 'EXCEPTION');
  assert.deepEqual(await outputOf(engine, task.id), ['debug: the proxy (replica replica-b) stopped while this script ran; it may have run partly']);

  const { operation, dispatcher, jobs } = pullSetup(engine, true);
  const { task: pullTask, job } = await startPullTask(engine, operation);
  await jobs.fetch('web1.example.com', job.uuid);
  dispatcher.events.length = 0;
  await operation.recover((await engine.handle(pullTask.id)) as TaskHandle);
  assert.deepEqual(dispatcher.events, [`picked ${job.uuid}`]);
  const { job: waiting } = await startPullTask(engine, operation, { ...HOST_INPUT, hostname: 'web2.example.com' });
  dispatcher.events.length = 0;
  await operation.resumePullJobs();
  assert.deepEqual(dispatcher.events, [`picked ${job.uuid}`, `add ${waiting.uuid}`]);
});

// ---- update parsing -----------------------------------------------------------

test('parseUpdate: version as a number, unversioned timestamps are the arrival time', () => {
  assert.deepEqual(parseUpdate(Buffer.from('{"version":1,"updates":[{"type":"exit","exit_code":"7"}]}')), { output: [], exitCode: 7 });
  assert.deepEqual(parseUpdate(Buffer.from('{"output":"x"}'), 1000), { output: [{ output_type: 'stdout', output: 'x', timestamp: 1000 }], exitCode: undefined });
});
