// The pull-mqtt notification dispatcher (spec remote-execution.md §5.5). It decides *when* a
// pull job's start message is published; what is published comes from the script module through
// `loadMessage`, so a resend (or a resend after a proxy restart) repeats the stored message with
// its original message_id.
//
// States per job uuid: pending (FIFO) → publishing → hot → cold → (freed, resend scheduled) and
// running (the host fetched the job). The rate limit counts publishing + hot + cold + running, so
// it bounds jobs being notified plus jobs executing, not messages per second. One TTL tick ages
// hot → cold → freed; it runs only while something is pending, publishing, hot or cold. Resends
// all have the same delay, so the resend queue is a FIFO served by one timer.

import type { Logger } from '../../../core/logging-types.ts';
import type { MqttSettings, NotificationDispatcher, Publisher, YggMessage } from './types.ts';

/** What the dispatcher publishes for one job: the host's topic id and the stored start message. */
export interface PullNotification {
  readonly hostId: string;
  readonly message: YggMessage;
}

/** Timer functions; the defaults call the globals at call time so node:test mock timers apply. */
export interface DispatcherClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DispatcherOptions {
  readonly settings: Pick<MqttSettings, 'ttlSeconds' | 'resendIntervalSeconds' | 'rateLimit'>;
  /** Shared with the script module (which also publishes cancel messages); not closed here. */
  readonly publisher: Publisher;
  /**
   * The start notification of a job, or undefined when the job no longer exists (its task
   * stopped): the dispatcher then forgets it. Called before every publish, resends included.
   */
  loadMessage(jobUuid: string): Promise<PullNotification | undefined>;
  /** Called after every acknowledged publish (the task's state becomes `notified`). */
  onNotified(jobUuid: string): Promise<void>;
  readonly log: Logger;
  readonly clock?: DispatcherClock;
  /** Publishes awaiting their PUBACK at once (default 64): bounds memory and store reads. */
  readonly maxConcurrentPublishes?: number;
}

const realClock: DispatcherClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

type JobState = 'pending' | 'publishing' | 'hot' | 'cold' | 'running' | 'resend';

export function createDispatcher(opts: DispatcherOptions): NotificationDispatcher {
  const { settings, publisher, log } = opts;
  const clock = opts.clock ?? realClock;
  const ttlMs = positiveSeconds(settings.ttlSeconds, 'mqtt_ttl') * 1000;
  const resendMs = positiveSeconds(settings.resendIntervalSeconds, 'mqtt_resend_interval') * 1000;
  const rateLimit = settings.rateLimit;
  if (rateLimit !== undefined && (!Number.isInteger(rateLimit) || rateLimit < 1)) {
    throw new Error(`mqtt_rate_limit must be a positive integer or unset, given ${String(rateLimit)}`);
  }
  const maxPublishing = opts.maxConcurrentPublishes ?? 64;

  const state = new Map<string, JobState>();
  // Insertion-ordered sets serve as FIFOs: oldest first, O(1) delete.
  // `retry` holds jobs whose publish failed: they go before `pending` once the publisher works.
  const retry = new Set<string>();
  const pending = new Set<string>();
  const publishing = new Set<string>();
  const hot = new Set<string>();
  const cold = new Set<string>();
  const running = new Set<string>();
  /** uuid → due time; due times grow with insertion because the delay is constant. */
  const resendDue = new Map<string, number>();
  const inFlight = new Set<Promise<void>>();

  let tickTimer: unknown;
  let resendTimer: unknown;
  let resendTimerDue = 0;
  /** Set after a failed publish: no more attempts until the next tick. */
  let publisherBlocked = false;
  let outageLogged = false;
  let closed = false;

  const slotsUsed = (): number => publishing.size + hot.size + cold.size + running.size;

  function setState(uuid: string, next: JobState | undefined): void {
    const prev = state.get(uuid);
    if (prev !== undefined) setOf(prev).delete(uuid);
    retry.delete(uuid);
    if (next === undefined) {
      state.delete(uuid);
      return;
    }
    state.set(uuid, next);
    if (next !== 'resend') setOf(next).add(uuid);
  }

  function setOf(s: JobState): Set<string> {
    switch (s) {
      case 'pending':
        return pending;
      case 'publishing':
        return publishing;
      case 'hot':
        return hot;
      case 'cold':
        return cold;
      case 'running':
        return running;
      case 'resend':
        // resendDue is a Map; membership there is handled by the callers
        return emptySet;
    }
  }

  function nextToPublish(): string | undefined {
    for (const uuid of retry) return uuid;
    for (const uuid of pending) return uuid;
    return undefined;
  }

  function dispatch(): void {
    if (closed) return;
    while (!publisherBlocked && publishing.size < maxPublishing) {
      if (rateLimit !== undefined && slotsUsed() >= rateLimit) break;
      const uuid = nextToPublish();
      if (uuid === undefined) break;
      setState(uuid, 'publishing');
      const p = publishOne(uuid).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    updateTick();
  }

  async function publishOne(uuid: string): Promise<void> {
    let note: PullNotification | undefined;
    try {
      note = await opts.loadMessage(uuid);
    } catch (err) {
      log.error(`pull job ${uuid}: could not load its start message: ${errorText(err)}`, err);
      return failed(uuid);
    }
    if (state.get(uuid) !== 'publishing') return; // picked or done meanwhile
    if (note === undefined) {
      log.debug(`pull job ${uuid}: gone before it was notified`);
      setState(uuid, undefined);
      return dispatch();
    }
    try {
      await publisher.publish(note.hostId, note.message);
    } catch (err) {
      if (!outageLogged) {
        log.warn(`pull job ${uuid}: MQTT notification failed, retrying every ${ttlMs / 1000} s: ${errorText(err)}`);
        outageLogged = true;
      } else {
        log.debug(`pull job ${uuid}: MQTT notification failed: ${errorText(err)}`);
      }
      return failed(uuid);
    }
    if (outageLogged) {
      log.info('MQTT notifications are delivered again');
      outageLogged = false;
    }
    if (state.get(uuid) === 'publishing') setState(uuid, 'hot');
    try {
      await opts.onNotified(uuid);
    } catch (err) {
      log.error(`pull job ${uuid}: recording the notification failed: ${errorText(err)}`, err);
    }
    dispatch();
  }

  function failed(uuid: string): void {
    // Back to the head of the line, its slot freed; the next tick tries again.
    if (state.get(uuid) === 'publishing') {
      setState(uuid, 'pending');
      pending.delete(uuid);
      retry.add(uuid);
    }
    publisherBlocked = true;
    updateTick();
  }

  function tick(): void {
    tickTimer = undefined;
    if (closed) return;
    for (const uuid of [...cold]) {
      setState(uuid, 'resend');
      resendDue.set(uuid, clock.now() + resendMs);
    }
    for (const uuid of [...hot]) setState(uuid, 'cold');
    publisherBlocked = false;
    armResendTimer();
    dispatch();
  }

  /** The tick runs only while something waits to be notified or holds a slot unpicked. */
  function updateTick(): void {
    const active = pending.size + retry.size + publishing.size + hot.size + cold.size > 0;
    if (active && tickTimer === undefined && !closed) {
      tickTimer = clock.setTimeout(tick, ttlMs);
    } else if (!active && tickTimer !== undefined) {
      clock.clearTimeout(tickTimer);
      tickTimer = undefined;
    }
  }

  function armResendTimer(): void {
    if (closed) return;
    let first: number | undefined;
    for (const due of resendDue.values()) {
      first = due;
      break;
    }
    if (first === undefined) {
      if (resendTimer !== undefined) clock.clearTimeout(resendTimer);
      resendTimer = undefined;
      return;
    }
    if (resendTimer !== undefined && resendTimerDue === first) return;
    if (resendTimer !== undefined) clock.clearTimeout(resendTimer);
    resendTimerDue = first;
    resendTimer = clock.setTimeout(onResendTimer, Math.max(0, first - clock.now()));
  }

  function onResendTimer(): void {
    resendTimer = undefined;
    const now = clock.now();
    for (const [uuid, due] of resendDue) {
      if (due > now) break;
      resendDue.delete(uuid);
      setState(uuid, 'pending');
    }
    armResendTimer();
    dispatch();
  }

  return {
    add(jobUuid) {
      if (closed || state.has(jobUuid)) return;
      setState(jobUuid, 'pending');
      dispatch();
    },
    picked(jobUuid) {
      // Also for a job not known here (e.g. fetched right after a restart, before it was re-added):
      // its host runs it, so it holds a slot until done().
      if (closed || state.get(jobUuid) === 'running') return;
      resendDue.delete(jobUuid);
      setState(jobUuid, 'running');
      armResendTimer();
      dispatch();
    },
    done(jobUuid) {
      if (!state.has(jobUuid)) return;
      resendDue.delete(jobUuid);
      setState(jobUuid, undefined);
      armResendTimer();
      dispatch();
    },
    runningJobs() {
      return [...running];
    },
    stats() {
      return {
        pending: pending.size + retry.size,
        hot: hot.size + publishing.size,
        cold: cold.size,
        running: running.size,
        waitingResend: resendDue.size,
      };
    },
    async close() {
      closed = true;
      if (tickTimer !== undefined) clock.clearTimeout(tickTimer);
      if (resendTimer !== undefined) clock.clearTimeout(resendTimer);
      tickTimer = resendTimer = undefined;
      // Publishes carry their own deadline; let them settle so nothing runs after close.
      await Promise.allSettled([...inFlight]);
    },
  };
}

const emptySet = new Set<string>();

function positiveSeconds(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number of seconds, given ${String(value)}`);
  return value;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
