import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { autosignEntryProblem, certnameProblem, quoted } from './certname.ts';

test('ordinary certnames pass', () => {
  for (const n of ['host.example.com', 'web-01.example.com', 'a', '0123', 'my_host', 'f47ac10b-58cc-4372-a567-0e02b2c3d479', 'UPPER.example.com']) {
    assert.equal(certnameProblem(n), undefined, n);
  }
});

test('hostile certnames are refused with a reason', () => {
  for (const n of ['', ';', 'a;b', '$(id)', '`id`', 'a\nb', 'a\r', '-o', '--help', '.hidden', 'trailing.', '../x', '..', 'a..b', 'a/b', 'a b', 'a\0b', 'é.example.com', 'x'.repeat(256), '*.example.com']) {
    assert.equal(typeof certnameProblem(n), 'string', JSON.stringify(n));
  }
});

test('autosign entries allow a leading *. glob or * alone', () => {
  assert.equal(autosignEntryProblem('*.example.com'), undefined);
  assert.equal(autosignEntryProblem('*'), undefined);
  assert.equal(autosignEntryProblem('host.example.com'), undefined);
  for (const n of ['*example.com', 'a.*.example.com', '*.', '*.-o', '**.x', '*.a\nb']) {
    assert.equal(typeof autosignEntryProblem(n), 'string', JSON.stringify(n));
  }
});

test('accepted names never contain a character that is special to a shell, a path, a line or an option', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      if (certnameProblem(s) !== undefined) return;
      assert.ok(!/[\s;$`'"|&<>()/\\*?\0]/.test(s));
      assert.ok(!s.startsWith('-') && !s.startsWith('.') && !s.includes('..'));
    }),
  );
});

test('quoted() keeps control characters out of messages', () => {
  assert.equal(quoted('a\nb'), '"a\\nb"');
});
