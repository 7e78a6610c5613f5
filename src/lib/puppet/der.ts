// A minimal, strict DER reader: enough to walk a PKCS#10 request. Every length is checked against
// the enclosing element, so truncated or crafted input raises DerError instead of reading past
// the buffer or looping.

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export interface Tlv {
  readonly tag: number;
  /** Offset of the first header byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset just past the content. */
  readonly end: number;
}

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
} as const;

/** Read one element starting at `offset`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset + 2 > limit) throw new DerError(`truncated element at offset ${offset}`);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte tags are not supported (offset ${offset})`);
  let pos = offset + 1;
  const first = buf[pos++];
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    if (n === 0) throw new DerError(`indefinite length is not DER (offset ${offset})`);
    if (n > 4) throw new DerError(`length too large (offset ${offset})`);
    if (pos + n > limit) throw new DerError(`truncated length at offset ${offset}`);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos++];
  }
  const end = pos + length;
  if (end > limit) throw new DerError(`element at offset ${offset} runs past its container`);
  return { tag, start: offset, contentStart: pos, end };
}

/** The direct children of a constructed element. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let pos = parent.contentStart;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what} is missing`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

export function content(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.contentStart, t.end);
}

export function whole(buf: Uint8Array, t: Tlv): Uint8Array {
  return buf.subarray(t.start, t.end);
}

/** Dotted form of an OBJECT IDENTIFIER's content. */
export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError('empty object identifier');
  const arcs: number[] = [];
  let value = 0;
  let pending = false;
  for (const b of bytes) {
    if (value > 0x1ffffffffff) throw new DerError('object identifier arc too large');
    value = value * 128 + (b & 0x7f);
    pending = true;
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
      pending = false;
    }
  }
  if (pending) throw new DerError('truncated object identifier');
  const firstArc = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [firstArc, arcs[0] - firstArc * 40, ...arcs.slice(1)].join('.');
}

/** Text of the ASN.1 string types a DirectoryString may use. */
export function decodeString(buf: Uint8Array, t: Tlv): string {
  const c = content(buf, t);
  switch (t.tag) {
    case TAG.UTF8_STRING:
      return new TextDecoder('utf-8', { fatal: true }).decode(c);
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
      return Buffer.from(c).toString('latin1');
    case TAG.T61_STRING:
      return Buffer.from(c).toString('latin1');
    case TAG.BMP_STRING: {
      if (c.length % 2 !== 0) throw new DerError('BMPString of odd length');
      let s = '';
      for (let i = 0; i < c.length; i += 2) s += String.fromCharCode(c[i] * 256 + c[i + 1]);
      return s;
    }
    default:
      throw new DerError(`tag 0x${t.tag.toString(16)} is not a string type`);
  }
}
