// Incremental dhcpd.leases reader. dhcpd appends one complete statement at a time and now and
// then rewrites the whole file and renames it into place. LeasesParser consumes bytes as they
// come and yields declarations for complete top-level statements only; LeasesFollower tracks
// the file by inode and byte offset, reads only what was appended, and reloads from scratch when
// the file was replaced or shrank.

import { StringDecoder } from 'node:string_decoder';
import { watch, type FSWatcher } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { CHARS, isDelimiter } from './chars.ts';
import { IscParseError, StatementBoundaryScanner, parseStatements, type Statement, tx } from './syntax.ts';
import { applyLeaseLine, hostDecl, leaseDecl, newLease, type HostDecl, type LeaseDecl } from './decls.ts';

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

function countLines(s: string): number {
  let n = 0;
  let i = s.indexOf('\n');
  while (i !== -1) {
    n++;
    i = s.indexOf('\n', i + 1);
  }
  return n;
}

const { SP, TAB, LF, CR, QUOTE, HASH, COMMA, SEMI, EQ, LBRACE, RBRACE, BACKSLASH } = CHARS;

/** Words of lease blocks returned as shared constants instead of fresh slices. */
const KEYWORDS_BY_LENGTH: Array<string[] | undefined> = [];
for (const k of [
  'lease', 'starts', 'ends', 'cltt', 'tstp', 'tsfp', 'atsfp', 'binding', 'state', 'next', 'rewind', 'hardware',
  'ethernet', 'uid', 'client-hostname', 'active', 'free', 'backup', 'abandoned', 'expired', 'released', 'set',
  'option', 'never', 'epoch', 'token-ring', 'reset', 'bootp', 'on', 'vendor-class-identifier',
]) {
  (KEYWORDS_BY_LENGTH[k.length] ??= []).push(k);
}

/**
 * The hot path of loading a leases file: `lease … { … }` blocks are lexed and applied line by
 * line without building syntax trees (a 100 000-lease file would otherwise create tens of
 * millions of short-lived objects). Every other top-level statement, and any lease with a
 * nested block, goes through the generic parser. Lexing rules are those of syntax.ts.
 */
class FastReader {
  private pos = 0;
  private readonly buf: string[] = [];
  private readonly splitter = new StatementBoundaryScanner();

  /** Next token from `pos`, or null when the text ends before the token does. */
  private lex(text: string): string | null {
    const n = text.length;
    let i = this.pos;
    for (;;) {
      if (i >= n) return null;
      const c = text.charCodeAt(i);
      if (c === SP || c === LF || c === TAB || c === CR || c === 11 || c === 12) {
        i++;
        continue;
      }
      if (c === HASH) {
        const nl = text.indexOf('\n', i);
        if (nl === -1) return null;
        i = nl + 1;
        continue;
      }
      break;
    }
    const c = text.charCodeAt(i);
    if (c === SEMI || c === LBRACE || c === RBRACE || c === COMMA || c === EQ) {
      this.pos = i + 1;
      return c === SEMI ? ';' : c === LBRACE ? '{' : c === RBRACE ? '}' : c === COMMA ? ',' : '=';
    }
    const start = i;
    if (c === QUOTE) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i += 2;
        else if (d === QUOTE) break;
        else i++;
      }
      if (i >= n) return null;
      this.pos = i + 1;
      return text.slice(start, i + 1);
    }
    while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
    if (i >= n) return null;
    this.pos = i;
    const known = KEYWORDS_BY_LENGTH[i - start];
    if (known) for (const k of known) if (text.startsWith(k, start)) return k;
    return text.slice(start, i);
  }

  /** Apply complete top-level statements of `text`; returns the offset after the last one. */
  read(text: string, out: LeaseEvent[], file: string | undefined, line: number): number {
    let consumed = 0;
    this.pos = 0;
    const buf = this.buf;
    for (;;) {
      const stmtStart = this.pos;
      const first = this.lex(text);
      if (first === null) return consumed;
      if (first === 'lease') {
        const ipTok = this.lex(text);
        const open = ipTok === null ? null : this.lex(text);
        if (ipTok === null || open === null) return consumed;
        if (open === '{') {
          const l = newLease(ipTok);
          buf.length = 0;
          let done = false;
          let nested = false;
          while (!done) {
            const t = this.lex(text);
            if (t === null) return consumed;
            if (t === ';' || t === '}') {
              if (buf.length > 0 && l) applyLeaseLine(l, buf);
              buf.length = 0;
              done = t === '}';
            } else if (t === '{') {
              nested = true;
              break;
            } else {
              buf.push(t);
            }
          }
          if (!nested) {
            if (l) out.push({ kind: 'lease', lease: l });
            consumed = this.pos;
            continue;
          }
        }
      }
      // Anything else: find where this statement ends and parse it generically.
      this.splitter.reset();
      const end = this.splitter.scan(text, stmtStart, true);
      if (end < 0) return consumed;
      toEvents(parseStatements(text.slice(stmtStart, end), file, line), out);
      consumed = end;
      this.pos = end;
    }
  }
}

/** A single statement longer than this is garbage, not a lease: it is dropped. */
const MAX_PENDING = 4 * 1024 * 1024;

export class LeasesParser {
  private readonly decoder = new StringDecoder('utf8');
  private readonly reader = new FastReader();
  private pending = '';
  private line = 1;
  private readonly file: string | undefined;
  /** Statements that could not be parsed (skipped); kept for logging by the owner. */
  readonly errors: IscParseError[] = [];

  constructor(file?: string) {
    this.file = file;
  }

  /** Feed bytes; returns declarations of the statements completed by them. */
  push(chunk: Buffer | string): LeaseEvent[] {
    this.pending += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: LeaseEvent[] = [];
    let consumed: number;
    try {
      consumed = this.reader.read(this.pending, out, this.file, this.line);
    } catch (e) {
      if (!(e instanceof IscParseError)) throw e;
      out.length = 0;
      consumed = this.recover(out);
    }
    if (consumed > 0) {
      this.line += countLines(this.pending.slice(0, consumed));
      this.pending = this.pending.slice(consumed);
    }
    if (this.pending.length > MAX_PENDING) {
      this.note(new IscParseError(`statement longer than ${MAX_PENDING} characters dropped`, this.line, this.file));
      this.line += countLines(this.pending);
      this.pending = '';
    }
    return out;
  }

  /** Bytes of an incomplete trailing statement (a write in progress). */
  get pendingLength(): number {
    return this.pending.length;
  }

  private note(e: IscParseError): void {
    if (this.errors.length < 100) this.errors.push(e);
  }

  /** One broken statement must not hide its neighbours: split and parse them one by one. */
  private recover(out: LeaseEvent[]): number {
    const text = this.pending;
    const splitter = new StatementBoundaryScanner();
    let start = 0;
    let line = this.line;
    for (;;) {
      splitter.reset();
      const end = splitter.scan(text, start, true);
      if (end < 0) return start;
      const piece = text.slice(start, end);
      try {
        toEvents(parseStatements(piece, this.file, line), out);
      } catch (e) {
        if (!(e instanceof IscParseError)) throw e;
        this.note(e);
      }
      line += countLines(piece);
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
      const size = this.opts.chunkBytes ?? 256 * 1024;
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
