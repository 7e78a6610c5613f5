// Domain names in presentation form ("host.example.test", no trailing dot, "" for the root) and
// their wire form (RFC 1035 §3.1, §4.1.4). Presentation form escapes any byte that is not a
// printable, unambiguous character as \DDD (and `.`/`\` as `\.`/`\\`), so every wire label
// round-trips through a string.

import { DnsParseError } from './errors.ts';

export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;

/** Split a presentation name into raw labels. Throws DnsParseError on bad escapes or lengths. */
export function nameToLabels(name: string): Uint8Array[] {
  const s = name;
  if (s === '.' || s === '') return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      if (cur.length === 0) throw new DnsParseError(`empty label in name '${name}'`);
      labels.push(Uint8Array.from(cur));
      cur = [];
      if (i === s.length - 1) break; // the trailing dot of an absolute name
    } else if (c === 0x5c) {
      const d = s.slice(i + 1, i + 4);
      if (/^[0-9]{3}$/.test(d)) {
        const v = Number(d);
        if (v > 255) throw new DnsParseError(`bad escape \\${d} in name '${name}'`);
        cur.push(v);
        i += 3;
      } else if (i + 1 < s.length) {
        cur.push(s.charCodeAt(i + 1) & 0xff);
        i += 1;
      } else {
        throw new DnsParseError(`dangling backslash in name '${name}'`);
      }
    } else {
      if (c > 0x7e) throw new DnsParseError(`non-ASCII character in name '${name}'`);
      cur.push(c);
    }
    if (cur.length > MAX_LABEL) throw new DnsParseError(`label longer than 63 bytes in name '${name}'`);
  }
  if (cur.length > 0) labels.push(Uint8Array.from(cur));
  else if (s.charCodeAt(s.length - 1) !== 0x2e) throw new DnsParseError(`empty label in name '${name}'`);
  let wire = 1;
  for (const l of labels) wire += l.length + 1;
  if (wire > MAX_NAME_WIRE) throw new DnsParseError(`name longer than 255 bytes: '${name.slice(0, 40)}…'`);
  return labels;
}

export function labelToText(label: Uint8Array): string {
  let out = '';
  for (const b of label) {
    if (b === 0x2e || b === 0x5c) out += '\\' + String.fromCharCode(b);
    else if (b > 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += '\\' + String(b).padStart(3, '0');
  }
  return out;
}

export function labelsToName(labels: readonly Uint8Array[]): string {
  return labels.map(labelToText).join('.');
}

/** Canonical form for comparisons and map keys: lower-case ASCII, no trailing dot. */
export function canonicalName(name: string): string {
  return labelsToName(nameToLabels(name).map(lowerLabel));
}

function lowerLabel(l: Uint8Array): Uint8Array {
  const out = new Uint8Array(l.length);
  for (let i = 0; i < l.length; i++) {
    const b = l[i];
    out[i] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
  }
  return out;
}

export function namesEqual(a: string, b: string): boolean {
  return canonicalName(a) === canonicalName(b);
}

/** True when `name` equals `zone` or lies below it. */
export function isSubdomain(name: string, zone: string): boolean {
  const n = canonicalName(name);
  const z = canonicalName(zone);
  return z === '' || n === z || n.endsWith('.' + z);
}

/** Uncompressed wire form, optionally lower-cased (canonical form for TSIG, RFC 8945 §4.3.3). */
export function nameToWire(name: string, lower = false): Uint8Array {
  const labels = nameToLabels(name);
  let len = 1;
  for (const l of labels) len += l.length + 1;
  const out = new Uint8Array(len);
  let o = 0;
  for (const l0 of labels) {
    const l = lower ? lowerLabel(l0) : l0;
    out[o++] = l.length;
    out.set(l, o);
    o += l.length;
  }
  out[o] = 0;
  return out;
}

/**
 * Read a possibly compressed name at `offset`. Returns the name and the offset just past it in
 * the original stream. Pointers must point strictly backwards, so decoding always terminates.
 */
export function readName(buf: Uint8Array, offset: number): { name: string; next: number } {
  const labels: Uint8Array[] = [];
  let pos = offset;
  let next = -1;
  let wireLen = 1;
  let limit = offset; // a pointer must go below the start of the label sequence it interrupts
  for (;;) {
    if (pos >= buf.length) throw new DnsParseError('name runs past the end of the message');
    const len = buf[pos];
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new DnsParseError('truncated compression pointer');
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (target >= limit) throw new DnsParseError('compression pointer does not point backwards');
      if (next < 0) next = pos + 2;
      pos = target;
      limit = target;
      continue;
    }
    if (kind !== 0) throw new DnsParseError(`unsupported label type 0x${kind.toString(16)}`);
    if (pos + 1 + len > buf.length) throw new DnsParseError('label runs past the end of the message');
    wireLen += len + 1;
    if (wireLen > MAX_NAME_WIRE) throw new DnsParseError('name longer than 255 bytes');
    labels.push(buf.slice(pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labelsToName(labels), next };
}
