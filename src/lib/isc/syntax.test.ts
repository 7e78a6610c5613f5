import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IscParseError, MAX_DEPTH, StatementBoundaryScanner, parseStatements, tokenText, isQuoted } from './syntax.ts';

test('statements, blocks, strings with escapes, comments', () => {
  const s = parseStatements('a b; # c { d\nhost x { opt "q\\"}{;" , 1 = 2; }\n;');
  assert.equal(s.length, 2);
  assert.deepEqual(s[0].tokens.map(tokenText), ['a', 'b']);
  assert.deepEqual(s[1].tokens.map(tokenText), ['host', 'x']);
  assert.equal(s[1].line, 2);
  const inner = s[1].block![0];
  assert.deepEqual(inner.tokens.map((t) => (isQuoted(t) ? 'string' : t)), ['opt', 'string', ',', '1', '=', '2']);
  assert.equal(tokenText(inner.tokens[1]), 'q"}{;');
  assert.equal(inner.tokens[1], '"q\\"}{;"');
});

test('octal and hex escapes', () => {
  const s = parseStatements('uid "\\001\\x41b";');
  assert.equal(tokenText(s[0].tokens[1]), '\u0001Ab');
});

test('errors name the line', () => {
  assert.throws(() => parseStatements('a {\n b;\n'), (e: unknown) => e instanceof IscParseError && /missing '}'/.test(e.message));
  assert.throws(() => parseStatements('x;\n}'), (e: unknown) => e instanceof IscParseError && e.line === 2);
  assert.throws(() => parseStatements('a "b'), IscParseError);
  assert.throws(() => parseStatements('a b'), IscParseError);
  assert.throws(() => parseStatements('{'.repeat(MAX_DEPTH + 2)), /nested deeper/);
});

test('deep nesting and huge inputs do not overflow the stack', () => {
  assert.throws(() => parseStatements('{'.repeat(200_000) + '}'.repeat(200_000)), IscParseError);
  const many = 'a;'.repeat(200_000);
  assert.equal(parseStatements(many).length, 200_000);
});

test('boundary scanner finds complete top-level statements across chunks', () => {
  const text = 'lease 1.2.3.4 {\n starts 1 "}";\n}\nserver-duid "x;y";\n# c ; }\nhost h { dynamic; }';
  const sc = new StatementBoundaryScanner();
  let acc = '';
  const ends: number[] = [];
  for (const ch of text) {
    const from = acc.length;
    acc += ch;
    const e = sc.scan(acc, from);
    if (e >= 0) ends.push(e);
  }
  assert.deepEqual(ends.map((e) => text.slice(0, e).trimEnd().slice(-1)), ['}', ';', '}']);
});

test('property: random input only ever throws IscParseError', () => {
  const alphabet = fc.constantFrom('{', '}', ';', '"', '\\', '#', '\n', ',', '=', ' ', 'a', 'host', 'lease', '1.2.3.4', 'x');
  fc.assert(
    fc.property(fc.array(alphabet, { maxLength: 200 }), (parts) => {
      try {
        parseStatements(parts.join(''));
      } catch (e) {
        assert.ok(e instanceof IscParseError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (s) => {
      try {
        parseStatements(s);
      } catch (e) {
        assert.ok(e instanceof IscParseError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});
