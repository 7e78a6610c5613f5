// One Foreman request whose answer several hosts share (sharing.ts decides who may). The answer is
// read into memory up to `shared_body_limit` and handed to every waiter, so a slow host cannot hold
// the others back and a host that hangs up does not end the request for the rest. A larger answer
// is not held: the first waiter to take it streams it, the others are relayed on their own.

import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ForemanLink } from '../../core/http/foreman-link.ts';
import type { HttpClient } from '../../lib/http/client.ts';
import { Coalescer, type CoalescerStats, type Fetched } from '../../lib/http/coalesce.ts';
import { cacheTtlMs } from '../../lib/http/coalesce-policy.ts';

/** Foreman's answer, complete in memory: success or error status alike (errors are never cached). */
export interface HeldAnswer {
  readonly kind: 'held';
  readonly status: number;
  readonly body: Buffer;
  readonly contentEncoding: string | undefined;
}

/** A successful answer larger than the limit: one waiter may take its stream. */
export interface OversizedAnswer {
  readonly kind: 'oversized';
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The whole body as a stream for the first caller; undefined for every later one. */
  take(): Readable | undefined;
}

export type SharedAnswer = HeldAnswer | OversizedAnswer;

export interface SharedRelayOptions {
  readonly link: ForemanLink;
  readonly client: HttpClient;
  readonly bodyLimit: number;
  readonly maxTtlMs: number;
  readonly maxEntries: number;
}

export interface SharedRequest {
  readonly key: string;
  /** Relative upstream path with its query. */
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The waiting host's lifetime. */
  readonly signal: AbortSignal;
  readonly bypassCache: boolean;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

export class SharedRelay {
  private readonly coalescer: Coalescer<SharedAnswer>;
  private readonly options: SharedRelayOptions;

  constructor(options: SharedRelayOptions) {
    this.options = options;
    this.coalescer = new Coalescer<SharedAnswer>({ maxTtlMs: options.maxTtlMs, maxEntries: options.maxEntries });
  }

  stats(): CoalescerStats {
    return this.coalescer.stats();
  }

  /** Foreman's answer for `req`: fetched, joined, or from the cache. */
  async get(req: SharedRequest): Promise<SharedAnswer> {
    const shared = await this.coalescer.get(req.key, (signal) => this.fetch(req, signal), {
      signal: req.signal,
      bypassCache: req.bypassCache,
    });
    return shared.value;
  }

  /** One Foreman request inside the module's bulkhead: one slot however many hosts wait. */
  private fetch(req: SharedRequest, signal: AbortSignal): Promise<Fetched<SharedAnswer>> {
    const { link, client, bodyLimit, maxTtlMs } = this.options;
    return new Promise<Fetched<SharedAnswer>>((resolve, reject) => {
      link.bulkhead
        .run(async () => {
          signal.throwIfAborted();
          const res = await client.request({ method: 'GET', path: req.path, headers: req.headers, body: null, signal });
          const contentEncoding = single(res.headers['content-encoding']);
          if (res.status !== 200 && res.status !== 201) {
            await res.dump();
            resolve({ value: { kind: 'held', status: res.status, body: Buffer.alloc(0), contentEncoding }, ttlMs: 0 });
            return;
          }
          const declared = Number(single(res.headers['content-length']));
          const chunks: Buffer[] = [];
          let size = 0;
          const iterator = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
          if (!(declared > bodyLimit)) {
            for (;;) {
              const next = await iterator.next();
              if (next.done) {
                const body = Buffer.concat(chunks, size);
                const ttlMs = cacheTtlMs(res.headers['cache-control'], maxTtlMs);
                resolve({ value: { kind: 'held', status: res.status, body, contentEncoding }, ttlMs });
                return;
              }
              chunks.push(next.value);
              size += next.value.length;
              if (size > bodyLimit) break;
            }
          }
          // Too large to hold: hand the stream (what was read, then the rest) to one waiter and keep
          // the Foreman slot until it is through.
          let taken = false;
          let handedOver: () => void = () => undefined;
          const through = new Promise<void>((r) => (handedOver = r));
          async function* rest(): AsyncGenerator<Buffer> {
            try {
              yield* chunks;
              for (;;) {
                const next = await iterator.next();
                if (next.done) return;
                yield next.value;
              }
            } finally {
              if (!res.body.readableEnded) res.body.destroy();
            }
          }
          resolve({
            value: {
              kind: 'oversized',
              headers: res.headers,
              take: () => {
                if (taken) return undefined;
                taken = true;
                const stream = Readable.from(rest(), { objectMode: false });
                finished(stream).then(handedOver, handedOver);
                return stream;
              },
            },
            ttlMs: 0,
          });
          // every waiter has looked by now (they resume in microtasks); nobody took it: drop it
          setImmediate(() => {
            if (taken) return;
            taken = true;
            res.body.destroy();
            handedOver();
          });
          await through;
        })
        .catch(reject);
    });
  }
}
