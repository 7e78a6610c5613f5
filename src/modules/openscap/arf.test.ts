import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ArfSummaryBuilder } from './arf.ts';
import { XmlStreamParser, XmlSyntaxError } from './xml-stream.ts';
import { makeArf, ruleId } from '../../../test/openscap/arf-fixture.ts';

function summarize(xml: string, chunk = 7) {
  const builder = new ArfSummaryBuilder();
  const parser = new XmlStreamParser(builder.handlers);
  // Tiny chunks: every token and entity is cut somewhere.
  for (let i = 0; i < xml.length; i += chunk) parser.write(Buffer.from(xml.slice(i, i + chunk)));
  parser.end();
  return builder.summary('d1');
}

test('an ARF report becomes the summary Foreman takes, whatever the chunking', () => {
  const xml = makeArf({ rules: 7 });
  const s = summarize(xml);
  assert.deepEqual(summarize(xml, 4096), s);
  // pass, fail, (notapplicable skipped), error, fixed, (notselected skipped), informational
  assert.deepEqual(s.metrics, { passed: 2, failed: 1, othered: 2 });
  assert.equal(s.score, 63.5);
  assert.equal(s.digest, 'd1');
  assert.deepEqual(
    s.logs.map((l) => [l.source, l.result]),
    [
      [ruleId(0), 'pass'],
      [ruleId(1), 'fail'],
      [ruleId(3), 'error'],
      [ruleId(4), 'fixed'],
      [ruleId(6), 'informational'],
    ],
  );
  const first = s.logs[0];
  assert.equal(first?.title, 'Rule number 0 & more');
  assert.equal(first?.description, 'Check that /etc/thing0 is configured.');
  assert.equal(first?.rationale, 'Because reasons.');
  assert.equal(first?.severity, 'medium');
  assert.deepEqual(first?.references, [{ href: 'https://example.com/ref/0', title: 'CCE-1000' }]);
  // The fix text has the TestResult's set-value in place of <sub>.
  assert.deepEqual(first?.fixes, [{ id: 'fix_0', system: 'urn:xccdf:fix:script:sh', full_text: 'echo 42 > /etc/thing0', reboot: 'false' }]);
});

test('malformed documents are refused with the reason', () => {
  assert.throws(() => summarize('<a><b></a>'), /1:10: unexpected close tag/);
  assert.throws(() => summarize('<a>'), /unclosed tag: a/);
  assert.throws(() => summarize('<a>&bogus;</a>'), /undefined entity/);
  assert.throws(() => summarize('<a x=1></a>'), XmlSyntaxError);
  assert.throws(() => summarize('<a></a>'), /no XCCDF TestResult/);
  assert.throws(() => summarize('<!DOCTYPE a [<!ENTITY x "y">]><a/>'), /DOCTYPE is not accepted/);
});
