// /dynflow routes in-process (fastify inject) with a fake operation registered on the module's
// exported engine: launch (batch, single, legacy), status with its output and without secrets,
// bulk states, full statuses, count, operations, cancel, update/done authentication, bad input.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import dynflow from './module.ts';
import type { Engine } from './engine.ts';
import { FAKE_ACTION, FakeOperation, until } from './test-support.ts';

async function mounted(t: TestContext) {
  const m = await mountModule(dynflow, { settings: { database: ':memory:' } }, t);
  const engine = m.instance.exports as Engine;
  const op = new FakeOperation();
  engine.registerOperation(op);
  await engine.start();
  return { ...m, engine, op };
}

const JSON_TYPE = 'application/json';

function hostInput(extra: Record<string, unknown> = {}) {
  return {
    action_class: FAKE_ACTION,
    action_input: {
      hostname: 'web1.example.com',
      script: 'echo hello',
      secrets: { ssh_password: 'hunter2', key_passphrase: 'open-sesame', effective_user_password: null },
      callback: { task_id: randomUUID(), step_id: 3 },
      ...extra,
    },
  };
}

test('a batch launch answers the parent id (and per-host results); the status shows output, never secrets', async (t) => {
  const { app, engine, op } = await mounted(t);
  const [a, b] = [randomUUID(), randomUUID()];
  const res = await app.inject({
    method: 'POST',
    url: '/dynflow/tasks/launch',
    headers: { 'content-type': 'text/plain' },
    payload: JSON.stringify({ operation: 'fake', input: { [a]: hostInput(), [b]: hostInput({ hostname: '' }) }, options: {} }),
  });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], JSON_TYPE);
  const body = JSON.parse(res.body);
  assert.equal(body.parent.result, 'success');
  assert.match(body.parent.task_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(body.tasks[a], { result: 'success' });
  assert.equal(body.tasks[b].result, 'error');
  assert.equal(body.tasks[b].field, `input.${b}.action_input.hostname`);
  await until(async () => (await engine.store.get(a))?.state === 'stopped', 'the host task');
  assert.ok(op.started.includes(a));

  const status = await app.inject({ method: 'GET', url: `/dynflow/tasks/${a}/status` });
  assertAnswer(status, 200, /"state":"stopped"/, JSON_TYPE);
  assert.equal(status.body.includes('hunter2'), false, 'no secret in the status');
  assert.equal(status.body.includes('open-sesame'), false);
  const plan = JSON.parse(status.body);
  assert.equal(plan.id, a);
  assert.equal(plan.class, 'Dynflow::ExecutionPlan');
  assert.equal(plan.label, FAKE_ACTION);
  assert.equal(plan.result, 'success');
  assert.match(plan.started_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);
  const runner = plan.actions[0];
  assert.equal(runner.class, FAKE_ACTION);
  assert.equal(runner.caller_execution_plan_id, body.parent.task_id);
  assert.equal(runner.input.hostname, 'web1.example.com');
  assert.equal('secrets' in runner.input, false);
  assert.equal(runner.input.callback_host, 'http://localhost:80');
  assert.equal(runner.output.exit_status, 0);
  assert.deepEqual(runner.output.result.map((e: { output: string; output_type: string; id: string }) => [e.output_type, e.output, e.id]), [['stdout', 'hello\n', `${a}-1`]]);
  assert.equal(plan.actions[1].class, 'Proxy::Dynflow::Callback::Action');

  const invalid = JSON.parse((await app.inject({ method: 'GET', url: `/dynflow/tasks/${b}/status` })).body);
  assert.equal(invalid.state, 'stopped');
  assert.equal(invalid.actions[0].output.exit_status, 'EXCEPTION');
  assert.match(invalid.actions[0].output.result[0].output, /hostname: is required/);

  // Only the entries after a sequence number (our extension for clients that page output).
  const tail = JSON.parse((await app.inject({ method: 'GET', url: `/dynflow/tasks/${a}/status?output_after=1` })).body);
  assert.deepEqual(tail.actions[0].output.result, []);
  assertAnswer(await app.inject({ method: 'GET', url: `/dynflow/tasks/${a}/status?output_after=x` }), 400, /output_after/, JSON_TYPE);

  const parent = JSON.parse((await app.inject({ method: 'GET', url: `/dynflow/tasks/${body.parent.task_id}/status` })).body);
  assert.equal(parent.label, 'Proxy::Dynflow::Action::Batch');
  assert.equal(parent.state, 'stopped');
});

test('launch/ with a trailing slash, single and the legacy POST /tasks', async (t) => {
  const { app } = await mounted(t);
  const slash = await app.inject({ method: 'POST', url: '/dynflow/tasks/launch/', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ operation: 'fake', input: { [randomUUID()]: hostInput() } }) });
  assert.equal(slash.statusCode, 200);
  // action_class after action_input: the reference needs the other order (a quirk); both work.
  const single = await app.inject({ method: 'POST', url: '/dynflow/tasks/launch', payload: JSON.stringify({ operation: 'single', input: { action_input: { hostname: 'h' }, action_class: FAKE_ACTION } }) });
  assertAnswer(single, 200, /^\{"result":"success","task_id":"[0-9a-f-]{36}"\}$/, JSON_TYPE);
  const legacy = await app.inject({ method: 'POST', url: '/dynflow/tasks', payload: JSON.stringify({ action_name: FAKE_ACTION, action_input: { hostname: 'h' } }) });
  assertAnswer(legacy, 200, /^\{"task_id":"[0-9a-f-]{36}"\}$/, JSON_TYPE);
  // Whatever the content type says, the body is read as JSON (as the reference).
  const legacySlash = await app.inject({ method: 'POST', url: '/dynflow/tasks/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: JSON.stringify({ action_name: FAKE_ACTION, action_input: { hostname: 'h' } }) });
  assert.equal(legacySlash.statusCode, 200);
});

test('bad launches: 400 JSON naming the field, 404 for an unknown operation', async (t) => {
  const { app } = await mounted(t);
  const post = (payload: string) => app.inject({ method: 'POST', url: '/dynflow/tasks/launch', payload });
  assertAnswer(await post('{"operation": '), 400, /^\{"error":"the request body is not valid JSON: /, JSON_TYPE);
  assertAnswer(await post(''), 400, /request body is empty/, JSON_TYPE);
  assertAnswer(await post('[1]'), 400, /must be a JSON object/, JSON_TYPE);
  assertAnswer(await post('{"input": {}}'), 400, /^\{"error":"operation: is required/, JSON_TYPE);
  assertAnswer(await post('{"operation": "ansible-runner", "input": {}}'), 404, '{"error":"Unknown operation \'ansible-runner\' requested."}', JSON_TYPE);
  assertAnswer(await post('{"operation": "fake", "input": {"web1": {}}}'), 400, /input\.web1: the key must be a task UUID/, JSON_TYPE);
  const id = randomUUID();
  assertAnswer(await post(JSON.stringify({ operation: 'fake', input: { [id]: { action_class: 'Kernel', action_input: {} } } })), 400, new RegExp(`input\\.${id}\\.action_class: 'Kernel' is not an action`), JSON_TYPE);
  assertAnswer(await post('{"operation": "fake", "input": "x"}'), 400, /input: is required/, JSON_TYPE);
  assertAnswer(await post('{"operation": "single", "input": {"action_input": {}}}'), 400, /input\.action_class: is required/, JSON_TYPE);
});

test('status of an unknown task is 404 {}; bulk states list only known ids', async (t) => {
  const { app, engine } = await mounted(t);
  assertAnswer(await app.inject({ method: 'GET', url: `/dynflow/tasks/${randomUUID()}/status` }), 404, '{}', JSON_TYPE);
  const id = randomUUID();
  const launched = JSON.parse((await app.inject({ method: 'POST', url: '/dynflow/tasks/launch', payload: JSON.stringify({ operation: 'fake', input: { [id]: hostInput({ mode: 'hang' }) } }) })).body);
  await until(async () => (await engine.store.get(id))?.state === 'running', 'the runner');
  const unknown = randomUUID();
  const bulk = await app.inject({ method: 'POST', url: '/dynflow/tasks/status', payload: JSON.stringify({ task_ids: [id, launched.parent.task_id, unknown] }) });
  assertAnswer(bulk, 200, JSON.stringify({ [id]: { state: 'running', result: 'pending' }, [launched.parent.task_id]: { state: 'running', result: 'pending' } }), JSON_TYPE);
  assertAnswer(await app.inject({ method: 'POST', url: '/dynflow/tasks/status', payload: '' }), 200, '{}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'POST', url: '/dynflow/tasks/status', payload: '{"task_ids": "x"}' }), 400, /task_ids/, JSON_TYPE);

  const full = await app.inject({ method: 'POST', url: '/dynflow/tasks/statuses', payload: JSON.stringify({ task_ids: [id, unknown] }) });
  assert.equal(full.statusCode, 200);
  assert.deepEqual(Object.keys(JSON.parse(full.body)), [id]);
  assert.equal(JSON.parse(full.body)[id].actions[0].output.result[0].output, 'hello\n');
  assertAnswer(
    await app.inject({ method: 'POST', url: '/dynflow/tasks/statuses', payload: '{}' }),
    422,
    `{"error":"'task_ids' needs to be provided and be a non-empty array of task UUIDs"}`,
    JSON_TYPE,
  );
});

test('count by state, operations, capabilities', async (t) => {
  const { app, engine, instance } = await mounted(t);
  const id = randomUUID();
  await app.inject({ method: 'POST', url: '/dynflow/tasks/launch', payload: JSON.stringify({ operation: 'fake', input: { [id]: hostInput({ mode: 'hang' }) } }) });
  await until(async () => (await engine.store.get(id))?.state === 'running', 'the runner');
  assertAnswer(await app.inject({ method: 'GET', url: '/dynflow/tasks/count?state=running' }), 200, '{"count":2,"state":"running"}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'GET', url: '/dynflow/tasks/count' }), 200, '{"count":2,"state":"all"}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'GET', url: '/dynflow/tasks/count?state=bogus' }), 200, '{"count":0,"state":"bogus"}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'GET', url: '/dynflow/tasks/operations' }), 200, '["single","fake"]', JSON_TYPE);
  assert.deepEqual(await instance.capabilities?.(), ['fake', 'single']);
});

test('cancel answers the count of cancelled steps; an unknown task is a 404 JSON', async (t) => {
  const { app, engine, op } = await mounted(t);
  const id = randomUUID();
  await app.inject({ method: 'POST', url: '/dynflow/tasks/launch', payload: JSON.stringify({ operation: 'fake', input: { [id]: hostInput({ mode: 'hang' }) } }) });
  await until(() => op.started.includes(id), 'the runner');
  assertAnswer(await app.inject({ method: 'POST', url: `/dynflow/tasks/${id}/cancel`, payload: '' }), 200, JSON.stringify({ task_id: id, canceled_steps_count: 1 }), JSON_TYPE);
  await until(async () => (await engine.store.get(id))?.state === 'stopped', 'the cancelled task');
  assertAnswer(await app.inject({ method: 'POST', url: `/dynflow/tasks/${id}/cancel` }), 200, JSON.stringify({ task_id: id, canceled_steps_count: 0 }), JSON_TYPE);
  const unknown = randomUUID();
  assertAnswer(await app.inject({ method: 'POST', url: `/dynflow/tasks/${unknown}/cancel` }), 404, `{"error":"no task ${unknown}"}`, JSON_TYPE);
});

test('update and done need a verified client certificate (403 JSON otherwise)', async (t) => {
  const { app, op } = await mounted(t);
  const id = randomUUID();
  await app.inject({ method: 'POST', url: '/dynflow/tasks/launch', payload: JSON.stringify({ operation: 'fake', input: { [id]: hostInput({ mode: 'hang' }) } }) });
  for (const verb of ['update', 'done']) {
    const res = await app.inject({ method: 'POST', url: `/dynflow/tasks/${id}/${verb}`, headers: { authorization: `Basic ${Buffer.from(`${id}:otp`).toString('base64')}` }, payload: '{"step_id": 2}' });
    assertAnswer(res, 403, /^\{"error":"task events require HTTPS with a client certificate/, JSON_TYPE);
  }
  assert.deepEqual(op.events, []);
});
