// DNS messages (RFC 1035 §4) in and out of wire form. UPDATE messages (RFC 2136) use the same
// layout: zone = questions, prerequisites = answers, updates = authorities.
//
// RDATA is kept as uncompressed bytes. Names inside the RDATA of the well-known types that may be
// compressed (RFC 3597 §4) are expanded while decoding, so a record's `data` never depends on
// where it sat in the message it came from.

import { DnsParseError } from './errors.ts';
import { nameToWire, readName } from './name.ts';

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  TSIG: 250,
  ANY: 255,
} as const;

export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;

export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADSIG',
  17: 'BADKEY',
  18: 'BADTIME',
  22: 'BADTRUNC',
};

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const;

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export function typeName(type: number): string {
  for (const [k, v] of Object.entries(TYPE)) if (v === type) return k;
  return `TYPE${type}`;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  /** Unsigned 32-bit. */
  ttl: number;
  data: Uint8Array;
}

export interface Message {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** The three bits between RA and RCODE (Z, AD, CD), kept so messages round-trip. */
  z: number;
  /** Low four bits (no EDNS extended rcode here). */
  rcode: number;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

export function emptyMessage(id: number, opcode: number = OPCODE.QUERY): Message {
  return {
    id,
    qr: false,
    opcode,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    z: 0,
    rcode: 0,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
}

/** Types whose RDATA is a single name (compressible on the wire). */
const SINGLE_NAME_TYPES: ReadonlySet<number> = new Set([TYPE.NS, TYPE.CNAME, TYPE.PTR]);

class Writer {
  buf: Uint8Array = new Uint8Array(512);
  len = 0;
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.u16(Math.floor(v / 0x10000) & 0xffff);
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /** Owner and question names are compressed against earlier ones (exact bytes, so case survives). */
  name(name: string): void {
    const wire = nameToWire(name);
    let p = 0;
    while (wire[p] !== 0) {
      const key = suffixKey(wire, p);
      const at = this.names.get(key);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(key, this.len);
      const l = wire[p];
      this.bytes(wire.subarray(p, p + l + 1));
      p += l + 1;
    }
    this.u8(0);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function suffixKey(wire: Uint8Array, from: number): string {
  let s = '';
  for (let i = from; i < wire.length; i++) {
    s += String.fromCharCode(wire[i]);
  }
  return s;
}

function checkU16(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new DnsParseError(`${what} out of range: ${v}`);
}

export function encodeMessage(m: Message): Uint8Array {
  checkU16(m.id, 'id');
  for (const [n, list] of [
    ['questions', m.questions],
    ['answers', m.answers],
    ['authorities', m.authorities],
    ['additionals', m.additionals],
  ] as const) {
    if (list.length > 0xffff) throw new DnsParseError(`too many ${n}`);
  }
  const w = new Writer();
  w.u16(m.id);
  w.u8(
    (m.qr ? 0x80 : 0) | ((m.opcode & 0xf) << 3) | (m.aa ? 0x04 : 0) | (m.tc ? 0x02 : 0) | (m.rd ? 0x01 : 0),
  );
  w.u8((m.ra ? 0x80 : 0) | ((m.z & 0x7) << 4) | (m.rcode & 0xf));
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length);
  for (const q of m.questions) {
    checkU16(q.type, 'qtype');
    checkU16(q.class, 'qclass');
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const list of [m.answers, m.authorities, m.additionals]) for (const rr of list) writeRecord(w, rr);
  return w.result();
}

function writeRecord(w: Writer, rr: ResourceRecord): void {
  checkU16(rr.type, 'type');
  checkU16(rr.class, 'class');
  if (!Number.isInteger(rr.ttl) || rr.ttl < 0 || rr.ttl > 0xffffffff) throw new DnsParseError(`ttl out of range: ${rr.ttl}`);
  if (rr.data.length > 0xffff) throw new DnsParseError('rdata longer than 65535 bytes');
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  w.u16(rr.data.length);
  w.bytes(rr.data);
}

/** Encode one record on its own (uncompressed), e.g. for TSIG digests. */
export function encodeRecordUncompressed(rr: ResourceRecord): Uint8Array {
  const name = nameToWire(rr.name);
  const out = new Uint8Array(name.length + 10 + rr.data.length);
  out.set(name, 0);
  const v = new DataView(out.buffer);
  const o = name.length;
  v.setUint16(o, rr.type);
  v.setUint16(o + 2, rr.class);
  v.setUint32(o + 4, rr.ttl);
  v.setUint16(o + 8, rr.data.length);
  out.set(rr.data, o + 10);
  return out;
}

class Reader {
  readonly buf: Uint8Array;
  pos: number;
  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) throw new DnsParseError(`message truncated in ${what}`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    const hi = this.u16(what);
    return hi * 0x10000 + this.u16(what);
  }
  name(): string {
    const { name, next } = readName(this.buf, this.pos);
    this.pos = next;
    return name;
  }
}

export interface DecodedMessage {
  message: Message;
  /** Byte offset where each additional record starts (TSIG verification needs the last one). */
  additionalOffsets: number[];
}

export function decodeMessage(buf: Uint8Array): Message {
  return decodeMessageDetailed(buf).message;
}

export function decodeMessageDetailed(buf: Uint8Array): DecodedMessage {
  const r = new Reader(buf);
  const id = r.u16('header');
  const f1 = r.u8('header');
  const f2 = r.u8('header');
  const counts = [r.u16('header'), r.u16('header'), r.u16('header'), r.u16('header')];
  const m: Message = {
    id,
    qr: (f1 & 0x80) !== 0,
    opcode: (f1 >> 3) & 0xf,
    aa: (f1 & 0x04) !== 0,
    tc: (f1 & 0x02) !== 0,
    rd: (f1 & 0x01) !== 0,
    ra: (f2 & 0x80) !== 0,
    z: (f2 >> 4) & 0x7,
    rcode: f2 & 0xf,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  for (let i = 0; i < counts[0]; i++) {
    const name = r.name();
    m.questions.push({ name, type: r.u16('question'), class: r.u16('question') });
  }
  const additionalOffsets: number[] = [];
  const lists = [m.answers, m.authorities, m.additionals];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) {
      if (s === 2) additionalOffsets.push(r.pos);
      lists[s].push(readRecord(r));
    }
  }
  if (r.pos !== buf.length) throw new DnsParseError(`${buf.length - r.pos} bytes of trailing garbage after the message`);
  return { message: m, additionalOffsets };
}

function readRecord(r: Reader): ResourceRecord {
  const name = r.name();
  const type = r.u16('record');
  const klass = r.u16('record');
  const ttl = r.u32('record');
  const len = r.u16('record');
  r.need(len, 'rdata');
  const start = r.pos;
  const end = start + len;
  const data = expandRdata(r.buf, type, start, end);
  r.pos = end;
  return { name, type, class: klass, ttl, data };
}

function expandRdata(buf: Uint8Array, type: number, start: number, end: number): Uint8Array {
  const raw = (): Uint8Array => buf.slice(start, end);
  if (start === end) return raw(); // empty RDATA: deletes and prerequisites (RFC 2136 §2.4)
  const sub = buf.subarray(0, end); // names may point backwards but never past this record
  if (SINGLE_NAME_TYPES.has(type)) {
    const n = readName(sub, start);
    if (n.next !== end) throw new DnsParseError('rdata length does not match its name');
    return nameToWire(n.name);
  }
  if (type === TYPE.MX) {
    if (end - start < 3) throw new DnsParseError('MX rdata too short');
    const n = readName(sub, start + 2);
    if (n.next !== end) throw new DnsParseError('MX rdata length mismatch');
    return concat([buf.subarray(start, start + 2), nameToWire(n.name)]);
  }
  if (type === TYPE.SOA) {
    const a = readName(sub, start);
    const b = readName(sub, a.next);
    if (end - b.next !== 20) throw new DnsParseError('SOA rdata length mismatch');
    return concat([nameToWire(a.name), nameToWire(b.name), buf.subarray(b.next, end)]);
  }
  if (type === TYPE.SRV) {
    // RFC 2782: the target is never compressed, but the length must still cover a whole name
    if (end - start < 7) throw new DnsParseError('SRV rdata too short');
    const n = readName(buf.subarray(start + 6, end), 0);
    if (n.next !== end - start - 6) throw new DnsParseError('SRV rdata length mismatch');
    return raw();
  }
  return raw();
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
