// The Control Agent client's checks that need no agent: its constructor and reply parsing. Its
// handling of what comes back over HTTP is tested against a stand-in agent in
// test/dhcp-kea/client.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeaClient, KeaError, parseReply } from './client.ts';

test('constructor rejects unusable settings', () => {
  assert.throws(() => new KeaClient({ url: 'ftp://x/', timeoutMs: 1 }), /must be http or https/);
  assert.throws(() => new KeaClient({ url: 'http://127.0.0.1:8000/', timeoutMs: 0 }), /timeout must be positive/);
  assert.throws(() => new KeaClient({ url: 'not a url', timeoutMs: 1 }));
});

test('parseReply accepts the agent-level bare object form', () => {
  assert.deepEqual(parseReply('x', '{ "result": 0, "arguments": [1] }'), { result: 0, arguments: [1] });
  assert.throws(() => parseReply('x', '[]'), /has no result code/);
  assert.throws(() => parseReply('x', 'null'), /has no result code/);
});

test('property: parseReply on random or truncated text returns a reply or throws KeaError, nothing else', () => {
  const good = '[ { "result": 0, "text": "ok", "arguments": { "leases": [ { "ip-address": "10.0.0.1" } ] } } ]';
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.nat(good.length).map((n) => good.slice(0, n))), (text) => {
      try {
        const r = parseReply('x', text);
        assert.equal(typeof r.result, 'number');
      } catch (err) {
        assert.ok(err instanceof KeaError, String(err));
        assert.equal(err.kind, 'protocol');
      }
    }),
    { numRuns: 500 },
  );
});
