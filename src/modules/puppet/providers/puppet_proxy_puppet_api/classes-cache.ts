// Class listings per environment, as the reference keeps them: Puppet Server computes them slowly
// on a cold cache and answers 304 to `If-None-Match` when nothing changed. At most one Puppet
// request runs per environment; callers share it, wait a bounded time, and get a timeout error
// while the request continues and fills the cache for the next caller.

import { EnvironmentNotFoundError, PuppetTimeoutError } from '../../provider.ts';

export interface ClassesFetchResult {
  /** 'not-modified' for a 304. */
  body: unknown;
  etag: string | undefined;
}

export type ClassesFetcher = (environment: string, etag: string | undefined) => Promise<ClassesFetchResult | 'not-modified'>;

interface Entry {
  etag: string | undefined;
  body: unknown;
}

export interface ClassesCacheOptions {
  fetch: ClassesFetcher;
  /** How long a caller waits when Puppet's class cache is known to be on (an etag is cached). */
  warmWaitMs: number;
  /** How long a caller waits otherwise (api_timeout). */
  coldWaitMs: number;
  /** Environments kept; the least recently used is dropped beyond this. */
  maxEntries?: number;
  onBackgroundError?: (environment: string, err: unknown) => void;
}

export class ClassesCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly o: ClassesCacheOptions;

  constructor(o: ClassesCacheOptions) {
    this.o = o;
  }

  get size(): number {
    return this.entries.size;
  }

  private remember(environment: string, entry: Entry): void {
    this.entries.delete(environment);
    this.entries.set(environment, entry);
    const max = this.o.maxEntries ?? 1000;
    while (this.entries.size > max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  private start(environment: string): Promise<unknown> {
    const existing = this.inflight.get(environment);
    if (existing) return existing;
    const cached = this.entries.get(environment);
    const p = (async () => {
      try {
        const r = await this.o.fetch(environment, cached?.etag);
        if (r === 'not-modified') {
          if (!cached) throw new Error('Puppet answered 304 Not Modified without a cached copy');
          return cached.body;
        }
        this.remember(environment, { etag: r.etag, body: r.body });
        return r.body;
      } finally {
        this.inflight.delete(environment);
      }
    })();
    this.inflight.set(environment, p);
    // Callers may have stopped waiting; the outcome must never become an unhandled rejection.
    p.catch((err: unknown) => {
      if (!(err instanceof EnvironmentNotFoundError)) this.o.onBackgroundError?.(environment, err);
    });
    return p;
  }

  /** The classes body, or EnvironmentNotFoundError / PuppetTimeoutError / the fetch error. */
  async get(environment: string): Promise<unknown> {
    const warm = this.entries.get(environment)?.etag !== undefined;
    const p = this.start(environment);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<typeof TIMED_OUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMED_OUT), warm ? this.o.warmWaitMs : this.o.coldWaitMs);
    });
    try {
      const r = await Promise.race([p, timedOut]);
      if (r === TIMED_OUT) throw new PuppetTimeoutError();
      return r;
    } finally {
      clearTimeout(timer);
    }
  }
}

const TIMED_OUT = Symbol('timed out');
