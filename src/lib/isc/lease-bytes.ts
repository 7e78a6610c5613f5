// The hot path of loading dhcpd.leases: `lease … { … }` blocks are lexed straight from the bytes
// read from the file and applied line by line. Only the values a lease keeps are turned into
// strings, each with one allocation (dhcpd's times are rebuilt from their digits, MACs and
// quoted values are decoded from their byte range), so a 100 000-lease file is loaded without
// first decoding 29 MB of text, slicing millions of tokens and copying the kept ones again.
//
// Anything unusual falls back to the general code: a lease line the fast cases below do not
// recognise goes through applyLeaseLine with its tokens as strings, and any other top-level
// statement (or a lease with a nested block) through parseStatements. The lexing rules are those
// of syntax.ts (same delimiters, comments, string escapes), so both paths see the same tokens;
// a property test in leases.test.ts checks the two agree.

import { CHARS, isDelimiter } from './chars.ts';
import { applyLeaseLine, newLease, type LeaseDecl } from './decls.ts';
import { normalizeMac } from './ipv4.ts';

const { SP, TAB, LF, CR, QUOTE, HASH, COMMA, SEMI, EQ, LBRACE, RBRACE, BACKSLASH } = CHARS;

/** Token kinds; punctuation tokens are their character code. */
const WORD = 1;
const STRING = 2;
/**
 * A quoted string running past the end of its line: dhcpd never writes one, so the statement is
 * left to statementEnd and the general parser, which cut and skip a broken stanza.
 */
const BROKEN = 3;

/**
 * First words of the top-level statements dhcpd writes to a leases file. dhcpd starts each of
 * them at the beginning of a line and indents everything inside a block, and never writes a line
 * break inside a quoted string, so one of these words at the start of a line always begins a new
 * statement.
 */
const STANZA_WORDS = ['lease', 'host', 'server-duid', 'authoring-byte-order', 'failover', 'class', 'subclass', 'ia-na', 'ia-ta', 'ia-pd'].map(
  (w) => Buffer.from(w, 'latin1'),
);

/**
 * Whether a statement dhcpd wrote starts at `at` (the byte after a line feed): a stanza word
 * followed by a blank. False when the bytes end before that can be told.
 */
export function stanzaStartsAt(b: Uint8Array, at: number, end: number): boolean {
  words: for (const w of STANZA_WORDS) {
    if (at + w.length >= end) continue;
    for (let k = 0; k < w.length; k++) if (b[at + k] !== w[k]) continue words;
    const after = b[at + w.length];
    if (after === SP || after === TAB) return true;
  }
  return false;
}

/**
 * End (exclusive) of the first complete top-level statement starting at `from`, or -1 when the
 * bytes end first. Same rules as StatementBoundaryScanner (syntax.ts), on bytes, plus one for
 * stanzas dhcpd wrote from values it does not escape (a `"` or `{` in a host name, a value ending
 * in `\`): such a stanza can leave a string or a block open, which would otherwise swallow every
 * stanza after it. A line starting a new stanza (stanzaStartsAt) ends the statement before it
 * whatever state it is in; the broken statement then fails to parse alone and is skipped.
 */
export function statementEnd(b: Uint8Array, from: number, end: number): number {
  let inString = false;
  let escape = false;
  let inComment = false;
  let depth = 0;
  /** A token was seen: comments and blank lines before the statement do not count. */
  let started = false;
  for (let i = from; i < end; i++) {
    const c = b[i];
    if (c === LF && started && stanzaStartsAt(b, i + 1, end)) return i + 1;
    if (inComment) {
      if (c === LF) inComment = false;
      continue;
    }
    if (inString) {
      if (escape) escape = false;
      else if (c === BACKSLASH) escape = true;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === HASH) inComment = true;
    else if (c === LBRACE) depth++;
    else if (c === RBRACE) {
      if (depth > 0) depth--;
      if (depth === 0) return i + 1;
    } else if (c === SEMI && depth === 0) return i + 1;
    if (c !== SP && c !== TAB && c !== LF && c !== CR && c !== 11 && c !== 12 && !inComment) started = true;
  }
  return -1;
}

/** Binding states and hardware types: shared strings instead of one copy per lease. */
const INTERNED = ['active', 'free', 'backup', 'abandoned', 'expired', 'released', 'reset', 'bootp', 'ethernet', 'token-ring', 'fddi'];

const isDigit = (c: number): boolean => c >= 48 && c <= 57;

export class ByteLeaseReader {
  private b: Buffer = Buffer.alloc(0);
  private end = 0;
  private pos = 0;
  /** The last token: its kind (WORD, STRING or a punctuation code) and byte range. */
  private kind = 0;
  private start = 0;
  private stop = 0;
  /** Tokens of the current lease line as [kind, start, stop] triples (reused). */
  private line: number[] = [];
  /**
   * Times already built for the current lease, with where their date and clock tokens start
   * (pairs in timeAt): dhcpd writes `cltt` equal to `starts` and often `tstp` equal to `ends`, and
   * those can share one string instead of keeping a 40-byte copy each per lease.
   */
  private readonly times: string[] = [];
  private readonly timeAt: number[] = [];

  /**
   * Lex the next token from `pos`: its kind, 0 when the bytes end before the token does (a
   * statement still being written), or BROKEN for a string that runs past its line.
   */
  private lex(): number {
    const b = this.b;
    const n = this.end;
    let i = this.pos;
    for (;;) {
      if (i >= n) return 0;
      const c = b[i];
      if (c === SP || c === LF || c === TAB || c === CR || c === 11 || c === 12) {
        i++;
        continue;
      }
      if (c === HASH) {
        const nl = b.indexOf(LF, i);
        if (nl === -1 || nl >= n) return 0;
        i = nl + 1;
        continue;
      }
      break;
    }
    const c = b[i];
    this.start = i;
    if (c === SEMI || c === LBRACE || c === RBRACE || c === COMMA || c === EQ) {
      this.kind = c;
      this.pos = this.stop = i + 1;
      return this.kind;
    }
    if (c === QUOTE) {
      i++;
      while (i < n) {
        const d = b[i];
        if (d === BACKSLASH) i += 2;
        else if (d === QUOTE) break;
        else if (d === LF) return BROKEN;
        else i++;
      }
      if (i >= n) return 0;
      this.kind = STRING;
      this.pos = this.stop = i + 1;
      return this.kind;
    }
    while (i < n && !isDelimiter(b[i])) i++;
    if (i >= n) return 0;
    this.kind = WORD;
    this.pos = this.stop = i;
    return this.kind;
  }

  /** Does the byte range hold exactly the ASCII word `w`? */
  private is(start: number, stop: number, w: string): boolean {
    if (stop - start !== w.length) return false;
    const b = this.b;
    for (let i = 0; i < w.length; i++) if (b[start + i] !== w.charCodeAt(i)) return false;
    return true;
  }

  private text(start: number, stop: number): string {
    return this.b.toString('utf8', start, stop);
  }

  /** Token `k` of the current line as syntax.ts would give it (strings keep their quotes). */
  private token(k: number): string {
    const t = this.line;
    const kind = t[k * 3];
    if (kind === COMMA) return ',';
    if (kind === EQ) return '=';
    return this.text(t[k * 3 + 1], t[k * 3 + 2]);
  }

  private interned(k: number): string {
    const start = this.line[k * 3 + 1];
    const stop = this.line[k * 3 + 2];
    for (const w of INTERNED) if (this.is(start, stop, w)) return w;
    return this.text(start, stop);
  }

  private isWord(k: number, w: string): boolean {
    const t = this.line;
    return t[k * 3] === WORD && this.is(t[k * 3 + 1], t[k * 3 + 2], w);
  }

  /**
   * dhcpd's own `W YYYY/MM/DD HH:MM:SS` (tokens 1–3) as `YYYY-MM-DD HH:MM:SS UTC`, built in one
   * allocation; undefined when the line has any other form (leaseTime in decls.ts handles those
   * and gives the same result for this one).
   */
  private dhcpdTime(): string | undefined {
    const t = this.line;
    if (t.length < 12 || t[3] !== WORD || t[6] !== WORD || t[9] !== WORD) return undefined;
    if (this.is(t[4], t[5], 'never') || this.is(t[4], t[5], 'epoch')) return undefined;
    const b = this.b;
    const d = t[7];
    const h = t[10];
    if (t[8] - d !== 10 || t[11] - h !== 8) return undefined;
    if (!(isDigit(b[d]) && isDigit(b[d + 1]) && isDigit(b[d + 2]) && isDigit(b[d + 3]) && b[d + 4] === 47 &&
      isDigit(b[d + 5]) && isDigit(b[d + 6]) && b[d + 7] === 47 && isDigit(b[d + 8]) && isDigit(b[d + 9]))) return undefined;
    if (!(isDigit(b[h]) && isDigit(b[h + 1]) && b[h + 2] === 58 && isDigit(b[h + 3]) && isDigit(b[h + 4]) &&
      b[h + 5] === 58 && isDigit(b[h + 6]) && isDigit(b[h + 7]))) return undefined;
    const mo = (b[d + 5] - 48) * 10 + b[d + 6] - 48;
    const day = (b[d + 8] - 48) * 10 + b[d + 9] - 48;
    if (mo < 1 || mo > 12 || day < 1 || day > 31) return undefined;
    for (let k = 0; k < this.times.length; k++) if (this.sameTime(this.timeAt[2 * k], this.timeAt[2 * k + 1], d, h)) return this.times[k];
    const v = String.fromCharCode(
      b[d], b[d + 1], b[d + 2], b[d + 3], 45, b[d + 5], b[d + 6], 45, b[d + 8], b[d + 9], 32,
      b[h], b[h + 1], 58, b[h + 3], b[h + 4], 58, b[h + 6], b[h + 7], 32, 85, 84, 67,
    );
    this.times.push(v);
    this.timeAt.push(d, h);
    return v;
  }

  /** Same bytes in the date and clock tokens at `pd`, `ph` as in those at `d`, `h`? */
  private sameTime(pd: number, ph: number, d: number, h: number): boolean {
    const b = this.b;
    for (let i = 0; i < 10; i++) if (b[pd + i] !== b[d + i]) return false;
    for (let i = 0; i < 8; i++) if (b[ph + i] !== b[h + i]) return false;
    return true;
  }

  /** Apply one line of a lease block: the common forms here, everything else via applyLeaseLine. */
  private applyLine(l: LeaseDecl): void {
    const t = this.line;
    // applyLeaseLine switches on the unquoted first word, so a quoted one needs the general path.
    if (t[0] === WORD) {
      const s = t[1];
      const e = t[2];
      switch (e - s) {
        case 3:
          if (this.is(s, e, 'uid')) {
            if (t.length >= 6) l.options.uid = this.token(1);
            return;
          }
          break;
        case 4:
          if (this.is(s, e, 'ends')) {
            const v = this.dhcpdTime();
            if (v === undefined) break;
            l.ends = v;
            return;
          }
          {
            const kw = this.is(s, e, 'cltt') ? 'cltt' : this.is(s, e, 'tstp') ? 'tstp' : this.is(s, e, 'tsfp') ? 'tsfp' : undefined;
            if (kw !== undefined) {
              const v = this.dhcpdTime();
              if (v === undefined) break;
              l.options[kw] = v;
              return;
            }
          }
          if (this.is(s, e, 'next')) {
            if (t.length < 12 || !this.isWord(1, 'binding') || !this.isWord(2, 'state') || t[9] !== WORD) break;
            l.nextState = this.interned(3);
            l.options.next_state = l.nextState;
            return;
          }
          break;
        case 6:
          if (this.is(s, e, 'starts')) {
            const v = this.dhcpdTime();
            if (v === undefined) break;
            l.starts = v;
            return;
          }
          break;
        case 7:
          if (this.is(s, e, 'binding')) {
            if (t.length < 9 || !this.isWord(1, 'state') || t[6] !== WORD) break;
            l.state = this.interned(2);
            return;
          }
          break;
        case 8:
          if (this.is(s, e, 'hardware')) {
            if (t.length < 9 || t[3] !== WORD || t[6] !== WORD) break;
            l.options.hardware_type = this.interned(1);
            // A MAC is ASCII, so latin1 decodes it as utf8 would; normalizeMac rejects the rest.
            const mac = normalizeMac(this.b.toString('latin1', t[7], t[8]));
            if (mac !== undefined) l.mac = mac;
            return;
          }
          break;
        case 15:
          if (this.is(s, e, 'client-hostname')) {
            if (t.length >= 6) l.options.client_hostname = this.token(1);
            return;
          }
          break;
        default:
          break;
      }
      if (!this.handledKeyword(s, e)) return; // a line leases do not use (`rewind …`, `set …`)
    }
    const tokens: string[] = [];
    for (let k = 0; k < t.length / 3; k++) tokens.push(this.token(k));
    applyLeaseLine(l, tokens);
  }

  /** First words applyLeaseLine acts on; any other word makes it ignore the line. */
  private handledKeyword(s: number, e: number): boolean {
    for (const w of HANDLED) if (this.is(s, e, w)) return true;
    return false;
  }

  /**
   * Read complete top-level statements of `b[0, end)`: leases are appended to `out`; any other
   * statement's byte range is handed to `other` (parsed by the general parser). Returns the
   * offset after the last complete statement.
   */
  read(b: Buffer, end: number, out: LeaseDecl[], other: (start: number, stop: number) => void): number {
    this.b = b;
    this.end = end;
    this.pos = 0;
    let consumed = 0;
    const line = this.line;
    try {
      for (;;) {
        const stmtStart = this.pos;
        const first = this.lex();
        if (first === 0) return consumed;
        if (first === WORD && this.is(this.start, this.stop, 'lease')) {
          const ipKind = this.lex();
          if (ipKind === 0) return consumed;
          // As in syntax.ts the address token is taken as written (a quoted one is not an address).
          const ipTok = ipKind === WORD || ipKind === STRING ? this.b.toString('latin1', this.start, this.stop) : undefined;
          const open = ipKind === BROKEN ? BROKEN : this.lex();
          if (open === 0) return consumed;
          if (open === LBRACE) {
            const l = newLease(ipTok);
            line.length = 0;
            this.times.length = 0;
            this.timeAt.length = 0;
            // A nested block or a broken string: the general parser takes the whole statement.
            let general = false;
            for (;;) {
              const k = this.lex();
              if (k === 0) return consumed;
              if (k === BROKEN) {
                general = true;
                break;
              }
              if (k === SEMI || k === RBRACE) {
                if (line.length > 0 && l) this.applyLine(l);
                line.length = 0;
                if (k === RBRACE) break;
              } else if (k === LBRACE) {
                general = true;
                break;
              } else {
                line.push(k, this.start, this.stop);
              }
            }
            if (!general) {
              if (l) out.push(l);
              consumed = this.pos;
              continue;
            }
          }
        }
        const stop = statementEnd(b, stmtStart, end);
        if (stop < 0) return consumed;
        other(stmtStart, stop);
        consumed = stop;
        this.pos = stop;
      }
    } finally {
      // Do not keep the caller's (reused) read buffer reachable between calls.
      this.b = EMPTY;
    }
  }
}

const EMPTY = Buffer.alloc(0);

const HANDLED = ['starts', 'ends', 'cltt', 'tstp', 'tsfp', 'atsfp', 'binding', 'next', 'hardware', 'uid', 'client-hostname', 'option'];
