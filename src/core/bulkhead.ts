// A bulkhead: at most `limit` concurrent calls to one backend, at most `queue` waiting. When the
// queue is full the caller gets 503 with Retry-After instead of piling up (design.md §6), so a
// hung DHCP server slows DHCP calls and never the rest of the proxy.

import { ProxyError } from './errors.ts';

export type BulkheadRejection = 'queue_full' | 'queue_timeout';

// Process-wide bookkeeping read at scrape time by the metrics (core/metrics.ts): bulkheads are
// created by modules and providers with no metrics registry at hand. Weak references, so a
// bulkhead of a closed module is forgotten once collected; rejection totals are kept by name so
// the counter never goes down when a bulkhead goes away.
const live = new Set<WeakRef<Bulkhead>>();
const rejections = new Map<string, { name: string; reason: BulkheadRejection; count: number }>();

/** The bulkheads alive in this process (for the metrics collector). */
export function liveBulkheads(): Bulkhead[] {
  const out: Bulkhead[] = [];
  for (const ref of live) {
    const b = ref.deref();
    if (b) out.push(b);
    else live.delete(ref);
  }
  return out;
}

/** Calls refused since the process started, by bulkhead name and reason. */
export function bulkheadRejections(): Iterable<[{ name: string; reason: BulkheadRejection }, number]> {
  return [...rejections.values()].map((r) => [{ name: r.name, reason: r.reason }, r.count]);
}

function countRejection(name: string, reason: BulkheadRejection): void {
  const key = `${name}\0${reason}`;
  const r = rejections.get(key);
  if (r) r.count++;
  else rejections.set(key, { name, reason, count: 1 });
}

export interface BulkheadOptions {
  /** Name used in the 503 message, e.g. `registration`. */
  name: string;
  limit: number;
  queue: number;
  /** Longest time a call may wait in the queue before it is refused with 503. */
  queueTimeoutMs?: number;
  retryAfterSeconds?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export class Bulkhead {
  readonly options: BulkheadOptions;
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(options: BulkheadOptions) {
    if (options.limit < 1) throw new RangeError('bulkhead limit must be at least 1');
    this.options = options;
    live.add(new WeakRef(this));
  }

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** True when a call now would be refused (every slot taken and the queue full). */
  get saturated(): boolean {
    return this.active >= this.options.limit && this.waiters.length >= this.options.queue;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private full(reason: BulkheadRejection): ProxyError {
    countRejection(this.options.name, reason);
    return new ProxyError(
      503,
      `${this.options.name}: too many concurrent requests, try again later`,
      'bulkhead.full',
      { 'retry-after': String(this.options.retryAfterSeconds ?? 5) },
    );
  }

  private acquire(): Promise<void> {
    if (this.active < this.options.limit) {
      this.active++;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.options.queue) return Promise.reject(this.full('queue_full'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      if (this.options.queueTimeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(this.full('queue_timeout'));
        }, this.options.queueTimeoutMs);
      }
      this.waiters.push(waiter);
    });
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) {
      if (next.timer) clearTimeout(next.timer);
      next.resolve(); // the slot passes straight to the next waiter
    } else {
      this.active--;
    }
  }
}
