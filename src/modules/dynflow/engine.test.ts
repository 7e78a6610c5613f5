// The engine with the node:sqlite store and local queue and a fake operation: launch (valid and
// invalid hosts, secrets), running, finish, cancel, timeout, abort requests from another replica,
// recovery after a restart on a file database, callbacks retried until Foreman accepts them, the
// cleaner.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAKE_ACTION, FakeOperation, testEngine, until } from './test-support.ts';
import type { CallbackBody } from './engine.ts';
import { LaunchError, UnknownOperationError } from './engine.ts';
import { SecretBox } from './secret-box.ts';
import { sampleTask } from './store/contract.ts';

const ctx = { callbackHost: 'https://proxy.example.com:9090', requestId: 'req-1' };

function host(input: Record<string, unknown> = {}) {
  return { action_class: FAKE_ACTION, action_input: { hostname: 'web1.example.com', script: 'echo hi', callback: { task_id: randomUUID(), step_id: 3 }, ...input } };
}

test('a batch runs its hosts, finishes invalid ones at once, calls back, and stops the parent', async (t) => {
  const sent: CallbackBody[] = [];
  const { engine, store } = await testEngine(t, { sendCallback: async (body) => (sent.push(body), 200) });
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const [ok, bad, failing] = [randomUUID(), randomUUID(), randomUUID()];
  const result = await engine.launchBatch('fake', { [ok]: host({ proxy_url: 'https://p.example.com:9090' }), [bad]: host({ hostname: '' }), [failing]: host({ exit: 2 }) }, ctx);
  assert.deepEqual(result.hosts, {
    [ok]: { result: 'success' },
    [bad]: { result: 'error', field: `input.${bad}.action_input.hostname`, message: 'is required' },
    [failing]: { result: 'success' },
  });
  await until(async () => (await store.get(result.parentId))?.state === 'stopped', 'the parent to stop');
  const okTask = await store.get(ok);
  assert.equal(okTask?.result, 'success');
  assert.equal(okTask?.exitStatus, 0);
  assert.equal(okTask?.input.callback_host, 'https://p.example.com:9090', 'proxy_url of the first host');
  assert.equal(okTask?.input.task_id, (okTask?.callback as { task_id: string }).task_id);
  const badTask = await store.get(bad);
  assert.equal(badTask?.exitStatus, 'EXCEPTION');
  assert.equal(badTask?.result, 'error');
  assert.deepEqual((await engine.outputOf(bad)).map((e) => e.output), ['Invalid input for this host: hostname: is required']);
  assert.equal((await store.get(failing))?.result, 'error');
  assert.ok(!op.started.includes(bad), 'an invalid host never runs');
  await until(() => sent.length === 3, 'three callbacks');
  const okCallback = sent.find((b) => b.callback.task_id === okTask?.callback?.task_id);
  assert.deepEqual(okCallback?.callback, okTask?.callback);
  assert.equal(okCallback?.data.exit_status, 0);
  assert.equal(okCallback?.data.runner_id, `runner-${ok.slice(0, 4)}`);
  assert.deepEqual((okCallback?.data.result as Array<{ output: string }>).map((e) => e.output), ['hello\n']);
});

test('secrets are sealed apart from the input and reach only the runner', async (t) => {
  const { engine, store } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const id = randomUUID();
  await engine.launchBatch('fake', { [id]: host({ secrets: { ssh_password: 'hunter2', key_passphrase: null }, effective_user_password: 'sudo-pw' }) }, ctx);
  await until(() => op.secretsSeen[id] !== undefined, 'the runner');
  assert.deepEqual(op.secretsSeen[id], { ssh_password: 'hunter2', effective_user_password: 'sudo-pw' });
  const task = await store.get(id);
  assert.equal(JSON.stringify(task?.input).includes('hunter2'), false);
  assert.equal(JSON.stringify(task?.input).includes('sudo-pw'), false);
  assert.equal('secrets' in (task?.input ?? {}), false);
  assert.match(task?.sealedSecrets ?? '', /^v1\./);
  assert.equal((task?.sealedSecrets ?? '').includes('hunter2'), false);
});

test('structural launch errors name the field; unknown operations and foreign action classes are refused', async (t) => {
  const { engine } = await testEngine(t);
  engine.registerOperation(new FakeOperation());
  engine.registerOperation(new FakeOperation('other', ['Test::Other']));
  await engine.start();
  await assert.rejects(engine.launchBatch('nope', {}, ctx), UnknownOperationError);
  await assert.rejects(engine.launchBatch('fake', { 'not-a-uuid': host() }, ctx), (e: LaunchError) => e.field === 'input.not-a-uuid');
  const id = randomUUID();
  await assert.rejects(engine.launchBatch('fake', { [id]: { action_class: 'Test::Other', action_input: {} } }, ctx), (e: LaunchError) => e.field === `input.${id}.action_class`);
  await assert.rejects(engine.launchBatch('fake', { [id]: { action_class: FAKE_ACTION } }, ctx), (e: LaunchError) => e.field === `input.${id}.action_input`);
  await assert.rejects(engine.launchSingle({ action_class: 'Kernel::System', action_input: {} }, ctx), (e: LaunchError) => e.field === 'input.action_class');
  assert.deepEqual(engine.operations(), ['single', 'fake', 'other']);
});

test('a launch repeated with the same ids keeps the existing tasks', async (t) => {
  const { engine, store } = await testEngine(t);
  engine.registerOperation(new FakeOperation());
  await engine.start();
  const id = randomUUID();
  await engine.launchBatch('fake', { [id]: host() }, ctx);
  const again = await engine.launchBatch('fake', { [id]: host() }, ctx);
  assert.deepEqual(again.hosts, { [id]: { result: 'existing' } });
  assert.equal((await store.get(again.parentId))?.state, 'stopped');
});

test('cancel aborts the local runner once; finish is compare-and-set', async (t) => {
  const { engine, store } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const id = randomUUID();
  const { parentId } = await engine.launchBatch('fake', { [id]: host({ mode: 'hang' }) }, ctx);
  await until(() => op.started.includes(id), 'the runner');
  assert.equal(await engine.cancel(parentId), 1);
  await until(async () => (await store.get(id))?.state === 'stopped', 'the task to stop');
  assert.deepEqual(op.aborts, [{ id, reason: 'cancelled' }]);
  assert.equal((await store.get(id))?.exitStatus, 143);
  assert.equal(await engine.finishTask(id, 0), false, 'a second finish is ignored');
  assert.equal((await store.get(id))?.exitStatus, 143);
  assert.equal(await engine.cancel(id), 0, 'nothing left to cancel');
  assert.equal(await engine.cancel(randomUUID()), undefined);
});

test('execution_timeout_interval aborts the runner with reason timeout', async (t) => {
  const { engine, store } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const id = randomUUID();
  await engine.launchBatch('fake', { [id]: host({ mode: 'hang', execution_timeout_interval: 0.05 }) }, ctx);
  await until(async () => (await store.get(id))?.state === 'stopped', 'the timeout');
  assert.deepEqual(op.aborts, [{ id, reason: 'timeout' }]);
});

test("an abort requested on another replica reaches the owner's runner", async (t) => {
  const { engine, store } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const id = randomUUID();
  await engine.launchBatch('fake', { [id]: host({ mode: 'hang' }) }, ctx);
  await until(() => op.started.includes(id), 'the runner');
  // What a replica that does not own the task records (it cannot reach the runner).
  await store.update(id, { abortRequested: 'cancelled' }, ['running']);
  await until(async () => (await store.get(id))?.state === 'stopped', 'the owner to notice');
  assert.deepEqual(op.aborts, [{ id, reason: 'cancelled' }]);
  assert.equal((await store.get(id))?.abortRequested, null);
});

test('a task cancelled before it ran finishes with EXCEPTION and never runs', async (t) => {
  const { engine, store } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const id = randomUUID();
  // The run job starts on the queue's next turn; the cancel (only microtasks) comes first.
  const { parentId } = await engine.launchBatch('fake', { [id]: host() }, ctx);
  assert.equal(await engine.cancel(id), 1);
  await until(async () => (await store.get(parentId))?.state === 'stopped', 'the parent');
  const task = await store.get(id);
  assert.equal(task?.exitStatus, 'EXCEPTION');
  assert.deepEqual((await engine.outputOf(id)).map((e) => e.output), ['The task was cancelled before it started']);
  assert.ok(!op.started.includes(id));
});

test('a stored task whose operation never registers fails with a clear line after the grace period', async (t) => {
  const { engine, store } = await testEngine(t, { operationGraceMs: 30 });
  const task = sampleTask({ operation: 'ansible-runner', actionClass: 'Proxy::Ansible::Run' });
  await store.insertTask(task);
  await engine.start(); // queues the planned task again
  await until(async () => (await store.get(task.id))?.state === 'stopped', 'the task to fail');
  assert.equal((await store.get(task.id))?.exitStatus, 'EXCEPTION');
  assert.deepEqual((await engine.outputOf(task.id)).map((e) => e.output), ["The operation 'ansible-runner' is not available on this proxy (is its module enabled?)"]);
});

test('secrets sealed by an earlier process (random key) fail the task with a message saying so', async (t) => {
  const { engine, store } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  const task = sampleTask({ operation: 'fake', actionClass: FAKE_ACTION });
  await store.insertTask({ ...task, sealedSecrets: SecretBox.ephemeral().seal({ ssh_password: 'x' }, task.id) });
  await engine.start();
  await until(async () => (await store.get(task.id))?.state === 'stopped', 'the task to fail');
  assert.match((await engine.outputOf(task.id))[0]?.output ?? '', /^Runner error: the task secrets were sealed by an earlier run of the proxy and are gone \(set secrets_key_file/);
});

test('after a restart on a file database, interrupted tasks are recovered and queued ones run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dynflow-engine-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'tasks.sqlite');
  const box = SecretBox.ephemeral();
  const first = await testEngine(t, { path, keepOpen: true, maxRunningTasks: 1, secretBox: box });
  const op1 = new FakeOperation();
  first.engine.registerOperation(op1);
  await first.engine.start();
  const [running, waiting] = [randomUUID(), randomUUID()];
  await first.engine.launchBatch('fake', { [running]: host({ mode: 'hang' }), [waiting]: host() }, ctx);
  await until(() => op1.started.includes(running), 'the first task');
  await first.close(); // the runner is told `shutdown` and finishes nothing, as in a crash

  const sent: CallbackBody[] = [];
  const second = await testEngine(t, { path, secretBox: box, sendCallback: async (b) => (sent.push(b), 200) });
  const op2 = new FakeOperation();
  second.engine.registerOperation(op2);
  await second.engine.start();
  await until(async () => (await second.store.get(running))?.state === 'stopped' && (await second.store.get(waiting))?.state === 'stopped', 'both tasks');
  assert.deepEqual(op2.recovered, [running], 'recovered once, although its run job came back too');
  assert.deepEqual(op2.started, [waiting]);
  const recovered = await second.store.get(running);
  assert.equal(recovered?.exitStatus, 'EXCEPTION');
  assert.equal(recovered?.owner, second.engine.replicaId);
  assert.deepEqual((await second.engine.outputOf(running)).map((e) => e.output), ['hello\n', 'The proxy stopped while this task ran']);
  await until(() => sent.length === 2, 'the callbacks');
});

test('a callback refused by Foreman is retried with backoff until it is accepted', async (t) => {
  const answers = [500, 503];
  const attempts: number[] = [];
  const { engine, store } = await testEngine(t, {
    sendCallback: async () => {
      const status = answers.shift() ?? 200;
      attempts.push(status);
      return status;
    },
  });
  engine.registerOperation(new FakeOperation());
  await engine.start();
  const id = randomUUID();
  await engine.launchBatch('fake', { [id]: host() }, ctx);
  await until(async () => (await store.getCallback(id))?.deliveredAt != null, 'the delivery');
  assert.deepEqual(attempts, [500, 503, 200]);
  const delivery = await store.getCallback(id);
  assert.equal(delivery?.attempts, 3);
  assert.equal(delivery?.nextAttemptAt, null);
});

test('a callback that keeps failing is given up after callback_retry_hours; connection errors count too', async (t) => {
  let calls = 0;
  const { engine, store } = await testEngine(t, {
    callbackRetryHours: 0.1 / 3600, // 100 ms
    sendCallback: async () => {
      calls++;
      if (calls % 2 === 0) throw new Error('Failed to open TCP connection to foreman.example.com:443 (connect ECONNREFUSED)');
      return 500;
    },
  });
  engine.registerOperation(new FakeOperation());
  await engine.start();
  const id = randomUUID();
  await engine.launchBatch('fake', { [id]: host() }, ctx);
  await until(async () => {
    const d = await store.getCallback(id);
    return d !== undefined && d.attempts > 1 && d.nextAttemptAt === null;
  }, 'giving up');
  const d = await store.getCallback(id);
  assert.equal(d?.deliveredAt, null);
  assert.match(d?.lastError ?? '', /HTTP 500|ECONNREFUSED/);
});

test('the cleaner deletes finished tasks but keeps one whose callback is still retried', async (t) => {
  let accept = false;
  const { engine, store } = await testEngine(t, { cleanerAgeSeconds: 0, callbackFirstDelayMs: 60_000, sendCallback: async () => (accept ? 200 : 500) });
  engine.registerOperation(new FakeOperation());
  await engine.start();
  const withCallback = randomUUID();
  const { parentId } = await engine.launchBatch('fake', { [withCallback]: host() }, ctx);
  await until(async () => (await store.getCallback(withCallback))?.attempts === 1, 'the first attempt');
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(await engine.clean(), 0);
  assert.ok(await store.get(withCallback));
  accept = true;
  await store.putCallback({ taskId: withCallback, attempts: 1, nextAttemptAt: null, deliveredAt: Date.now(), lastError: null });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(await engine.clean(), 2);
  assert.equal(await store.get(parentId), undefined);
});

test('events reach the operation; unknown tasks and operations without events are told apart', async (t) => {
  const { engine } = await testEngine(t);
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  const id = await engine.launchSingle(host({ mode: 'hang' }), ctx);
  assert.equal(await engine.event(id, { step_id: 2, exit_status: 0 }), 'delivered');
  assert.deepEqual(op.events, [{ id, body: { step_id: 2, exit_status: 0 } }]);
  assert.equal(await engine.event(randomUUID(), {}), 'unknown');
});
