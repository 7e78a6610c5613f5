// Character codes of the ISC dhcpd configuration/leases syntax, shared by the general statement
// parser (syntax.ts) and the lease fast path (leases.ts) so that both end a word at the same bytes.
// The lexers copy CHARS into module-level consts of their own: V8 reads those faster in the hot
// loops than imported bindings.

const SP = 32;
const TAB = 9;
const LF = 10;
const CR = 13;
const QUOTE = 34;
const HASH = 35;
const COMMA = 44;
const SEMI = 59;
const EQ = 61;
const LBRACE = 123;
const RBRACE = 125;
const BACKSLASH = 92;

export const CHARS = Object.freeze({ SP, TAB, LF, CR, QUOTE, HASH, COMMA, SEMI, EQ, LBRACE, RBRACE, BACKSLASH });

/** Whitespace (including VT and FF) or punctuation: where an unquoted word ends. */
export function isDelimiter(c: number): boolean {
  return (
    c === SP || c === TAB || c === LF || c === CR || c === QUOTE || c === HASH || c === COMMA || c === SEMI ||
    c === EQ || c === LBRACE || c === RBRACE || c === 11 || c === 12
  );
}
