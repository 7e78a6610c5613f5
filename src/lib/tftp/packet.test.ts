import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decode,
  encodeAck,
  encodeData,
  encodeError,
  encodeOack,
  encodeRequest,
  TftpDecodeError,
  type Options,
} from './packet.ts';

const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0'));
const optionMap = fc
  .uniqueArray(fc.tuple(name.map((s) => s.toLowerCase()), fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'))), {
    selector: (t) => t[0],
    maxLength: 6,
  })
  .map((pairs) => new Map(pairs) as Options);

test('RRQ/WRQ round-trip with options', () => {
  fc.assert(
    fc.property(fc.constantFrom('RRQ' as const, 'WRQ' as const), name, fc.constantFrom('octet', 'netascii'), optionMap, (op, file, mode, opts) => {
      const p = decode(encodeRequest(op, file, mode, opts));
      assert.deepEqual(p, { op, filename: file, mode, options: opts });
    }),
  );
});

test('DATA, ACK, ERROR, OACK round-trip; block numbers roll over modulo 2^16', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300000 }), fc.uint8Array({ maxLength: 600 }), (block, data) => {
      const p = decode(encodeData(block, data));
      assert.equal(p.op, 'DATA');
      if (p.op === 'DATA') {
        assert.equal(p.block, block & 0xffff);
        assert.deepEqual(new Uint8Array(p.data), data);
      }
      assert.deepEqual(decode(encodeAck(block)), { op: 'ACK', block: block & 0xffff });
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 8 }), fc.string({ maxLength: 50 }).filter((s) => !s.includes('\0')), (code, msg) => {
      assert.deepEqual(decode(encodeError(code, msg)), { op: 'ERROR', code, message: msg });
    }),
  );
  fc.assert(fc.property(optionMap, (opts) => assert.deepEqual(decode(encodeOack(opts)), { op: 'OACK', options: opts })));
});

test('decoding arbitrary bytes either yields a packet or a TftpDecodeError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      try {
        decode(Buffer.from(bytes));
      } catch (err) {
        assert.ok(err instanceof TftpDecodeError, String(err));
      }
    }),
    { numRuns: 5000 },
  );
  // Same with a valid opcode prefix, so the per-opcode parsers get exercised.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 80 }), (op, bytes) => {
      const buf = Buffer.concat([Buffer.from([0, op]), Buffer.from(bytes)]);
      try {
        decode(buf);
      } catch (err) {
        assert.ok(err instanceof TftpDecodeError, String(err));
      }
    }),
    { numRuns: 5000 },
  );
});

test('malformed requests are rejected with a reason', () => {
  assert.throws(() => decode(Buffer.from([0, 1])), /filename and mode/);
  assert.throws(() => decode(Buffer.from('\0\x01file\0octet', 'latin1')), /unterminated/);
  assert.throws(() => decode(Buffer.from('\0\x01\0octet\0', 'latin1')), /empty filename/);
  assert.throws(() => decode(Buffer.from('\0\x01f\0octet\0blksize\0', 'latin1')), /option without a value/);
  assert.throws(() => decode(Buffer.from([0, 9, 1, 2])), /unknown opcode 9/);
  assert.throws(() => decode(Buffer.from([0])), /shorter/);
});

test('option names are case-insensitive, first occurrence wins, mode lower-cased', () => {
  const p = decode(Buffer.from(['\0\x01f', 'OCTET', 'BlkSize', '1024', 'blksize', '8', ''].join('\0'), 'latin1'));
  assert.equal(p.op, 'RRQ');
  if (p.op === 'RRQ') {
    assert.equal(p.mode, 'octet');
    assert.deepEqual([...p.options], [['blksize', '1024']]);
  }
});
