// TSIG (RFC 8945): HMAC signatures over DNS messages with a shared secret.
//
// Request:  MAC = HMAC(message-without-TSIG ‖ variables)
// Response: MAC = HMAC(len(request MAC) ‖ request MAC ‖ response-without-TSIG ‖ variables)
// where "without TSIG" means the TSIG record removed, ARCOUNT decremented and the ID set back to
// the TSIG's Original ID, and "variables" are the key name, class, TTL, algorithm (canonical
// wire form), time signed, fudge, error and other data (§4.3.3).

import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { DnsParseError, DnsTsigError } from './errors.ts';
import { CLASS, TYPE, concat, decodeMessageDetailed, rcodeName, type Message } from './message.ts';
import { canonicalName, nameToWire, readName } from './name.ts';

export type TsigAlgorithm = 'hmac-md5' | 'hmac-sha1' | 'hmac-sha224' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

const ALGORITHMS: Record<TsigAlgorithm, { wireName: string; hash: string }> = {
  'hmac-md5': { wireName: 'hmac-md5.sig-alg.reg.int', hash: 'md5' },
  'hmac-sha1': { wireName: 'hmac-sha1', hash: 'sha1' },
  'hmac-sha224': { wireName: 'hmac-sha224', hash: 'sha224' },
  'hmac-sha256': { wireName: 'hmac-sha256', hash: 'sha256' },
  'hmac-sha384': { wireName: 'hmac-sha384', hash: 'sha384' },
  'hmac-sha512': { wireName: 'hmac-sha512', hash: 'sha512' },
};

export const TSIG_ALGORITHMS = Object.keys(ALGORITHMS) as TsigAlgorithm[];

/** Accepts the BIND spellings (`hmac-sha256`, `HMAC-MD5.SIG-ALG.REG.INT`, `hmac-md5.sig-alg.reg.int.`). */
export function parseAlgorithm(text: string): TsigAlgorithm | undefined {
  const t = text.trim().toLowerCase().replace(/\.$/, '');
  if (t === 'hmac-md5.sig-alg.reg.int') return 'hmac-md5';
  return (TSIG_ALGORITHMS as string[]).includes(t) ? (t as TsigAlgorithm) : undefined;
}

export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Uint8Array;
}

export const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

export interface TsigRecord {
  keyName: string;
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Uint8Array;
  originalId: number;
  error: number;
  otherData: Uint8Array;
}

function u16(v: number): Uint8Array {
  return Uint8Array.of((v >> 8) & 0xff, v & 0xff);
}

function u48(v: number): Uint8Array {
  const hi = Math.floor(v / 0x100000000);
  const lo = v >>> 0;
  return Uint8Array.of((hi >> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
}

function variables(key: TsigKey, r: Omit<TsigRecord, 'mac' | 'originalId' | 'keyName' | 'algorithm'>): Uint8Array {
  return concat([
    nameToWire(key.name, true),
    u16(CLASS.ANY),
    new Uint8Array(4), // TTL 0
    nameToWire(ALGORITHMS[key.algorithm].wireName, true),
    u48(r.timeSigned),
    u16(r.fudge),
    u16(r.error),
    u16(r.otherData.length),
    r.otherData,
  ]);
}

// Importing the raw secret on every message costs more than the HMAC itself; do it once per key.
const keyObjects = new WeakMap<Uint8Array, KeyObject>();

function hmac(key: TsigKey, parts: readonly Uint8Array[]): Uint8Array {
  let ko: KeyObject | Uint8Array | undefined = keyObjects.get(key.secret);
  if (!ko) {
    if (key.secret.length === 0) {
      ko = key.secret; // KeyObjects cannot be empty; HMAC itself accepts an empty key
    } else {
      const created = createSecretKey(key.secret);
      keyObjects.set(key.secret, created);
      ko = created;
    }
  }
  const h = createHmac(ALGORITHMS[key.algorithm].hash, ko);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

function tsigRdata(key: TsigKey, r: TsigRecord): Uint8Array {
  return concat([
    nameToWire(ALGORITHMS[key.algorithm].wireName),
    u48(r.timeSigned),
    u16(r.fudge),
    u16(r.mac.length),
    r.mac,
    u16(r.originalId),
    u16(r.error),
    u16(r.otherData.length),
    r.otherData,
  ]);
}

/** Append a TSIG record to an encoded request. Returns the signed wire and the MAC (for the reply). */
export function signRequest(
  wire: Uint8Array,
  key: TsigKey,
  now = Math.floor(Date.now() / 1000),
  fudge = 300,
): { wire: Uint8Array; mac: Uint8Array } {
  if (wire.length < 12) throw new DnsParseError('message too short to sign');
  const fields = { timeSigned: now, fudge, error: 0, otherData: new Uint8Array(0) };
  const mac = hmac(key, [wire, variables(key, fields)]);
  const id = (wire[0] << 8) | wire[1];
  const rdata = tsigRdata(key, { ...fields, mac, originalId: id, keyName: key.name, algorithm: key.algorithm });
  const owner = nameToWire(key.name);
  const rr = concat([owner, u16(TYPE.TSIG), u16(CLASS.ANY), new Uint8Array(4), u16(rdata.length), rdata]);
  const out = concat([wire, rr]);
  const arcount = ((wire[10] << 8) | wire[11]) + 1;
  if (arcount > 0xffff) throw new DnsParseError('too many additional records to sign');
  out[10] = arcount >> 8;
  out[11] = arcount & 0xff;
  return { wire: out, mac };
}

export function parseTsigRdata(data: Uint8Array, keyName: string): TsigRecord {
  const alg = readName(data, 0);
  let o = alg.next;
  const need = (n: number): void => {
    if (o + n > data.length) throw new DnsParseError('TSIG rdata truncated');
  };
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  need(10);
  const timeSigned = v.getUint16(o) * 0x100000000 + v.getUint32(o + 2);
  const fudge = v.getUint16(o + 6);
  const macLen = v.getUint16(o + 8);
  o += 10;
  need(macLen);
  const mac = data.slice(o, o + macLen);
  o += macLen;
  need(6);
  const originalId = v.getUint16(o);
  const error = v.getUint16(o + 2);
  const otherLen = v.getUint16(o + 4);
  o += 6;
  need(otherLen);
  const otherData = data.slice(o, o + otherLen);
  o += otherLen;
  if (o !== data.length) throw new DnsParseError('TSIG rdata length mismatch');
  return { keyName, algorithm: alg.name, timeSigned, fudge, mac, originalId, error, otherData };
}

export type ResponseCheck =
  | { kind: 'unsigned' }
  | { kind: 'ok'; tsig: TsigRecord }
  /** The server answered with a TSIG error (its reply is then unsigned, RFC 8945 §5.3.2). */
  | { kind: 'rejected'; tsig: TsigRecord; reason: string };

/**
 * Check the TSIG of a response to a request signed with `key` whose MAC was `requestMac`.
 * Returns `unsigned` when the response carries no TSIG (the caller decides whether that is
 * acceptable: only error replies may be unsigned). Throws DnsTsigError when the signature is wrong.
 */
export function verifyResponse(
  wire: Uint8Array,
  key: TsigKey,
  requestMac: Uint8Array,
  now = Math.floor(Date.now() / 1000),
): ResponseCheck {
  const { message, additionalOffsets } = decodeMessageDetailed(wire);
  const tsigIndex = message.additionals.findIndex((r) => r.type === TYPE.TSIG);
  if (tsigIndex < 0) return { kind: 'unsigned' };
  if (tsigIndex !== message.additionals.length - 1) throw new DnsTsigError('TSIG record is not the last record of the reply');
  const rr = message.additionals[tsigIndex];
  const tsig = parseTsigRdata(rr.data, rr.name);
  if (tsig.error !== 0) {
    const name = TSIG_ERRORS[tsig.error] ?? rcodeName(tsig.error);
    return { kind: 'rejected', tsig, reason: name };
  }
  if (canonicalName(rr.name) !== canonicalName(key.name)) {
    throw new DnsTsigError(`reply is signed with key '${rr.name}', expected '${key.name}'`);
  }
  if (parseAlgorithm(tsig.algorithm) !== key.algorithm) {
    throw new DnsTsigError(`reply is signed with algorithm '${tsig.algorithm}', expected '${key.algorithm}'`);
  }
  const start = additionalOffsets[tsigIndex];
  const body = wire.slice(0, start);
  body[0] = tsig.originalId >> 8;
  body[1] = tsig.originalId & 0xff;
  const arcount = message.additionals.length - 1;
  body[10] = arcount >> 8;
  body[11] = arcount & 0xff;
  const expected = hmac(key, [u16(requestMac.length), requestMac, body, variables(key, tsig)]);
  // Truncated MACs (RFC 8945 §5.2.2.1) are not used by the servers we talk to; require full length.
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    throw new DnsTsigError(`reply signature does not verify with key '${key.name}'`);
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    throw new DnsTsigError(`reply signature time is outside the allowed clock skew of ${tsig.fudge} s`);
  }
  return { kind: 'ok', tsig };
}

/** Verify a signed request (server side; used by tests and for symmetry). */
export function verifyRequest(wire: Uint8Array, key: TsigKey, now = Math.floor(Date.now() / 1000)): Message {
  const { message, additionalOffsets } = decodeMessageDetailed(wire);
  const last = message.additionals.length - 1;
  if (last < 0 || message.additionals[last].type !== TYPE.TSIG) throw new DnsTsigError('request is not signed');
  const tsig = parseTsigRdata(message.additionals[last].data, message.additionals[last].name);
  const body = wire.slice(0, additionalOffsets[last]);
  body[0] = tsig.originalId >> 8;
  body[1] = tsig.originalId & 0xff;
  body[10] = last >> 8;
  body[11] = last & 0xff;
  const expected = hmac(key, [body, variables(key, tsig)]);
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    throw new DnsTsigError('request signature does not verify');
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) throw new DnsTsigError('request signature time out of range');
  return message;
}
