// Lexer and statement builder for ISC dhcpd's configuration language, shared by the dhcpd.conf
// and dhcpd.leases parsers. Hand-written single pass over character codes (no regular
// expressions, so no backtracking), and an explicit stack instead of recursion so hostile
// nesting cannot overflow the call stack.
//
// The grammar we need is generic: a statement is a run of tokens ended by `;`, or by a `{ … }`
// block of nested statements (an optional `;` after the block is an empty statement).

import { CHARS, isDelimiter } from './chars.ts';

export class IscParseError extends Error {
  readonly line: number;
  readonly file: string | undefined;
  constructor(message: string, line: number, file?: string) {
    super(`${file ?? 'dhcpd'}:${line}: ${message}`);
    this.name = 'IscParseError';
    this.line = line;
    this.file = file;
  }
}

/**
 * A token: a bare word, `,` or `=`, or a quoted string kept exactly as written (quotes and
 * escapes included; words cannot contain `"`, so the first character tells them apart). Plain
 * strings rather than objects: a 100 000-lease file has millions of tokens.
 */
export type Token = string;

export function isQuoted(t: Token): boolean {
  return t.charCodeAt(0) === QUOTE;
}

/** The token's value: strings unquoted and unescaped, everything else as is. */
export function tokenText(t: Token): string {
  if (t.charCodeAt(0) !== QUOTE) return t;
  return t.indexOf('\\') === -1 ? t.slice(1, -1) : unescape(t, 1, t.length - 1);
}

/** tokenText of an optional token. */
export function tx(t: Token | undefined): string | undefined {
  return t === undefined ? undefined : tokenText(t);
}

export interface Statement {
  tokens: Token[];
  /** Present when the statement ends with a `{ … }` block. */
  block?: Statement[];
  line: number;
}

export const MAX_DEPTH = 64;

const { SP, TAB, LF, CR, QUOTE, HASH, COMMA, SEMI, EQ, LBRACE, RBRACE, BACKSLASH } = CHARS;

/** Unescape the body of a quoted string: `\"`, `\\`, `\n`, `\t`, octal `\ooo`, hex `\xhh`. */
function unescape(s: string, start: number, end: number): string {
  let out = '';
  let i = start;
  let run = start;
  while (i < end) {
    if (s.charCodeAt(i) !== BACKSLASH || i + 1 >= end) {
      i++;
      continue;
    }
    out += s.slice(run, i);
    const n = s.charCodeAt(i + 1);
    if (n >= 48 && n <= 55) {
      let v = 0;
      let j = i + 1;
      while (j < end && j < i + 4 && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 55) v = v * 8 + (s.charCodeAt(j++) - 48);
      out += String.fromCharCode(v & 255);
      i = j;
    } else if (n === 120 /* x */) {
      let v = 0;
      let j = i + 2;
      while (j < end && j < i + 4) {
        const h = s.charCodeAt(j);
        const d = h >= 48 && h <= 57 ? h - 48 : h >= 97 && h <= 102 ? h - 87 : h >= 65 && h <= 70 ? h - 55 : -1;
        if (d < 0) break;
        v = v * 16 + d;
        j++;
      }
      out += String.fromCharCode(v);
      i = j;
    } else {
      out += n === 110 ? '\n' : n === 116 ? '\t' : n === 114 ? '\r' : s[i + 1];
      i += 2;
    }
    run = i;
  }
  return out + s.slice(run, end);
}

/**
 * Parse a complete text into statements. Throws IscParseError (only) on unbalanced braces,
 * unterminated strings, or nesting deeper than MAX_DEPTH.
 */
export function parseStatements(text: string, file?: string, firstLine = 1): Statement[] {
  return parseInternal(text, file, firstLine, false).statements;
}

export interface PartialParse {
  /** Complete top-level statements found. */
  statements: Statement[];
  /** Offset just past the last complete top-level statement (0 if none). */
  consumed: number;
}

/**
 * Like parseStatements, but input may end in the middle of a statement (a file being appended
 * to): returns the complete top-level statements and how much of the text they cover, so the
 * caller keeps only the tail and lexes each byte about once.
 */
export function parsePartial(text: string, file?: string, firstLine = 1, onStatement?: (s: Statement) => void): PartialParse {
  return parseInternal(text, file, firstLine, true, onStatement);
}

function parseInternal(
  text: string,
  file: string | undefined,
  firstLine: number,
  partial: boolean,
  onStatement?: (s: Statement) => void,
): PartialParse {
  const root: Statement[] = [];
  let consumed = 0;
  let completeCount = 0;
  const stack: Array<{ list: Statement[]; owner: Statement | undefined }> = [{ list: root, owner: undefined }];
  let list = root;
  let tokens: Token[] = [];
  let stmtLine = firstLine;
  let line = firstLine;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === LF) {
      line++;
      i++;
      continue;
    }
    if (c === SP || c === TAB || c === CR || c === 11 || c === 12) {
      i++;
      continue;
    }
    if (c === HASH) {
      while (i < n && text.charCodeAt(i) !== LF) i++;
      continue;
    }
    if (tokens.length === 0) stmtLine = line;
    if (c === QUOTE) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          i += 2;
          continue;
        }
        if (d === QUOTE) break;
        if (d === LF) line++;
        i++;
      }
      if (i >= n) {
        if (partial) break;
        throw new IscParseError('unterminated string', stmtLine, file);
      }
      i++;
      tokens.push(text.slice(start, i));
      continue;
    }
    if (c === SEMI) {
      if (tokens.length > 0) list.push({ tokens, line: stmtLine });
      tokens = [];
      i++;
      if (stack.length === 1) {
        // With a callback each statement is handed over as soon as it is complete, so its
        // syntax tree dies young instead of living until the whole chunk is parsed.
        if (onStatement && root.length > 0) onStatement(root.pop()!);
        consumed = i;
        completeCount = root.length;
      }
      continue;
    }
    if (c === COMMA || c === EQ) {
      tokens.push(c === COMMA ? ',' : '=');
      i++;
      continue;
    }
    if (c === LBRACE) {
      if (stack.length > MAX_DEPTH) throw new IscParseError(`blocks nested deeper than ${MAX_DEPTH}`, line, file);
      const owner: Statement = { tokens, block: [], line: stmtLine };
      list.push(owner);
      stack.push({ list: owner.block!, owner });
      list = owner.block!;
      tokens = [];
      i++;
      continue;
    }
    if (c === RBRACE) {
      if (stack.length === 1) throw new IscParseError("unexpected '}'", line, file);
      if (tokens.length > 0) list.push({ tokens, line: stmtLine });
      tokens = [];
      stack.pop();
      list = stack[stack.length - 1].list;
      i++;
      if (stack.length === 1) {
        if (onStatement && root.length > 0) onStatement(root.pop()!);
        consumed = i;
        completeCount = root.length;
      }
      continue;
    }
    const start = i;
    while (i < n && !isDelimiter(text.charCodeAt(i))) i++;
    tokens.push(text.slice(start, i));
  }
  if (partial) {
    root.length = completeCount;
    return { statements: root, consumed };
  }
  if (stack.length > 1) throw new IscParseError("missing '}'", stack[stack.length - 1].owner!.line, file);
  if (tokens.length > 0) throw new IscParseError("missing ';' at end of input", stmtLine, file);
  return { statements: root, consumed: n };
}

/**
 * Finds where complete top-level statements end in a growing text, scanning each character
 * once across calls (the leases follower feeds appended chunks). Tracks string, escape, comment
 * and brace depth; a top-level statement ends at `;` or at the `}` that closes depth 1.
 */
export class StatementBoundaryScanner {
  private inString = false;
  private escape = false;
  private inComment = false;
  private depth = 0;

  /** Scan `text` from `from`; returns the offset just past the last complete statement (or -1). */
  scan(text: string, from: number, stopAtFirst = false): number {
    let lastEnd = -1;
    const n = text.length;
    for (let i = from; i < n; i++) {
      const c = text.charCodeAt(i);
      if (this.inComment) {
        if (c === LF) this.inComment = false;
        continue;
      }
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === BACKSLASH) this.escape = true;
        else if (c === QUOTE) this.inString = false;
        continue;
      }
      if (c === QUOTE) this.inString = true;
      else if (c === HASH) this.inComment = true;
      else if (c === LBRACE) this.depth++;
      else if (c === RBRACE) {
        if (this.depth > 0) this.depth--;
        if (this.depth === 0) lastEnd = i + 1;
      } else if (c === SEMI && this.depth === 0) lastEnd = i + 1;
      if (stopAtFirst && lastEnd >= 0) return lastEnd;
    }
    return lastEnd;
  }

  reset(): void {
    this.inString = false;
    this.escape = false;
    this.inComment = false;
    this.depth = 0;
  }
}

/** Words of a statement's tokens, strings unquoted (handy for keyword matching). */
export function words(s: Statement): string[] {
  return s.tokens.map(tokenText);
}
