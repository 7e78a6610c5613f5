// Boot-file downloads for `POST /tftp/fetch_boot_file`: kernel and initrd images fetched over
// HTTP(S) into the TFTP root. Bounded in time (connect timeout, idle timeout, overall deadline)
// and size; retried on transient failures; written to a temp file and renamed, so tftpd never
// serves a half-written kernel and a failed download leaves nothing behind. Requests for a file
// that is already being downloaded join that download instead of starting another one.

import { stat } from 'node:fs/promises';
import { Bulkhead } from '../../core/bulkhead.ts';
import { replaceFileAtomic } from '../../lib/fs/atomic.ts';
import { createHttpClient, describeFailure, HttpClientError, type HttpClient, type HttpResponse } from '../../lib/http/client.ts';
import { DownloadQueueFull } from './errors.ts';

export { DownloadQueueFull };

export interface FetcherOptions {
  connectTimeoutMs: number;
  /** Longest silence while waiting for headers or body bytes before an attempt is abandoned. */
  idleTimeoutMs: number;
  /** Deadline for the whole download, all attempts included. */
  deadlineMs: number;
  retries: number;
  retryDelayMs: number;
  maxBytes: number;
  verifyTls: boolean;
  /** Downloads running at once; later ones wait their turn. */
  maxConcurrent: number;
  /** Downloads allowed to wait; beyond that fetch() throws DownloadQueueFull. */
  maxQueued: number;
  /** Aborted on shutdown: running downloads stop and clean up (close() does the same). */
  signal?: AbortSignal;
}

export type FetchOutcome = 'downloaded' | 'not-modified';

export class DownloadError extends Error {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'DownloadError';
    this.retryable = retryable;
  }
}

// The statuses curl's --retry treats as transient.
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

// Timers are measured on the event loop's cached clock, which may lag the wall clock a little: a
// client deadline that fires this close to ours is ours.
const DEADLINE_SLACK_MS = 100;

/** The URL without credentials, for log lines and messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.href;
  } catch {
    return url;
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The body's chunks; a failure while receiving becomes an HttpClientError with a kind. Between
 * body bytes only the idle timeout applies (the deadline's abort arrives as an HttpClientError).
 */
async function* received(res: HttpResponse, idleTimeoutMs: number): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of res.body) yield chunk as Buffer;
  } catch (err) {
    throw describeFailure(err, res.url, idleTimeoutMs);
  }
}

/** A failure of one attempt as a DownloadError: certificate problems do not heal by retrying. */
function asDownloadError(err: unknown, shown: string): DownloadError {
  if (err instanceof DownloadError) return err;
  if (err instanceof HttpClientError) {
    // The client's messages name the URL as requested, credentials included.
    const message = err.message.split(err.url).join(redactUrl(err.url));
    return new DownloadError(`download of ${shown} failed: ${message}`, err.kind !== 'tls');
  }
  return new DownloadError(`download of ${shown} failed: ${(err as Error).message}`, true);
}

/** The client's own deadline ran out (it aborts the request, or the body being received). */
function isClientTimeout(err: unknown): boolean {
  return err instanceof HttpClientError && (err.kind === 'timeout' || err.kind === 'aborted');
}

export class BootFileFetcher {
  private readonly o: FetcherOptions;
  private readonly client: HttpClient;
  private readonly slots: Bulkhead;
  private readonly inflight = new Map<string, Promise<FetchOutcome>>();
  private readonly closing = new AbortController();
  /** Aborted by close() or by the proxy's shutdown signal. */
  private readonly stop: AbortSignal;

  constructor(options: FetcherOptions) {
    this.o = options;
    this.client = createHttpClient({
      verify: options.verifyTls,
      timeoutMs: options.deadlineMs,
      idleTimeoutMs: options.idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      connections: options.maxConcurrent,
      maxRedirections: 5,
    });
    this.slots = new Bulkhead({ name: 'tftp boot-file downloads', limit: options.maxConcurrent, queue: options.maxQueued, retryAfterSeconds: 30 });
    this.stop = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
  }

  get running(): number {
    return this.inflight.size;
  }

  /**
   * Download `url` to `dest` (an absolute path whose directory exists). `shared` is true when an
   * identical download was already running and this call joined it. Throws DownloadQueueFull at
   * once, rather than waiting, when every slot and queue place is taken.
   */
  fetch(url: string, dest: string): { promise: Promise<FetchOutcome>; shared: boolean } {
    const running = this.inflight.get(dest);
    if (running) return { promise: running, shared: true };
    if (this.slots.saturated) throw new DownloadQueueFull(this.slots.running, this.slots.waiting);
    // run() takes its slot or queue place synchronously, so the check above cannot go stale.
    const promise = this.slots.run(() => this.download(url, dest)).finally(() => this.inflight.delete(dest));
    this.inflight.set(dest, promise);
    return { promise, shared: false };
  }

  /** Abandon running and queued downloads (their temp files are removed), then close the pool. */
  async close(): Promise<void> {
    this.closing.abort(new Error('boot-file downloads closed'));
    await Promise.allSettled([...this.inflight.values()]);
    await this.client.close().catch(() => undefined);
  }

  private async download(url: string, dest: string): Promise<FetchOutcome> {
    const shown = redactUrl(url);
    const deadlineAt = Date.now() + this.o.deadlineMs;
    const abandoned = (why: string) => new DownloadError(`download of ${shown} abandoned: ${why}`, false);
    const overdue = () => abandoned(`deadline of ${this.o.deadlineMs / 1000} s exceeded`);
    for (let attempt = 0; ; attempt++) {
      if (this.stop.aborted) throw abandoned('proxy shutting down');
      const left = deadlineAt - Date.now();
      if (left <= 0) throw overdue();
      try {
        return await this.attempt(url, dest, left);
      } catch (err) {
        if (this.stop.aborted) throw abandoned('proxy shutting down');
        if (isClientTimeout(err) && deadlineAt - Date.now() <= DEADLINE_SLACK_MS) throw overdue();
        const failure = asDownloadError(err, shown);
        if (!failure.retryable || attempt >= this.o.retries) throw failure;
        // A retry that would start after the deadline is the deadline's failure.
        if (deadlineAt - Date.now() <= this.o.retryDelayMs) throw overdue();
        await sleep(this.o.retryDelayMs, this.stop).catch(() => undefined);
      }
    }
  }

  private async attempt(url: string, dest: string, timeoutMs: number): Promise<FetchOutcome> {
    const shown = redactUrl(url);
    const headers: Record<string, string> = {};
    // Only fetch when the remote file is newer than ours (the reference's curl --time-cond).
    const local = await stat(dest).catch(() => undefined);
    if (local) headers['if-modified-since'] = local.mtime.toUTCString();

    const res = await this.client.request({ method: 'GET', path: url, headers, signal: this.stop, timeoutMs });
    if (res.status === 304) {
      await res.dump();
      return 'not-modified';
    }
    if (res.status >= 300) {
      await res.dump();
      throw new DownloadError(`download of ${shown} failed: HTTP ${res.status}`, TRANSIENT_STATUS.has(res.status));
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.o.maxBytes) {
      res.body.destroy();
      throw new DownloadError(`download of ${shown} refused: ${declared} bytes exceeds the limit of ${this.o.maxBytes}`, false);
    }
    // The remote modification time is kept, so the next If-Modified-Since compares like with like.
    const lastModified = Date.parse(String(res.headers['last-modified'] ?? ''));
    await replaceFileAtomic(
      dest,
      async (fh) => {
        let total = 0;
        for await (const chunk of received(res, this.o.idleTimeoutMs)) {
          total += chunk.length;
          if (total > this.o.maxBytes) {
            res.body.destroy();
            throw new DownloadError(`download of ${shown} abandoned: body exceeds the limit of ${this.o.maxBytes} bytes`, false);
          }
          await fh.write(chunk);
        }
      },
      Number.isFinite(lastModified) ? { mtime: new Date(lastModified) } : {},
    );
    return 'downloaded';
  }
}
