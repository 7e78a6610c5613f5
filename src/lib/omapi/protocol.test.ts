import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OmapiDecodeError, OmapiDecoder, Op, encodeMessage, encodeStartup, encodeForSigning, type OmapiMessage } from './protocol.ts';
import { Authenticator } from './auth.ts';

const sample: OmapiMessage = {
  authid: 7,
  op: Op.open,
  handle: 0,
  id: 42,
  rid: 0,
  message: [['type', Buffer.from('host')], ['create', Buffer.from([0, 0, 0, 1])]],
  object: [['name', Buffer.from('h1')], ['ip-address', Buffer.from([192, 168, 122, 10])]],
  signature: Buffer.alloc(16, 9),
};

test('encode/decode round trip, any chunking', () => {
  const bytes = Buffer.concat([encodeStartup(), encodeMessage(sample), encodeMessage({ ...sample, id: 43 })]);
  const d = new OmapiDecoder();
  const got: OmapiMessage[] = [];
  for (let i = 0; i < bytes.length; i++) got.push(...d.push(bytes.subarray(i, i + 1)));
  assert.equal(got.length, 2);
  assert.deepEqual(got[0], sample);
  assert.equal(got[1].id, 43);
  assert.equal(d.buffered, 0);
});

test('signature covers everything but authid and the signature', () => {
  const auth = new Authenticator({ name: 'k', secret: Buffer.from('secret').toString('base64') });
  const body = encodeForSigning(sample, 16);
  assert.equal(body.readUInt32BE(0), 16);
  const sig = auth.sign(body);
  assert.equal(sig.length, 16);
  assert.ok(auth.verify(body, sig));
  assert.ok(!auth.verify(Buffer.concat([body, Buffer.from([0])]), sig));
  assert.throws(() => new Authenticator({ name: 'k', secret: 'AAAA', algorithm: 'hmac-foo' }), /unsupported key algorithm/);
  assert.equal(new Authenticator({ name: 'k', secret: 'AAAA', algorithm: 'HMAC-SHA256' }).length, 32);
});

test('bad startup and bad headers are OmapiDecodeError', () => {
  assert.throws(() => new OmapiDecoder().push(Buffer.from([0, 0, 0, 99, 0, 0, 0, 24])), OmapiDecodeError);
  const bad = encodeMessage(sample);
  bad.writeUInt32BE(77, 8); // opcode
  assert.throws(() => new OmapiDecoder(false).push(bad), /unknown opcode/);
  const big = encodeMessage(sample);
  big.writeUInt32BE(100_000, 4); // authlen
  assert.throws(() => new OmapiDecoder(false).push(big), /signature length/);
});

test('property: random and truncated bytes only ever throw OmapiDecodeError, and never buffer without bound', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, startup) => {
      const d = new OmapiDecoder(startup);
      try {
        d.push(Buffer.from(bytes));
      } catch (e) {
        assert.ok(e instanceof OmapiDecodeError, String(e));
      }
    }),
    { numRuns: 3000 },
  );
  const valid = encodeMessage(sample);
  fc.assert(
    fc.property(fc.nat({ max: valid.length }), fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), (cut, pos, byte) => {
      const mutated = Buffer.from(valid);
      mutated[pos] = byte;
      const d = new OmapiDecoder(false);
      try {
        d.push(mutated.subarray(0, cut));
      } catch (e) {
        assert.ok(e instanceof OmapiDecodeError, String(e));
      }
    }),
    { numRuns: 3000 },
  );
});
