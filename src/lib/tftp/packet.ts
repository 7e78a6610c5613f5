// TFTP packet codec: RFC 1350 (RRQ, WRQ, DATA, ACK, ERROR) plus the RFC 2347 OACK and request
// options. Decoding never throws anything but TftpDecodeError, whatever bytes arrive, because the
// server feeds it datagrams from untrusted networks.

export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 §5 error codes, plus 8 from RFC 2347. */
export const ERROR_CODE = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** Option names are case-insensitive (RFC 2347): keys are lower-cased, insertion order kept. */
export type Options = Map<string, string>;

export type Packet =
  | { op: 'RRQ' | 'WRQ'; filename: string; mode: string; options: Options }
  | { op: 'DATA'; block: number; data: Buffer }
  | { op: 'ACK'; block: number }
  | { op: 'ERROR'; code: number; message: string }
  | { op: 'OACK'; options: Options };

export class TftpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TftpDecodeError';
  }
}

/** Largest UDP payload a DATA packet may need: 4 header bytes + blksize 65464 (RFC 2348). */
export const MAX_BLKSIZE = 65464;
export const MAX_PACKET = MAX_BLKSIZE + 4;

/** Split a NUL-terminated string list; every string must be terminated. */
function cStrings(buf: Buffer, start: number): string[] {
  const out: string[] = [];
  let i = start;
  while (i < buf.length) {
    const end = buf.indexOf(0, i);
    if (end < 0) throw new TftpDecodeError('unterminated string in packet');
    out.push(buf.toString('utf8', i, end));
    i = end + 1;
  }
  return out;
}

function decodeOptions(list: string[], what: string): Options {
  if (list.length % 2 !== 0) throw new TftpDecodeError(`${what}: option without a value`);
  const options: Options = new Map();
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i].toLowerCase();
    if (name === '') throw new TftpDecodeError(`${what}: empty option name`);
    // A repeated option is ambiguous; the first one wins, as in tftpd-hpa.
    if (!options.has(name)) options.set(name, list[i + 1]);
  }
  return options;
}

export function decode(buf: Buffer): Packet {
  if (buf.length < 2) throw new TftpDecodeError('packet shorter than an opcode');
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OPCODE.RRQ:
    case OPCODE.WRQ: {
      const strings = cStrings(buf, 2);
      if (strings.length < 2) throw new TftpDecodeError('request without filename and mode');
      const [filename, mode, ...rest] = strings;
      if (filename === '') throw new TftpDecodeError('request with an empty filename');
      return {
        op: op === OPCODE.RRQ ? 'RRQ' : 'WRQ',
        filename,
        mode: mode.toLowerCase(),
        options: decodeOptions(rest, 'request'),
      };
    }
    case OPCODE.DATA:
      if (buf.length < 4) throw new TftpDecodeError('DATA packet without a block number');
      return { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case OPCODE.ACK:
      if (buf.length < 4) throw new TftpDecodeError('ACK packet without a block number');
      return { op: 'ACK', block: buf.readUInt16BE(2) };
    case OPCODE.ERROR: {
      if (buf.length < 4) throw new TftpDecodeError('ERROR packet without a code');
      const end = buf.indexOf(0, 4);
      // Some clients omit the final NUL; accept the message anyway.
      const message = buf.toString('utf8', 4, end < 0 ? buf.length : end);
      return { op: 'ERROR', code: buf.readUInt16BE(2), message };
    }
    case OPCODE.OACK:
      return { op: 'OACK', options: decodeOptions(cStrings(buf, 2), 'OACK') };
    default:
      throw new TftpDecodeError(`unknown opcode ${op}`);
  }
}

function strings(op: number, parts: string[]): Buffer {
  const bufs = parts.map((p) => Buffer.from(p, 'utf8'));
  for (const b of bufs) if (b.includes(0)) throw new RangeError('TFTP strings cannot contain NUL');
  const out = Buffer.allocUnsafe(2 + bufs.reduce((n, b) => n + b.length + 1, 0));
  out.writeUInt16BE(op, 0);
  let at = 2;
  for (const b of bufs) {
    b.copy(out, at);
    at += b.length;
    out[at++] = 0;
  }
  return out;
}

function optionList(options: Options): string[] {
  const out: string[] = [];
  for (const [k, v] of options) out.push(k, v);
  return out;
}

export function encodeRequest(op: 'RRQ' | 'WRQ', filename: string, mode: string, options: Options = new Map()): Buffer {
  return strings(op === 'RRQ' ? OPCODE.RRQ : OPCODE.WRQ, [filename, mode, ...optionList(options)]);
}

export function encodeOack(options: Options): Buffer {
  return strings(OPCODE.OACK, optionList(options));
}

export function encodeError(code: number, message: string): Buffer {
  const msg = Buffer.from(message.replace(/\0/g, ''), 'utf8');
  const out = Buffer.allocUnsafe(5 + msg.length);
  out.writeUInt16BE(OPCODE.ERROR, 0);
  out.writeUInt16BE(code & 0xffff, 2);
  msg.copy(out, 4);
  out[out.length - 1] = 0;
  return out;
}

export function encodeAck(block: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt16BE(OPCODE.ACK, 0);
  out.writeUInt16BE(block & 0xffff, 2);
  return out;
}

/** A DATA packet; `block` is taken modulo 2^16 (block-number rollover to 0). */
export function encodeData(block: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + data.length);
  out.writeUInt16BE(OPCODE.DATA, 0);
  out.writeUInt16BE(block & 0xffff, 2);
  out.set(data, 4);
  return out;
}
