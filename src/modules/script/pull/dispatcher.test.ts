import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createDispatcher, type DispatcherClock, type DispatcherOptions, type PullNotification } from './dispatcher.ts';
import { buildStartMessage } from './messages.ts';
import type { NotificationDispatcher, Publisher, YggMessage } from './types.ts';
import type { Logger } from '../../../core/logging-types.ts';

const TTL_S = 5;
const RESEND_S = 900;

function captureLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = {
    lines,
    debug: (m: string) => lines.push(`DEBUG ${m}`),
    info: (m: string) => lines.push(`INFO ${m}`),
    warn: (m: string) => lines.push(`WARN ${m}`),
    error: (m: string) => lines.push(`ERROR ${m}`),
    withRequest: () => log,
    child: () => log,
  };
  return log;
}

/** A publisher that records what it got; `failing` makes it refuse like a broker that is down. */
class FakePublisher implements Publisher {
  published: { hostId: string; message: YggMessage }[] = [];
  failing = false;
  async publish(hostId: string, message: YggMessage): Promise<void> {
    if (this.failing) throw new Error('MQTT broker 127.0.0.1:1883 is not connected (last error: connect ECONNREFUSED)');
    this.published.push({ hostId, message });
  }
  async close(): Promise<void> {}
  uuids(): string[] {
    return this.published.map((p) => p.message.metadata.job_uuid);
  }
}

/** Counts the dispatcher's live timers while delegating to the (mocked) global ones. */
function countingClock(): DispatcherClock & { live: Set<unknown> } {
  const live = new Set<unknown>();
  return {
    live,
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      const h: ReturnType<typeof setTimeout> = setTimeout(() => {
        live.delete(h);
        fn();
      }, ms);
      live.add(h);
      return h;
    },
    clearTimeout: (h) => {
      live.delete(h);
      clearTimeout(h as ReturnType<typeof setTimeout>);
    },
  };
}

interface Harness {
  dispatcher: NotificationDispatcher;
  publisher: FakePublisher;
  store: Map<string, PullNotification>;
  notified: string[];
  clock: ReturnType<typeof countingClock>;
  log: ReturnType<typeof captureLog>;
  /** Advance mocked time and let the publishes it triggers settle. */
  advance(seconds: number): Promise<void>;
}

function storeJob(store: Map<string, PullNotification>, uuid: string, host = `host-${uuid}.example.com`): void {
  store.set(uuid, {
    hostId: host,
    message: buildStartMessage({
      jobUuid: uuid,
      proxyUrl: 'https://proxy.example.com:9090',
      effectiveUser: 'root',
      messageId: `msg-${uuid}`,
      sent: new Date(Date.UTC(2026, 0, 5, 10, 0, 0)),
    }),
  });
}

async function settle(): Promise<void> {
  // setImmediate is not mocked: it runs after the pending promise jobs
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

function harness(
  t: TestContext,
  settings: { rateLimit?: number },
  shared?: { store: Map<string, PullNotification>; publisher: FakePublisher },
  extra: Partial<DispatcherOptions> = {},
): Harness {
  const store = shared?.store ?? new Map<string, PullNotification>();
  const publisher = shared?.publisher ?? new FakePublisher();
  const notified: string[] = [];
  const clock = countingClock();
  const log = captureLog();
  const dispatcher = createDispatcher({
    settings: { ttlSeconds: TTL_S, resendIntervalSeconds: RESEND_S, rateLimit: settings.rateLimit },
    publisher,
    loadMessage: async (uuid) => store.get(uuid),
    onNotified: async (uuid) => {
      notified.push(uuid);
    },
    log,
    clock,
    ...extra,
  });
  t.after(() => dispatcher.close());
  return {
    dispatcher,
    publisher,
    store,
    notified,
    clock,
    log,
    advance: async (seconds) => {
      // in steps of at most one TTL, so the publishes of one tick settle before the next
      for (let left = seconds; left > 0; left -= TTL_S) {
        t.mock.timers.tick(Math.min(left, TTL_S) * 1000);
        await settle();
      }
    },
  };
}

function enableTimers(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.UTC(2026, 0, 5, 10, 0, 0) });
}

test('without a rate limit every added job is published at once, oldest first', async (t) => {
  enableTimers(t);
  const h = harness(t, {});
  for (let i = 0; i < 20; i++) {
    storeJob(h.store, `j${i}`);
    h.dispatcher.add(`j${i}`);
  }
  await settle();
  assert.equal(h.publisher.published.length, 20);
  assert.deepEqual(h.publisher.uuids(), Array.from({ length: 20 }, (_, i) => `j${i}`));
  assert.deepEqual(h.notified.length, 20);
  assert.equal(h.publisher.published[3].hostId, 'host-j3.example.com');
  assert.deepEqual(h.dispatcher.stats(), { pending: 0, hot: 20, cold: 0, running: 0, waitingResend: 0 });
});

test('adding a job twice publishes it once', async (t) => {
  enableTimers(t);
  const h = harness(t, {});
  storeJob(h.store, 'a');
  h.dispatcher.add('a');
  h.dispatcher.add('a');
  await settle();
  assert.deepEqual(h.publisher.uuids(), ['a']);
});

test('the rate limit counts hot, cold and running jobs; pickup holds the slot, done frees it', async (t) => {
  enableTimers(t);
  const h = harness(t, { rateLimit: 3 });
  for (const u of ['a', 'b', 'c', 'd', 'e']) {
    storeJob(h.store, u);
    h.dispatcher.add(u);
  }
  await settle();
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c']);
  assert.deepEqual(h.dispatcher.stats(), { pending: 2, hot: 3, cold: 0, running: 0, waitingResend: 0 });

  h.dispatcher.picked('a');
  await settle();
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c'], 'a running job still holds its slot');
  assert.equal(h.dispatcher.stats().running, 1);
  assert.deepEqual(h.dispatcher.runningJobs(), ['a'], 'listed for the replicas reconciliation');

  await h.advance(TTL_S);
  assert.deepEqual(h.dispatcher.stats(), { pending: 2, hot: 0, cold: 2, running: 1, waitingResend: 0 });
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c'], 'cold jobs still hold their slots');

  h.dispatcher.done('a');
  await settle();
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c', 'd'], 'done frees the slot for the next pending job');
  assert.equal(h.dispatcher.stats().running, 0);
});

test('a job not picked up within two TTLs frees its slot and is resent after the resend interval with the same message', async (t) => {
  enableTimers(t);
  const h = harness(t, { rateLimit: 2 });
  for (const u of ['a', 'b', 'c']) {
    storeJob(h.store, u);
    h.dispatcher.add(u);
  }
  await settle();
  assert.deepEqual(h.publisher.uuids(), ['a', 'b']);

  await h.advance(TTL_S); // hot → cold
  assert.deepEqual(h.publisher.uuids(), ['a', 'b']);
  await h.advance(TTL_S); // cold → freed, resend scheduled; c takes a slot
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c']);
  assert.deepEqual(h.dispatcher.stats(), { pending: 0, hot: 1, cold: 0, running: 0, waitingResend: 2 });

  h.dispatcher.picked('c');
  await h.advance(RESEND_S - TTL_S); // just before the resend is due
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c']);
  await h.advance(TTL_S);
  // a is resent into the one free slot; b waits in pending for it
  assert.deepEqual(h.publisher.uuids(), ['a', 'b', 'c', 'a']);
  assert.deepEqual(h.dispatcher.stats(), { pending: 1, hot: 1, cold: 0, running: 1, waitingResend: 0 });
  assert.deepEqual(h.publisher.published[3].message, h.publisher.published[0].message, 'a resend repeats the message, message_id included');
  assert.equal(h.publisher.published[3].message.message_id, 'msg-a');
});

test('a host picking up a job that waits for its resend cancels the resend', async (t) => {
  enableTimers(t);
  const h = harness(t, {});
  storeJob(h.store, 'a');
  h.dispatcher.add('a');
  await settle();
  await h.advance(2 * TTL_S);
  assert.equal(h.dispatcher.stats().waitingResend, 1);
  h.dispatcher.picked('a'); // e.g. the host polled GET /ssh/jobs on its own
  await h.advance(RESEND_S + TTL_S);
  assert.deepEqual(h.publisher.uuids(), ['a']);
  assert.deepEqual(h.dispatcher.stats(), { pending: 0, hot: 0, cold: 0, running: 1, waitingResend: 0 });
});

test('the TTL tick runs only while something is pending, hot or cold', async (t) => {
  enableTimers(t);
  const h = harness(t, { rateLimit: 1 });
  assert.equal(h.clock.live.size, 0, 'idle: no timer');
  storeJob(h.store, 'a');
  storeJob(h.store, 'b');
  h.dispatcher.add('a');
  h.dispatcher.add('b');
  await settle();
  assert.equal(h.clock.live.size, 1, 'the tick runs while jobs are hot or pending');
  h.dispatcher.picked('a');
  await settle();
  assert.equal(h.clock.live.size, 1, 'b still pending: the tick keeps running');
  h.dispatcher.done('b');
  await settle();
  assert.equal(h.clock.live.size, 0, 'only a running job left: no tick');
  h.dispatcher.done('a');
  assert.deepEqual(h.dispatcher.stats(), { pending: 0, hot: 0, cold: 0, running: 0, waitingResend: 0 });
  assert.equal(h.clock.live.size, 0);
});

test('done removes a job in any state and a job whose task is gone is forgotten', async (t) => {
  enableTimers(t);
  const h = harness(t, { rateLimit: 1 });
  storeJob(h.store, 'a');
  storeJob(h.store, 'b');
  h.dispatcher.add('a');
  h.dispatcher.add('b');
  h.dispatcher.add('ghost'); // no stored message: its task stopped meanwhile
  await settle();
  h.dispatcher.done('b'); // pending
  h.dispatcher.done('a'); // hot
  await settle();
  assert.deepEqual(h.publisher.uuids(), ['a']);
  assert.deepEqual(h.dispatcher.stats(), { pending: 0, hot: 0, cold: 0, running: 0, waitingResend: 0 });
  h.dispatcher.done('never-added'); // harmless
});

test('while the broker is down jobs stay queued with their slots free and are retried on the next tick', async (t) => {
  enableTimers(t);
  const h = harness(t, { rateLimit: 2 });
  h.publisher.failing = true;
  for (const u of ['a', 'b', 'c']) {
    storeJob(h.store, u);
    h.dispatcher.add(u);
  }
  await settle();
  assert.deepEqual(h.publisher.uuids(), []);
  assert.deepEqual(h.dispatcher.stats(), { pending: 3, hot: 0, cold: 0, running: 0, waitingResend: 0 });
  assert.deepEqual(h.notified, []);
  assert.equal(h.log.lines.filter((l) => l.startsWith('WARN')).length, 1, 'one warning per outage');
  assert.match(h.log.lines.find((l) => l.startsWith('WARN')) ?? '', /ECONNREFUSED/);

  h.publisher.failing = false;
  storeJob(h.store, 'd');
  h.dispatcher.add('d'); // no retry storm between ticks
  await settle();
  assert.deepEqual(h.publisher.uuids(), []);

  await h.advance(TTL_S);
  assert.deepEqual(h.publisher.uuids(), ['a', 'b'], 'retried oldest first within the limit');
  assert.deepEqual(h.notified, ['a', 'b']);
  assert.ok(h.log.lines.some((l) => l.startsWith('INFO') && /delivered again/.test(l)));
});

test('restart: a new dispatcher resumes stored jobs, running ones hold their slots, resends keep the message_id', async (t) => {
  enableTimers(t);
  const store = new Map<string, PullNotification>();
  const publisher = new FakePublisher();
  const first = harness(t, { rateLimit: 2 }, { store, publisher });
  for (const u of ['a', 'b', 'c']) {
    storeJob(store, u);
    first.dispatcher.add(u);
  }
  await settle();
  first.dispatcher.picked('a');
  await first.dispatcher.close();
  assert.deepEqual(publisher.uuids(), ['a', 'b']);

  // The script module, on start, re-adds undelivered jobs and marks delivered ones as picked.
  const second = harness(t, { rateLimit: 2 }, { store, publisher });
  second.dispatcher.picked('a');
  second.dispatcher.add('b');
  second.dispatcher.add('c');
  await settle();
  assert.deepEqual(publisher.uuids(), ['a', 'b', 'b'], 'one free slot: b is notified again, c waits');
  assert.deepEqual(publisher.published[2].message, publisher.published[1].message);
  assert.deepEqual(second.dispatcher.stats(), { pending: 1, hot: 1, cold: 0, running: 1, waitingResend: 0 });

  await first.advance(3 * TTL_S); // the closed dispatcher's timers are gone
  assert.equal(first.clock.live.size, 0);
});

test('after close nothing is published', async (t) => {
  enableTimers(t);
  const h = harness(t, {});
  await h.dispatcher.close();
  storeJob(h.store, 'a');
  h.dispatcher.add('a');
  await h.advance(TTL_S);
  assert.deepEqual(h.publisher.uuids(), []);
});

test('bad settings are refused naming the setting', () => {
  const base = { ttlSeconds: 5, resendIntervalSeconds: 900 };
  const opts = (settings: DispatcherOptions['settings']): DispatcherOptions => ({
    settings,
    publisher: new FakePublisher(),
    loadMessage: async () => undefined,
    onNotified: async () => {},
    log: captureLog(),
  });
  assert.throws(() => createDispatcher(opts({ ...base, rateLimit: 0 })), /mqtt_rate_limit must be a positive integer/);
  assert.throws(() => createDispatcher(opts({ ...base, ttlSeconds: 0 })), /mqtt_ttl must be a positive number/);
  assert.throws(() => createDispatcher(opts({ ...base, resendIntervalSeconds: -1 })), /mqtt_resend_interval/);
});

test('at most maxConcurrentPublishes publishes await their PUBACK at once; the rest follow as acks come in', async (t) => {
  enableTimers(t);
  const store = new Map<string, PullNotification>();
  const waiting: (() => void)[] = [];
  let started = 0;
  const slow: Publisher = {
    publish: () => {
      started++;
      return new Promise<void>((r) => waiting.push(r));
    },
    close: async () => undefined,
  };
  const d = createDispatcher({
    settings: { ttlSeconds: TTL_S, resendIntervalSeconds: RESEND_S },
    publisher: slow,
    loadMessage: async (uuid) => store.get(uuid),
    onNotified: async () => undefined,
    log: captureLog(),
    maxConcurrentPublishes: 4,
  });
  for (let i = 0; i < 10; i++) {
    storeJob(store, `j${i}`);
    d.add(`j${i}`);
  }
  await settle();
  assert.equal(started, 4);
  assert.deepEqual(d.stats(), { pending: 6, hot: 4, cold: 0, running: 0, waitingResend: 0 });
  while (waiting.length > 0) {
    waiting.shift()!();
    await settle();
  }
  assert.equal(started, 10);
  assert.deepEqual(d.stats(), { pending: 0, hot: 10, cold: 0, running: 0, waitingResend: 0 });
  await d.close();
});
