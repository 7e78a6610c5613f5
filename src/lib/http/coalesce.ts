// Request coalescing with an optional short-lived cache, for relays whose upstream answer is the
// same for many identical requests (the iPXE bootstrap script a thousand booting machines fetch at
// once). Callers that ask for the same key while a fetch is under way wait for that one fetch
// instead of starting their own; a finished answer may be kept for a bounded time and count.
//
// What may share a key is the caller's decision (see coalesce-policy.ts and the relaying module):
// this class only guarantees that one fetch serves every waiter of a key, that a waiter who gives
// up does not cancel the fetch for the others (only the last one leaving does), and that a failure
// reaches every waiter of that fetch, which ends it: nobody retries on behalf of the others.

/** What a fetch produced, and how long it may be reused afterwards (0: not at all). */
export interface Fetched<T> {
  readonly value: T;
  readonly ttlMs: number;
}

/** Gets the answer for one key; aborted when every waiter has gone. */
export type FetchFn<T> = (signal: AbortSignal) => Promise<Fetched<T>>;

export interface CoalescerOptions {
  /** Upper bound of any cached answer's lifetime; 0 turns the cache off (coalescing only). */
  readonly maxTtlMs: number;
  /** Most answers kept at once; the least recently used one goes first. */
  readonly maxEntries: number;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export interface GetOptions {
  /** This waiter's own lifetime: when it aborts, the waiter stops waiting (the fetch goes on for others). */
  readonly signal?: AbortSignal;
  /** Do not answer from the cache (the client asked for a fresh answer); joining a fetch under way is fine. */
  readonly bypassCache?: boolean;
}

/** Where an answer came from. */
export type Source = 'upstream' | 'coalesced' | 'cache';

export interface Shared<T> {
  readonly value: T;
  readonly source: Source;
}

/** Counters since the coalescer was made (for metrics). */
export interface CoalescerStats {
  /** Fetches started: requests that actually went upstream. */
  readonly upstream: number;
  /** Requests that waited for a fetch another request had started. */
  readonly coalesced: number;
  /** Requests answered from the cache. */
  readonly cacheHits: number;
  /** Answers in the cache now. */
  readonly cached: number;
  /** Fetches under way now. */
  readonly inFlight: number;
}

interface Flight<T> {
  readonly promise: Promise<Fetched<T>>;
  readonly abort: AbortController;
  waiters: number;
  settled: boolean;
}

interface Entry<T> {
  readonly value: T;
  readonly expiresAt: number;
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('request aborted');
}

export class Coalescer<T> {
  private readonly flights = new Map<string, Flight<T>>();
  private readonly cache = new Map<string, Entry<T>>();
  private readonly now: () => number;
  private readonly maxTtlMs: number;
  private readonly maxEntries: number;
  private upstream = 0;
  private coalesced = 0;
  private cacheHits = 0;

  constructor(options: CoalescerOptions) {
    if (!(options.maxTtlMs >= 0)) throw new RangeError('maxTtlMs must be 0 or more');
    if (!(options.maxEntries >= 0)) throw new RangeError('maxEntries must be 0 or more');
    this.maxTtlMs = options.maxTtlMs;
    this.maxEntries = options.maxEntries;
    this.now = options.now ?? Date.now;
  }

  stats(): CoalescerStats {
    return {
      upstream: this.upstream,
      coalesced: this.coalesced,
      cacheHits: this.cacheHits,
      cached: this.cache.size,
      inFlight: this.flights.size,
    };
  }

  /** The answer for `key`: from the cache, from a fetch under way, or from a new fetch. */
  async get(key: string, fetch: FetchFn<T>, options: GetOptions = {}): Promise<Shared<T>> {
    const { signal } = options;
    if (signal?.aborted) throw abortReason(signal);
    if (!options.bypassCache) {
      const hit = this.cached(key);
      if (hit !== undefined) {
        this.cacheHits++;
        return { value: hit, source: 'cache' };
      }
    }
    let flight = this.flights.get(key);
    let source: Source = 'coalesced';
    if (flight === undefined) {
      flight = this.start(key, fetch);
      source = 'upstream';
      this.upstream++;
    } else {
      this.coalesced++;
    }
    const joined = flight;
    joined.waiters++;
    try {
      const fetched = await this.wait(joined, signal);
      return { value: fetched.value, source };
    } finally {
      joined.waiters--;
      // The last waiter leaving before the answer: nobody needs it, so stop the upstream work.
      if (joined.waiters === 0 && !joined.settled) {
        joined.abort.abort(new Error('every waiting request went away'));
        if (this.flights.get(key) === joined) this.flights.delete(key);
      }
    }
  }

  /** Drop every cached answer (settings reload, tests). Fetches under way are not touched. */
  clear(): void {
    this.cache.clear();
  }

  private cached(key: string): T | undefined {
    const entry = this.cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.cache.delete(key);
      return undefined;
    }
    // most recently used last, so eviction takes the oldest first
    this.cache.delete(key);
    this.cache.set(key, entry);
    return entry.value;
  }

  private store(key: string, fetched: Fetched<T>): void {
    const ttl = Math.min(fetched.ttlMs, this.maxTtlMs);
    if (!(ttl > 0) || this.maxEntries === 0) return;
    this.cache.delete(key);
    this.cache.set(key, { value: fetched.value, expiresAt: this.now() + ttl });
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  private start(key: string, fetch: FetchFn<T>): Flight<T> {
    const abort = new AbortController();
    const flight: Flight<T> = {
      abort,
      waiters: 0,
      settled: false,
      // started on the next tick, after the first waiter has joined
      promise: Promise.resolve().then(() => fetch(abort.signal)),
    };
    this.flights.set(key, flight);
    flight.promise.then(
      (fetched) => {
        flight.settled = true;
        if (this.flights.get(key) === flight) this.flights.delete(key);
        this.store(key, fetched);
      },
      () => {
        flight.settled = true;
        if (this.flights.get(key) === flight) this.flights.delete(key);
      },
    );
    return flight;
  }

  private wait(flight: Flight<T>, signal: AbortSignal | undefined): Promise<Fetched<T>> {
    if (signal === undefined) return flight.promise;
    return new Promise<Fetched<T>>((resolve, reject) => {
      const onAbort = (): void => reject(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (v) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}
