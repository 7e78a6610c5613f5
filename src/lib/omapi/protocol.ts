// OMAPI wire format (ISC dhcpd's object management protocol), written from the protocol's
// structure: after an 8-byte handshake (protocol version 100, header size 24) every message is
//   authid u32 · authlen u32 · op u32 · handle u32 · id u32 · rid u32
//   message values · 0u16 · object values · 0u16 · signature[authlen]
// where a value is name_len u16 · name · value_len u32 · value. All integers big-endian.

export const OMAPI_PROTOCOL_VERSION = 100;
export const OMAPI_HEADER_SIZE = 24;

export const Op = {
  open: 1,
  refresh: 2,
  update: 3,
  notify: 4,
  status: 5,
  delete: 6,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export type Values = Array<[string, Buffer]>;

export interface OmapiMessage {
  authid: number;
  op: number;
  handle: number;
  id: number;
  rid: number;
  message: Values;
  object: Values;
  signature: Buffer;
}

export class OmapiDecodeError extends Error {
  constructor(message: string) {
    super(`omapi: ${message}`);
    this.name = 'OmapiDecodeError';
  }
}

/** Limits that keep a hostile or confused peer from making us buffer without bound. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
export const MAX_NAME_BYTES = 1024;
export const MAX_SIGNATURE_BYTES = 128;

export function encodeStartup(): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(OMAPI_PROTOCOL_VERSION, 0);
  b.writeUInt32BE(OMAPI_HEADER_SIZE, 4);
  return b;
}

/** Validate the peer's startup bytes. */
export function checkStartup(b: Buffer): void {
  if (b.length < 8) throw new OmapiDecodeError('short startup message');
  const version = b.readUInt32BE(0);
  const header = b.readUInt32BE(4);
  if (version !== OMAPI_PROTOCOL_VERSION) throw new OmapiDecodeError(`unsupported protocol version ${version}`);
  if (header !== OMAPI_HEADER_SIZE) throw new OmapiDecodeError(`unsupported header size ${header}`);
}

function valuesLength(values: Values): number {
  let n = 2;
  for (const [name, value] of values) n += 2 + Buffer.byteLength(name) + 4 + value.length;
  return n;
}

function writeValues(buf: Buffer, off: number, values: Values): number {
  for (const [name, value] of values) {
    const len = buf.write(name, off + 2, 'utf8');
    buf.writeUInt16BE(len, off);
    off += 2 + len;
    buf.writeUInt32BE(value.length, off);
    off += 4;
    value.copy(buf, off);
    off += value.length;
  }
  buf.writeUInt16BE(0, off);
  return off + 2;
}

/**
 * The bytes a signature covers: the whole message except the leading authid and the trailing
 * signature, with authlen already set to the signature's length.
 */
export function encodeForSigning(m: Omit<OmapiMessage, 'signature' | 'authid'>, authlen: number): Buffer {
  const size = 20 + valuesLength(m.message) + valuesLength(m.object);
  const b = Buffer.alloc(size);
  b.writeUInt32BE(authlen, 0);
  b.writeUInt32BE(m.op >>> 0, 4);
  b.writeUInt32BE(m.handle >>> 0, 8);
  b.writeUInt32BE(m.id >>> 0, 12);
  b.writeUInt32BE(m.rid >>> 0, 16);
  const off = writeValues(b, 20, m.message);
  writeValues(b, off, m.object);
  return b;
}

export function encodeMessage(m: OmapiMessage): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(m.authid >>> 0, 0);
  return Buffer.concat([head, encodeForSigning(m, m.signature.length), m.signature]);
}

/**
 * Incremental decoder: push bytes as they arrive, take complete messages out. Never throws
 * anything but OmapiDecodeError; after an error the stream is unusable (the caller drops the
 * connection), because OMAPI has no resynchronisation marker.
 */
export class OmapiDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private startupSeen: boolean;

  constructor(expectStartup = true) {
    this.startupSeen = !expectStartup;
  }

  push(chunk: Buffer): OmapiMessage[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: OmapiMessage[] = [];
    if (!this.startupSeen) {
      if (this.buf.length < 8) return out;
      checkStartup(this.buf);
      this.buf = this.buf.subarray(8);
      this.startupSeen = true;
    }
    for (;;) {
      const r = tryDecode(this.buf);
      if (r === undefined) {
        if (this.buf.length > MAX_MESSAGE_BYTES) throw new OmapiDecodeError('message too large');
        return out;
      }
      out.push(r.message);
      this.buf = this.buf.subarray(r.length);
    }
  }

  get buffered(): number {
    return this.buf.length;
  }
}

function readValues(b: Buffer, off: number): { values: Values; off: number } | undefined {
  const values: Values = [];
  for (;;) {
    if (off + 2 > b.length) return undefined;
    const nameLen = b.readUInt16BE(off);
    off += 2;
    if (nameLen === 0) return { values, off };
    if (nameLen > MAX_NAME_BYTES) throw new OmapiDecodeError(`value name of ${nameLen} bytes`);
    if (off + nameLen + 4 > b.length) return undefined;
    const name = b.toString('latin1', off, off + nameLen);
    off += nameLen;
    const valueLen = b.readUInt32BE(off);
    off += 4;
    if (valueLen > MAX_MESSAGE_BYTES) throw new OmapiDecodeError(`value ${JSON.stringify(name)} of ${valueLen} bytes`);
    if (off + valueLen > b.length) return undefined;
    values.push([name, Buffer.from(b.subarray(off, off + valueLen))]);
    off += valueLen;
  }
}

/** Decode one message from the front of `b`; undefined when more bytes are needed. */
export function tryDecode(b: Buffer): { message: OmapiMessage; length: number } | undefined {
  if (b.length < OMAPI_HEADER_SIZE) return undefined;
  const authid = b.readUInt32BE(0);
  const authlen = b.readUInt32BE(4);
  if (authlen > MAX_SIGNATURE_BYTES) throw new OmapiDecodeError(`signature length ${authlen}`);
  const op = b.readUInt32BE(8);
  if (op < Op.open || op > Op.delete) throw new OmapiDecodeError(`unknown opcode ${op}`);
  const handle = b.readUInt32BE(12);
  const id = b.readUInt32BE(16);
  const rid = b.readUInt32BE(20);
  const msg = readValues(b, OMAPI_HEADER_SIZE);
  if (!msg) return undefined;
  const obj = readValues(b, msg.off);
  if (!obj) return undefined;
  if (obj.off + authlen > b.length) return undefined;
  const signature = Buffer.from(b.subarray(obj.off, obj.off + authlen));
  return {
    message: { authid, op, handle, id, rid, message: msg.values, object: obj.values, signature },
    length: obj.off + authlen,
  };
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function getValue(values: Values, name: string): Buffer | undefined {
  for (const [k, v] of values) if (k === name) return v;
  return undefined;
}
