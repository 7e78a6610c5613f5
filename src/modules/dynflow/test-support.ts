// Test helpers shared by the dynflow unit tests (not loaded by the module): a fake operation whose
// behaviour each task chooses through its input, and an engine on node:sqlite with the local queue.

import type { TestContext } from 'node:test';
import { silentLogger } from '../../core/logging.ts';
import { Engine, type EngineOptions } from './engine.ts';
import { SecretBox } from './secret-box.ts';
import { SqliteTaskStore } from './store/sqlite.ts';
import { LocalWorkQueue } from './queue/local.ts';
import type { AbortReason, Operation, TaskHandle } from './types.ts';

export const FAKE_ACTION = 'Test::Actions::RunFake';

/**
 * `input.mode`: `exit` (prints `hello`, exits with `input.exit ?? 0`), `hang` (waits for its signal,
 * then exits 143 unless the reason is `shutdown`: a crash finishes nothing), `throw`.
 */
export class FakeOperation implements Operation {
  readonly name: string;
  readonly actionClasses: readonly string[];
  readonly secretKeys = ['ssh_password', 'key_passphrase', 'effective_user_password'];
  readonly started: string[] = [];
  readonly recovered: string[] = [];
  readonly aborts: Array<{ id: string; reason: AbortReason }> = [];
  readonly events: Array<{ id: string; body: Record<string, unknown> }> = [];
  readonly secretsSeen: Record<string, Record<string, unknown>> = {};

  constructor(name = 'fake', actionClasses: readonly string[] = [FAKE_ACTION]) {
    this.name = name;
    this.actionClasses = actionClasses;
  }

  validate(input: Record<string, unknown>): { field: string; message: string } | undefined {
    if (typeof input.hostname !== 'string' || input.hostname === '') return { field: 'hostname', message: 'is required' };
    return undefined;
  }

  async run(handle: TaskHandle): Promise<void> {
    this.started.push(handle.task.id);
    this.secretsSeen[handle.task.id] = handle.secrets();
    const mode = handle.task.input.mode ?? 'exit';
    if (mode === 'throw') throw new Error('the fake runner broke');
    await handle.setOutputExtra({ runner_id: `runner-${handle.task.id.slice(0, 4)}` });
    await handle.output([{ output_type: 'stdout', output: 'hello\n', timestamp: Date.now() / 1000 }]);
    if (mode === 'hang') {
      const reason = await new Promise<AbortReason>((resolve) => {
        if (handle.signal.aborted) resolve(handle.signal.reason as AbortReason);
        handle.signal.addEventListener('abort', () => resolve(handle.signal.reason as AbortReason), { once: true });
      });
      this.aborts.push({ id: handle.task.id, reason });
      if (reason === 'shutdown') return;
      await handle.output([{ output_type: 'debug', output: `killed (${reason})`, timestamp: Date.now() / 1000 }]);
      await handle.finish(143);
      return;
    }
    await handle.finish(Number(handle.task.input.exit ?? 0));
  }

  async recover(handle: TaskHandle): Promise<void> {
    this.recovered.push(handle.task.id);
    await handle.output([{ output_type: 'debug', output: 'The proxy stopped while this task ran', timestamp: Date.now() / 1000 }]);
    await handle.finish('EXCEPTION');
  }

  async event(handle: TaskHandle, body: Record<string, unknown>): Promise<void> {
    this.events.push({ id: handle.task.id, body });
  }
}

export interface TestEngine {
  engine: Engine;
  store: SqliteTaskStore;
  queue: LocalWorkQueue;
  close(): Promise<void>;
}

/** An engine on `path` (default in memory); closed after the test unless `keepOpen`. */
export async function testEngine(t: TestContext, options: Partial<EngineOptions> & { path?: string; keepOpen?: boolean } = {}): Promise<TestEngine> {
  const store = new SqliteTaskStore({ path: options.path ?? ':memory:' });
  await store.open();
  const queue = new LocalWorkQueue(store.database);
  const engine = new Engine({
    store,
    queue,
    secretBox: options.secretBox ?? SecretBox.ephemeral(),
    log: silentLogger,
    outputLimitBytes: 1024 * 1024,
    maxRunningTasks: 10,
    callbackRetryHours: 1,
    cleanerAgeSeconds: 1800,
    recoverAllAtStart: true,
    abortPollMs: 20,
    operationGraceMs: 200,
    callbackFirstDelayMs: 10,
    callbackMaxDelayMs: 40,
    ...options,
  });
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await engine.close(Date.now() + 500);
  };
  if (!options.keepOpen) t.after(close);
  return { engine, store, queue, close };
}

/** Resolves when `check` holds (the engine works on its own schedule); fails after `limitMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 5000): Promise<void> {
  const giveUpAt = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > giveUpAt) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
