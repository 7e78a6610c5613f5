import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DnsParseError } from './errors.ts';
import { CLASS, TYPE, decodeMessage, encodeMessage, type Message, type ResourceRecord } from './message.ts';
import { canonicalName, labelsToName, nameToLabels, nameToWire, readName } from './name.ts';
import { rdataFromText, rdataToText } from './rdata.ts';
import { buildUpdate } from './update.ts';

const label = fc.uint8Array({ minLength: 1, maxLength: 20 });
const nameArb = fc
  .array(label, { maxLength: 6 })
  .map((ls) => labelsToName(ls));
const smallName = fc
  .array(fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,8}$/), { minLength: 1, maxLength: 4 })
  .map((ls) => ls.join('.'));

const opaqueRecord: fc.Arbitrary<ResourceRecord> = fc.record({
  name: nameArb,
  type: fc.constantFrom(TYPE.A, TYPE.AAAA, TYPE.TXT, 99, 250, 65280),
  class: fc.constantFrom(CLASS.IN, CLASS.ANY, CLASS.NONE),
  ttl: fc.integer({ min: 0, max: 0xffffffff }),
  data: fc.uint8Array({ maxLength: 40 }),
});
const nameRecord: fc.Arbitrary<ResourceRecord> = fc
  .record({
    name: nameArb,
    type: fc.constantFrom(TYPE.CNAME, TYPE.PTR, TYPE.NS),
    ttl: fc.integer({ min: 0, max: 0xffffffff }),
    target: nameArb,
  })
  .map((r) => ({ name: r.name, type: r.type, class: CLASS.IN, ttl: r.ttl, data: nameToWire(r.target) }));
const srvRecord: fc.Arbitrary<ResourceRecord> = fc
  .record({ name: smallName, p: fc.nat(65535), w: fc.nat(65535), port: fc.nat(65535), target: smallName })
  .map((r) => ({
    name: r.name,
    type: TYPE.SRV,
    class: CLASS.IN,
    ttl: 60,
    data: rdataFromText(TYPE.SRV, `${r.p} ${r.w} ${r.port} ${r.target}`),
  }));
const recordArb = fc.oneof(opaqueRecord, nameRecord, srvRecord);

const messageArb: fc.Arbitrary<Message> = fc.record({
  id: fc.nat(0xffff),
  qr: fc.boolean(),
  opcode: fc.nat(15),
  aa: fc.boolean(),
  tc: fc.boolean(),
  rd: fc.boolean(),
  ra: fc.boolean(),
  z: fc.nat(7),
  rcode: fc.nat(15),
  questions: fc.array(fc.record({ name: nameArb, type: fc.nat(0xffff), class: fc.nat(0xffff) }), { maxLength: 3 }),
  answers: fc.array(recordArb, { maxLength: 4 }),
  authorities: fc.array(recordArb, { maxLength: 4 }),
  additionals: fc.array(recordArb, { maxLength: 4 }),
});

// fast-check builds null-prototype records; compare against ordinary objects
const plainRr = (r: ResourceRecord): ResourceRecord => ({ ...r });
const plain = (m: Message): Message => ({
  ...m,
  questions: m.questions.map((q) => ({ ...q })),
  answers: m.answers.map(plainRr),
  authorities: m.authorities.map(plainRr),
  additionals: m.additionals.map(plainRr),
});

test('encode/decode round-trips any message (names compressed on the way)', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      assert.deepEqual(decodeMessage(encodeMessage(m)), plain(m));
    }),
    { numRuns: 500 },
  );
});

test('presentation names round-trip through labels, escapes included', () => {
  fc.assert(
    fc.property(fc.array(label, { maxLength: 6 }), (ls) => {
      const back = nameToLabels(labelsToName(ls));
      assert.deepEqual(back, ls);
    }),
  );
  assert.deepEqual(nameToLabels('a\\.b.c.'), [Uint8Array.of(97, 46, 98), Uint8Array.of(99)]);
  assert.equal(canonicalName('Host.Example.TEST.'), 'host.example.test');
  assert.throws(() => nameToLabels('a..b'), DnsParseError);
  assert.throws(() => nameToLabels('x'.repeat(64)), DnsParseError);
});

test('decoding random bytes either succeeds or throws DnsParseError, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      try {
        decodeMessage(bytes);
      } catch (err) {
        assert.ok(err instanceof DnsParseError, String(err));
      }
    }),
    { numRuns: 3000 },
  );
});

test('every truncation and every single-byte corruption of a valid message is handled', () => {
  fc.assert(
    fc.property(messageArb, fc.nat(), fc.nat(255), (m, pos, val) => {
      const wire = encodeMessage(m);
      for (let cut = 0; cut < wire.length; cut++) {
        assert.throws(() => decodeMessage(wire.subarray(0, cut)), DnsParseError);
      }
      const bad = wire.slice();
      bad[pos % bad.length] = val;
      try {
        decodeMessage(bad);
      } catch (err) {
        assert.ok(err instanceof DnsParseError, String(err));
      }
    }),
    { numRuns: 300 },
  );
});

test('compression pointer loops and forward pointers are refused, not followed', () => {
  const self = Uint8Array.of(0xc0, 0x00);
  assert.throws(() => readName(self, 0), DnsParseError);
  const fwd = Uint8Array.of(0xc0, 0x02, 0x01, 0x61, 0x00);
  assert.throws(() => readName(fwd, 0), DnsParseError);
  const twoStep = Uint8Array.of(0x01, 0x61, 0xc0, 0x02);
  assert.throws(() => readName(twoStep, 2), DnsParseError);
  const good = Uint8Array.of(0x01, 0x61, 0x00, 0x01, 0x62, 0xc0, 0x00);
  assert.deepEqual(readName(good, 3), { name: 'b.a', next: 7 });
});

test('rdata text forms round-trip for the managed types', () => {
  const cases: [number, string][] = [
    [TYPE.A, '192.0.2.1'],
    [TYPE.AAAA, '2001:db8::1'],
    [TYPE.PTR, 'host.example.test.'],
    [TYPE.CNAME, 'target.example.test.'],
    [TYPE.SRV, '0 5 5060 sip.example.test.'],
    [TYPE.MX, '10 mail.example.test.'],
    [TYPE.SOA, 'ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300'],
    [TYPE.TXT, 'hello'],
  ];
  for (const [t, text] of cases) assert.equal(rdataToText(t, rdataFromText(t, text)), text);
  assert.throws(() => rdataFromText(TYPE.A, '01.2.3.4'), DnsParseError);
  assert.throws(() => rdataFromText(TYPE.SRV, '1 2 70000 x'), DnsParseError);
});

test('UPDATE messages carry zone, prerequisites and the class NONE/ANY encodings of RFC 2136', () => {
  const m = buildUpdate(
    7,
    'example.test',
    [
      { kind: 'rrsetAbsent', name: 'h.example.test', type: TYPE.A },
      { kind: 'rrsetExists', name: 'h.example.test', type: TYPE.AAAA },
      { kind: 'nameNotInUse', name: 'n.example.test' },
    ],
    [
      { kind: 'add', name: 'h.example.test', type: TYPE.A, ttl: 300, data: rdataFromText(TYPE.A, '192.0.2.7') },
      { kind: 'deleteRRset', name: 'h.example.test', type: TYPE.AAAA },
      { kind: 'deleteRecord', name: 'h.example.test', type: TYPE.TXT, data: rdataFromText(TYPE.TXT, 'x') },
      { kind: 'deleteName', name: 'old.example.test' },
    ],
  );
  const back = decodeMessage(encodeMessage(m));
  assert.equal(back.opcode, 5);
  assert.deepEqual(back.questions, [{ name: 'example.test', type: TYPE.SOA, class: CLASS.IN }]);
  assert.deepEqual(
    back.answers.map((r) => [r.class, r.type, r.ttl, r.data.length]),
    [
      [CLASS.NONE, TYPE.A, 0, 0],
      [CLASS.ANY, TYPE.AAAA, 0, 0],
      [CLASS.NONE, TYPE.ANY, 0, 0],
    ],
  );
  assert.deepEqual(
    back.authorities.map((r) => [r.class, r.type, r.ttl]),
    [
      [CLASS.IN, TYPE.A, 300],
      [CLASS.ANY, TYPE.AAAA, 0],
      [CLASS.NONE, TYPE.TXT, 0],
      [CLASS.ANY, TYPE.ANY, 0],
    ],
  );
});
