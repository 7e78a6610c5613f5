// Boot-file downloads for `POST /tftp/fetch_boot_file`: kernel and initrd images fetched over
// HTTP(S) into the TFTP root. Bounded in time (connect timeout, idle timeout, overall deadline)
// and size; retried on transient failures; written to a temp file and renamed, so tftpd never
// serves a half-written kernel and a failed download leaves nothing behind. Requests for a file
// that is already being downloaded join that download instead of starting another one.

import { open, rename, unlink, stat, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Agent, interceptors, request, type Dispatcher } from 'undici';

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
  /** Aborted on shutdown: running downloads stop and clean up. */
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

export class DownloadQueueFull extends Error {
  constructor(running: number, queued: number) {
    super(`too many boot-file downloads (${running} running, ${queued} waiting); try again later`);
    this.name = 'DownloadQueueFull';
  }
}

// The statuses curl's --retry treats as transient.
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

// Certificate problems do not heal by retrying.
function isTlsVerificationError(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(code)) return true;
  }
  return false;
}

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

export class BootFileFetcher {
  private readonly o: FetcherOptions;
  private readonly dispatcher: Dispatcher;
  private readonly agent: Agent;
  private readonly inflight = new Map<string, Promise<FetchOutcome>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(options: FetcherOptions) {
    this.o = options;
    this.agent = new Agent({
      connect: { timeout: options.connectTimeoutMs, rejectUnauthorized: options.verifyTls },
      headersTimeout: options.idleTimeoutMs,
      bodyTimeout: options.idleTimeoutMs,
    });
    this.dispatcher = this.agent.compose(interceptors.redirect({ maxRedirections: 5 }));
  }

  get running(): number {
    return this.inflight.size;
  }

  /**
   * Download `url` to `dest` (an absolute path whose directory exists). `shared` is true when an
   * identical download was already running and this call joined it.
   */
  fetch(url: string, dest: string): { promise: Promise<FetchOutcome>; shared: boolean } {
    const running = this.inflight.get(dest);
    if (running) return { promise: running, shared: true };
    if (this.active >= this.o.maxConcurrent && this.waiting.length >= this.o.maxQueued) {
      throw new DownloadQueueFull(this.active, this.waiting.length);
    }
    const promise = this.slot()
      .then(() => this.download(url, dest).finally(() => this.release()))
      .finally(() => this.inflight.delete(dest));
    this.inflight.set(dest, promise);
    return { promise, shared: false };
  }

  private slot(): Promise<void> {
    if (this.active < this.o.maxConcurrent) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next(); // the slot passes straight to the next download
    else this.active--;
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }

  private async download(url: string, dest: string): Promise<FetchOutcome> {
    const deadline = AbortSignal.timeout(this.o.deadlineMs);
    const signal = this.o.signal ? AbortSignal.any([deadline, this.o.signal]) : deadline;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(url, dest, signal);
      } catch (err) {
        if (signal.aborted) {
          const why = deadline.aborted ? `deadline of ${this.o.deadlineMs / 1000} s exceeded` : 'proxy shutting down';
          throw new DownloadError(`download of ${redactUrl(url)} abandoned: ${why}`, false);
        }
        const retryable = err instanceof DownloadError ? err.retryable : !isTlsVerificationError(err);
        if (!retryable || attempt >= this.o.retries) {
          throw err instanceof DownloadError ? err : new DownloadError(`download of ${redactUrl(url)} failed: ${(err as Error).message}`, retryable);
        }
        await sleep(this.o.retryDelayMs, signal).catch(() => undefined);
      }
    }
  }

  private async attempt(url: string, dest: string, signal: AbortSignal): Promise<FetchOutcome> {
    const headers: Record<string, string> = {};
    // Only fetch when the remote file is newer than ours (the reference's curl --time-cond).
    const local = await stat(dest).catch(() => undefined);
    if (local) headers['if-modified-since'] = local.mtime.toUTCString();

    const res = await request(url, { dispatcher: this.dispatcher, signal, headers });
    if (res.statusCode === 304) {
      await res.body.dump();
      return 'not-modified';
    }
    if (res.statusCode >= 300) {
      await res.body.dump().catch(() => undefined);
      throw new DownloadError(`download of ${redactUrl(url)} failed: HTTP ${res.statusCode}`, TRANSIENT_STATUS.has(res.statusCode));
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.o.maxBytes) {
      res.body.destroy();
      throw new DownloadError(`download of ${redactUrl(url)} refused: ${declared} bytes exceeds the limit of ${this.o.maxBytes}`, false);
    }

    const tmp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.part`);
    const fh = await open(tmp, 'wx', 0o644);
    let ok = false;
    try {
      let total = 0;
      for await (const chunk of res.body) {
        total += (chunk as Buffer).length;
        if (total > this.o.maxBytes) {
          res.body.destroy();
          throw new DownloadError(`download of ${redactUrl(url)} abandoned: body exceeds the limit of ${this.o.maxBytes} bytes`, false);
        }
        await fh.write(chunk as Buffer);
      }
      await fh.sync();
      await fh.close();
      const lastModified = Date.parse(String(res.headers['last-modified'] ?? ''));
      if (Number.isFinite(lastModified)) {
        const t = new Date(lastModified);
        await utimes(tmp, t, t);
      }
      await rename(tmp, dest);
      ok = true;
      await syncDir(dirname(dest));
      return 'downloaded';
    } finally {
      if (!ok) {
        await fh.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
      }
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  await fh?.sync().catch(() => undefined);
  await fh?.close().catch(() => undefined);
}
