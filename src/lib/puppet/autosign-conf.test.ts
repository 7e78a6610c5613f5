import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { addEntry, listEntries, removeEntry } from './autosign-conf.ts';

test('list skips blank lines and comments, keeps order and text', () => {
  assert.deepEqual(listEntries(''), []);
  assert.deepEqual(listEntries('a\n\n# c\n   # indented comment\n*.b.example\nc'), ['a', '*.b.example', 'c']);
  assert.deepEqual(listEntries('a\r\nb\r\n'), ['a', 'b']);
});

test('add appends once, fixing a missing final newline', () => {
  assert.equal(addEntry('', 'a'), 'a\n');
  assert.equal(addEntry('x', 'a'), 'x\na\n');
  assert.equal(addEntry('a\n', 'a'), undefined);
  assert.equal(addEntry('# a\n', 'a'), '# a\na\n');
});

test('remove drops every equal line, keeps everything else (comments and duplicates too)', () => {
  assert.equal(removeEntry('a\nb\na\n', 'a'), 'b\n');
  assert.equal(removeEntry('# x\n# x\na\nb\n', 'a'), '# x\n# x\nb\n');
  assert.equal(removeEntry('a\n', 'a'), '');
  assert.equal(removeEntry('a\n', 'b'), undefined);
  assert.equal(removeEntry('', 'b'), undefined);
});

test('add then remove round-trips the entry list', () => {
  const entry = fc.stringMatching(/^[a-z0-9][a-z0-9.-]{0,20}$/);
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 10 }), entry, (start, e) => {
      let text = '';
      for (const s of start) text = addEntry(text, s) ?? text;
      const had = listEntries(text).includes(e);
      const added = addEntry(text, e) ?? text;
      assert.ok(listEntries(added).includes(e));
      const removed = removeEntry(added, e);
      assert.ok(removed !== undefined);
      assert.ok(!listEntries(removed).includes(e));
      if (!had) assert.deepEqual(listEntries(removed), listEntries(text));
    }),
  );
});
