// The behaviour every TaskStore must have, as one test suite: store/sqlite.test.ts runs it against
// node:sqlite (a file and :memory:), test/dynflow/postgres*.test.ts against a real PostgreSQL.
// `makeStore` returns a fresh, empty, not yet opened store; the suite opens and closes it (a
// second close by the caller must be harmless).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { newTaskRecord, type PullJob, type TaskRecord, type TaskStore } from '../types.ts';

export function sampleTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return newTaskRecord({
    id: randomUUID(),
    kind: 'task',
    parentId: null,
    operation: 'ssh',
    actionClass: 'Proxy::RemoteExecution::Ssh::Actions::RunScript',
    input: { hostname: 'web1.example.com', script: 'echo hi', nested: { a: [1, 'two', null] } },
    sealedSecrets: null,
    callback: { task_id: randomUUID(), step_id: 3 },
    ...overrides,
  });
}

function samplePullJob(taskId: string, overrides: Partial<PullJob> = {}): PullJob {
  return {
    uuid: randomUUID(),
    taskId,
    hostname: 'web1.example.com',
    effectiveUser: 'root',
    script: '#!/bin/sh\necho hi\n',
    state: 'ready_for_pickup',
    createdAt: Date.now(),
    messageId: randomUUID(),
    notifiedAt: null,
    ...overrides,
  };
}

export function storeContract(makeStore: () => Promise<TaskStore>, name = 'TaskStore'): void {
  describe(`TaskStore contract: ${name}`, () => {
    async function withStore(fn: (store: TaskStore) => Promise<void>): Promise<void> {
      const store = await makeStore();
      await store.open();
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    }

    test('a task round-trips with every field', () =>
      withStore(async (store) => {
        const t = sampleTask({ sealedSecrets: 'v1.a.b.c', exitStatus: 'EXCEPTION', exitStatusTimestamp: 1767607202.125, outputExtra: { runner_id: 'r1' }, owner: 'replica-a', startedAt: 1000, endedAt: 2000 });
        await store.insertTask(t);
        assert.deepEqual(await store.get(t.id), t);
        assert.equal(await store.get(randomUUID()), undefined);
      }));

    test('a batch and its children are stored atomically, children in input order', () =>
      withStore(async (store) => {
        const parent = sampleTask({ kind: 'batch', actionClass: 'Proxy::Dynflow::Action::Batch', callback: null, state: 'running' });
        const ids = Array.from({ length: 5 }, () => randomUUID());
        const children = ids.map((id) => sampleTask({ id, parentId: parent.id }));
        await store.insertBatch(parent, children);
        assert.deepEqual((await store.children(parent.id)).map((c) => c.id), ids);
        assert.equal(await store.countUnfinishedChildren(parent.id), 5);
        // A second batch reusing a child id fails as a whole: its parent is not stored either.
        const parent2 = sampleTask({ kind: 'batch', callback: null });
        await assert.rejects(store.insertBatch(parent2, [sampleTask({ parentId: parent2.id }), sampleTask({ id: ids[0] as string, parentId: parent2.id })]));
        assert.equal(await store.get(parent2.id), undefined);
      }));

    test('update is a compare-and-set on the state', () =>
      withStore(async (store) => {
        const t = sampleTask();
        await store.insertTask(t);
        const running = await store.update(t.id, { state: 'running', owner: 'a', startedAt: 5 }, ['planned']);
        assert.equal(running?.state, 'running');
        assert.equal(running?.owner, 'a');
        assert.equal(await store.update(t.id, { state: 'running', owner: 'b' }, ['planned']), undefined);
        const first = await store.update(t.id, { state: 'stopped', result: 'success', exitStatus: 0, endedAt: 9 }, ['running']);
        assert.equal(first?.exitStatus, 0);
        assert.equal(await store.update(t.id, { state: 'stopped', result: 'error', exitStatus: 1 }, ['running']), undefined);
        assert.equal((await store.get(t.id))?.result, 'success');
        assert.equal(await store.update(randomUUID(), { owner: 'x' }), undefined);
      }));

    test('states, count and listByState', () =>
      withStore(async (store) => {
        const a = sampleTask({ state: 'running' });
        const b = sampleTask({ state: 'stopped', result: 'error' });
        await store.insertTask(a);
        await store.insertTask(b);
        const states = await store.states([a.id, b.id, randomUUID()]);
        assert.deepEqual(Object.fromEntries(states), { [a.id]: { state: 'running', result: 'pending' }, [b.id]: { state: 'stopped', result: 'error' } });
        assert.equal(await store.count(), 2);
        assert.equal(await store.count('running'), 1);
        assert.equal(await store.count('paused'), 0);
        assert.deepEqual((await store.listByState(['running'])).map((t) => t.id), [a.id]);
      }));

    test('abort requests are listed for the owner of running tasks only', () =>
      withStore(async (store) => {
        const mine = sampleTask({ state: 'running', owner: 'a' });
        const other = sampleTask({ state: 'running', owner: 'b' });
        await store.insertTask(mine);
        await store.insertTask(other);
        await store.update(mine.id, { abortRequested: 'cancelled' });
        await store.update(other.id, { abortRequested: 'timeout' });
        assert.deepEqual(await store.abortRequestsFor('a'), [{ id: mine.id, reason: 'cancelled' }]);
        await store.update(mine.id, { state: 'stopped' });
        assert.deepEqual(await store.abortRequestsFor('a'), []);
      }));

    test('output gets stable ids in order and is capped, counting what was dropped', () =>
      withStore(async (store) => {
        const t = sampleTask();
        await store.insertTask(t);
        await store.appendOutput(t.id, [{ output_type: 'stdout', output: 'hello\n', timestamp: 1.5 }, { output_type: 'stderr', output: 'é', timestamp: 2 }], 10);
        // 6 + 2 bytes stored; the next 5 bytes only fit partly ("ab" of "abcde").
        await store.appendOutput(t.id, [{ output_type: 'stdout', output: 'abcde', timestamp: 3 }], 10);
        await store.appendOutput(t.id, [{ output_type: 'stdout', output: 'more', timestamp: 4 }], 10);
        const all = await store.readOutput(t.id);
        assert.deepEqual(all.entries, [
          { output_type: 'stdout', output: 'hello\n', timestamp: 1.5, id: `${t.id}-1` },
          { output_type: 'stderr', output: 'é', timestamp: 2, id: `${t.id}-2` },
          { output_type: 'stdout', output: 'ab', timestamp: 3, id: `${t.id}-3` },
        ]);
        assert.equal(all.lastSeq, 3);
        assert.equal((await store.get(t.id))?.droppedOutputBytes, 3 + 4);
        const tail = await store.readOutput(t.id, 2);
        assert.deepEqual(tail.entries.map((e) => e.output), ['ab']);
        assert.deepEqual((await store.readOutput(t.id, 3)).entries, []);
        assert.equal((await store.readOutput(t.id, 3)).lastSeq, 3);
      }));

    test('a multi-byte character is never split by the cap', () =>
      withStore(async (store) => {
        const t = sampleTask();
        await store.insertTask(t);
        await store.appendOutput(t.id, [{ output_type: 'stdout', output: 'aé€', timestamp: 1 }], 4);
        assert.deepEqual((await store.readOutput(t.id)).entries.map((e) => e.output), ['aé']);
      }));

    test('callbacks: upsert, due ones oldest first', () =>
      withStore(async (store) => {
        const [a, b] = [sampleTask(), sampleTask()];
        await store.insertTask(a);
        await store.insertTask(b);
        await store.putCallback({ taskId: a.id, attempts: 0, nextAttemptAt: 200, deliveredAt: null, lastError: null });
        await store.putCallback({ taskId: b.id, attempts: 1, nextAttemptAt: 100, deliveredAt: null, lastError: 'HTTP 500' });
        assert.deepEqual((await store.dueCallbacks(150, 10)).map((c) => c.taskId), [b.id]);
        assert.deepEqual((await store.dueCallbacks(Number.POSITIVE_INFINITY, 10)).map((c) => c.taskId), [b.id, a.id]);
        await store.putCallback({ taskId: b.id, attempts: 2, nextAttemptAt: null, deliveredAt: 300, lastError: null });
        assert.deepEqual(await store.getCallback(b.id), { taskId: b.id, attempts: 2, nextAttemptAt: null, deliveredAt: 300, lastError: null });
        assert.deepEqual((await store.dueCallbacks(1000, 10)).map((c) => c.taskId), [a.id]);
      }));

    test('pull jobs: by uuid, task, host and state', () =>
      withStore(async (store) => {
        const t = sampleTask();
        await store.insertTask(t);
        const j1 = samplePullJob(t.id, { createdAt: 1 });
        const j2 = samplePullJob(randomUUID(), { createdAt: 2 });
        const j3 = samplePullJob(randomUUID(), { hostname: 'other.example.com', createdAt: 3 });
        for (const j of [j1, j2, j3]) await store.insertPullJob(j);
        assert.deepEqual(await store.getPullJob(j1.uuid), j1);
        assert.deepEqual(await store.pullJobForTask(t.id), j1);
        assert.deepEqual(await store.pullJobsOf('web1.example.com'), [j1.uuid, j2.uuid]);
        const notified = await store.updatePullJob(j2.uuid, { state: 'notified', notifiedAt: 50 });
        assert.equal(notified?.state, 'notified');
        assert.equal(notified?.notifiedAt, 50);
        assert.deepEqual((await store.pullJobsByState(['ready_for_pickup'])).map((j) => j.uuid), [j1.uuid, j3.uuid]);
        await store.deletePullJob(j1.uuid);
        assert.equal(await store.getPullJob(j1.uuid), undefined);
        assert.equal(await store.updatePullJob(j1.uuid, { state: 'running' }), undefined);
      }));

    test('the cleaner deletes old stopped plans, keeps paused ones, pending callbacks and parents of kept children', () =>
      withStore(async (store) => {
        const old = sampleTask({ state: 'stopped', result: 'success', endedAt: 1000 });
        const recent = sampleTask({ state: 'stopped', result: 'success', endedAt: 5000 });
        const paused = sampleTask({ state: 'paused', endedAt: 1000 });
        const retrying = sampleTask({ state: 'stopped', result: 'success', endedAt: 1000 });
        const delivered = sampleTask({ state: 'stopped', result: 'success', endedAt: 1000 });
        const parent = sampleTask({ kind: 'batch', callback: null, state: 'stopped', result: 'success', endedAt: 1000 });
        const keptChild = sampleTask({ parentId: parent.id, state: 'stopped', result: 'success', endedAt: 1000 });
        for (const t of [old, recent, paused, retrying, delivered]) await store.insertTask(t);
        await store.insertBatch(parent, [keptChild]);
        await store.appendOutput(old.id, [{ output_type: 'stdout', output: 'x', timestamp: 1 }], 100);
        await store.insertPullJob(samplePullJob(old.id));
        await store.putCallback({ taskId: retrying.id, attempts: 3, nextAttemptAt: 9999, deliveredAt: null, lastError: 'HTTP 500' });
        await store.putCallback({ taskId: keptChild.id, attempts: 3, nextAttemptAt: 9999, deliveredAt: null, lastError: 'HTTP 500' });
        await store.putCallback({ taskId: delivered.id, attempts: 1, nextAttemptAt: null, deliveredAt: 1100, lastError: null });
        assert.equal(await store.deleteStoppedBefore(2000), 2);
        assert.equal(await store.get(old.id), undefined);
        assert.equal(await store.get(delivered.id), undefined);
        assert.deepEqual((await store.readOutput(old.id)).entries, []);
        assert.equal(await store.pullJobForTask(old.id), undefined);
        for (const kept of [recent, paused, retrying, parent, keptChild]) assert.ok(await store.get(kept.id), `${kept.id} kept`);
        // Once the child's callback is delivered, child and parent go together.
        await store.putCallback({ taskId: keptChild.id, attempts: 4, nextAttemptAt: null, deliveredAt: 1200, lastError: null });
        assert.equal(await store.deleteStoppedBefore(2000), 2);
        assert.equal(await store.get(parent.id), undefined);
      }));
  });
}
