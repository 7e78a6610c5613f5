// Incremental dhcpd.leases reader. dhcpd appends one complete statement at a time and now and
// then rewrites the whole file and renames it into place. LeasesParser consumes bytes as they
// come and yields declarations for complete top-level statements only; LeasesFollower tracks
// the file by inode and byte offset, reads only what was appended, and reloads from scratch when
// the file was replaced or shrank.

import { watch, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { IscParseError, parseStatements, type Statement, tx } from './syntax.ts';
import { hostDecl, leaseDecl, type HostDecl, type LeaseDecl } from './decls.ts';
import { ByteLeaseReader, statementEnd } from './lease-bytes.ts';

export type LeaseEvent = { kind: 'lease'; lease: LeaseDecl } | { kind: 'host'; host: HostDecl };

function toEvents(stmts: Statement[], out: LeaseEvent[]): void {
  for (const s of stmts) {
    if (!s.block) continue;
    const kw = tx(s.tokens[0]);
    if (kw === 'lease') {
      const lease = leaseDecl(s);
      if (lease) out.push({ kind: 'lease', lease });
    } else if (kw === 'host') {
      out.push({ kind: 'host', host: hostDecl(s) });
    }
  }
}

/** Line feeds in `b[from, to)`, to keep line numbers in error messages. */
function countLines(b: Buffer, from: number, to: number): number {
  // A view bounded at `to`, so that the native search never runs past the range.
  const v = b.subarray(from, to);
  let n = 0;
  for (let i = v.indexOf(10); i !== -1; i = v.indexOf(10, i + 1)) n++;
  return n;
}

/** A single statement longer than this is garbage, not a lease: it is dropped. */
const MAX_PENDING = 4 * 1024 * 1024;

const NO_BYTES = Buffer.alloc(0);

/**
 * Consumes the file's bytes as they come and yields declarations for complete top-level
 * statements only. Works on bytes throughout (see lease-bytes.ts): text is decoded only for the
 * values kept and for the rare statements the general parser handles, and a multi-byte character
 * split across reads needs no decoder state because only complete statements are decoded.
 */
export class LeasesParser {
  private readonly reader = new ByteLeaseReader();
  /** Bytes of an incomplete trailing statement, copied out of the caller's buffer. */
  private pending: Buffer = NO_BYTES;
  /** The first half of a surrogate pair at the end of a pushed string, kept for the next push. */
  private carry = '';
  private line = 1;
  private readonly file: string | undefined;
  /** Statements that could not be parsed (skipped); kept for logging by the owner. */
  readonly errors: IscParseError[] = [];

  constructor(file?: string) {
    this.file = file;
  }

  /** Feed bytes; returns declarations of the statements completed by them. */
  push(chunk: Buffer | string): LeaseEvent[] {
    const bytes = typeof chunk === 'string' ? this.encode(chunk) : chunk;
    const data = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    const out: LeaseEvent[] = [];
    let consumed: number;
    try {
      const leases: LeaseDecl[] = [];
      consumed = this.reader.read(data, data.length, leases, (start, stop) => {
        // Pending events first, so the file's order is kept.
        for (const lease of leases) out.push({ kind: 'lease', lease });
        leases.length = 0;
        toEvents(parseStatements(data.toString('utf8', start, stop), this.file, this.line), out);
      });
      for (const lease of leases) out.push({ kind: 'lease', lease });
    } catch (e) {
      if (!(e instanceof IscParseError)) throw e;
      out.length = 0;
      consumed = this.recover(data, out);
    }
    this.line += countLines(data, 0, consumed);
    // A copy: `data` may be the caller's read buffer, which it reuses.
    this.pending = consumed === data.length ? NO_BYTES : Buffer.from(data.subarray(consumed));
    if (this.pending.length > MAX_PENDING) {
      this.note(new IscParseError(`statement longer than ${MAX_PENDING} characters dropped`, this.line, this.file));
      this.line += countLines(this.pending, 0, this.pending.length);
      this.pending = NO_BYTES;
    }
    return out;
  }

  /** Strings (tests, callers without a file) as UTF-8, never splitting a surrogate pair. */
  private encode(chunk: string): Buffer {
    let s = this.carry + chunk;
    this.carry = '';
    const last = s.charCodeAt(s.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.carry = s.slice(-1);
      s = s.slice(0, -1);
    }
    return Buffer.from(s, 'utf8');
  }

  /** Bytes of an incomplete trailing statement (a write in progress). */
  get pendingLength(): number {
    return this.pending.length + this.carry.length;
  }

  private note(e: IscParseError): void {
    if (this.errors.length < 100) this.errors.push(e);
  }

  /** One broken statement must not hide its neighbours: split and parse them one by one. */
  private recover(data: Buffer, out: LeaseEvent[]): number {
    let start = 0;
    let line = this.line;
    for (;;) {
      const end = statementEnd(data, start, data.length);
      if (end < 0) return start;
      try {
        toEvents(parseStatements(data.toString('utf8', start, end), this.file, line), out);
      } catch (e) {
        if (!(e instanceof IscParseError)) throw e;
        this.note(e);
      }
      line += countLines(data, start, end);
      start = end;
    }
  }
}

export interface LeasesFollowerOptions {
  path: string;
  /** A full (re)load starts: collect the following events into fresh state. */
  onLoadStart(): void | Promise<void>;
  onEvents(events: LeaseEvent[]): void;
  /** The full load finished: the fresh state is complete. */
  onLoadEnd(): void | Promise<void>;
  onError?(err: Error): void;
  /** Safety-net poll in case a watch event is lost (ms; 0 = none). */
  pollMs?: number;
  chunkBytes?: number;
}

export interface FollowerStats {
  fullLoads: number;
  appendedReads: number;
  bytesRead: number;
}

export class LeasesFollower {
  private readonly opts: LeasesFollowerOptions;
  private parser: LeasesParser;
  private ino = -1;
  private offset = 0;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;
  readonly stats: FollowerStats = { fullLoads: 0, appendedReads: 0, bytesRead: 0 };

  constructor(opts: LeasesFollowerOptions) {
    this.opts = opts;
    this.parser = new LeasesParser(opts.path);
  }

  /** Load the whole file, then follow it. */
  async start(): Promise<void> {
    await this.fullLoad();
    const base = basename(this.opts.path);
    this.watcher = watch(dirname(this.opts.path), { persistent: false }, (_event, name) => {
      if (name === null || name === base || String(name).startsWith(base)) this.trigger();
    });
    this.watcher.on('error', (e) => this.opts.onError?.(e));
    const pollMs = this.opts.pollMs ?? 5000;
    if (pollMs > 0) {
      this.poll = setInterval(() => this.trigger(), pollMs);
      this.poll.unref();
    }
  }

  /** Resolves once everything visible in the file now has been applied. */
  async sync(): Promise<void> {
    this.trigger();
    while (this.running) await this.running;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
  }

  private trigger(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.catchUp();
        } catch (e) {
          this.opts.onError?.(e as Error);
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.running = undefined;
    });
  }

  private async catchUp(): Promise<void> {
    let st;
    try {
      st = await stat(this.opts.path);
    } catch {
      return; // between dhcpd's rename steps; the next event picks it up
    }
    if (st.ino !== this.ino || st.size < this.offset) {
      await this.fullLoad();
      return;
    }
    if (st.size > this.offset) {
      this.stats.appendedReads++;
      await this.readFrom(this.offset);
    }
  }

  private async fullLoad(): Promise<void> {
    this.stats.fullLoads++;
    this.parser = new LeasesParser(this.opts.path);
    this.offset = 0;
    await this.opts.onLoadStart();
    try {
      await this.readFrom(0);
    } finally {
      await this.opts.onLoadEnd();
    }
  }

  /** Read from `from` to the current end through the handle we opened (same inode throughout). */
  private async readFrom(from: number): Promise<void> {
    const fh = await open(this.opts.path, 'r');
    try {
      const st = await fh.stat();
      if (from === 0) this.ino = st.ino;
      else if (st.ino !== this.ino) {
        await fh.close().catch(() => undefined);
        return this.fullLoad();
      }
      // 64 KiB reads: measured with bench/dhcp-leases-load.ts, larger reads raise the load's peak
      // RSS (256 KiB: ~5 MB more, 1 MiB: 15–40 MB more) for no gain in CPU time.
      const size = this.opts.chunkBytes ?? 64 * 1024;
      const buf = Buffer.allocUnsafe(size);
      let pos = from;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, size, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        this.stats.bytesRead += bytesRead;
        const events = this.parser.push(buf.subarray(0, bytesRead));
        if (events.length > 0) this.opts.onEvents(events);
        if (this.parser.errors.length > 0) {
          for (const e of this.parser.errors) this.opts.onError?.(e);
          this.parser.errors.length = 0;
        }
      }
      this.offset = pos;
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}
