// RDATA of the record types the proxy manages, between wire bytes and presentation text
// (the zone-file form: `192.0.2.1`, `host.example.test.`, `0 5 5060 sip.example.test.`).

import { DnsParseError } from './errors.ts';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ip.ts';
import { concat, TYPE } from './message.ts';
import { nameToWire, readName } from './name.ts';

function u16(v: number): Uint8Array {
  return Uint8Array.of((v >> 8) & 0xff, v & 0xff);
}

function u32(v: number): Uint8Array {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

function intField(s: string | undefined, max: number, what: string): number {
  if (s === undefined || !/^[0-9]+$/.test(s)) throw new DnsParseError(`bad ${what}: '${s ?? ''}'`);
  const v = Number(s);
  if (v > max) throw new DnsParseError(`${what} out of range: ${s}`);
  return v;
}

/** Presentation text → RDATA bytes. Names are taken as absolute whether or not they end in `.`. */
export function rdataFromText(type: number, text: string): Uint8Array {
  const t = text.trim();
  switch (type) {
    case TYPE.A: {
      const b = parseIPv4(t);
      if (!b) throw new DnsParseError(`invalid IPv4 address '${t}'`);
      return b;
    }
    case TYPE.AAAA: {
      const b = parseIPv6(t);
      if (!b) throw new DnsParseError(`invalid IPv6 address '${t}'`);
      return b;
    }
    case TYPE.CNAME:
    case TYPE.PTR:
    case TYPE.NS:
      return nameToWire(t);
    case TYPE.MX: {
      const [pref, host, ...rest] = t.split(/\s+/);
      if (rest.length > 0 || host === undefined) throw new DnsParseError(`bad MX data '${t}'`);
      return concat([u16(intField(pref, 0xffff, 'MX preference')), nameToWire(host)]);
    }
    case TYPE.SRV: {
      const parts = t.split(/\s+/);
      if (parts.length !== 4) throw new DnsParseError(`bad SRV data '${t}'`);
      return concat([
        u16(intField(parts[0], 0xffff, 'SRV priority')),
        u16(intField(parts[1], 0xffff, 'SRV weight')),
        u16(intField(parts[2], 0xffff, 'SRV port')),
        nameToWire(parts[3]),
      ]);
    }
    case TYPE.SOA: {
      const p = t.split(/\s+/);
      if (p.length !== 7) throw new DnsParseError(`bad SOA data '${t}'`);
      return concat([
        nameToWire(p[0]),
        nameToWire(p[1]),
        ...p.slice(2).map((x, i) => u32(intField(x, 0xffffffff, `SOA field ${i + 3}`))),
      ]);
    }
    case TYPE.TXT: {
      const bytes = new TextEncoder().encode(t);
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length || i === 0; i += 255) {
        const c = bytes.subarray(i, i + 255);
        chunks.push(Uint8Array.of(c.length), c);
        if (bytes.length === 0) break;
      }
      return concat(chunks);
    }
    default:
      throw new DnsParseError(`no text form known for type ${type}`);
  }
}

function nameAt(data: Uint8Array, offset: number): { name: string; next: number } {
  return readName(data, offset);
}

function absolute(name: string): string {
  return name === '' ? '.' : `${name}.`;
}

/** RDATA bytes → presentation text (names absolute, with their trailing dot). */
export function rdataToText(type: number, data: Uint8Array): string {
  const need = (n: number): void => {
    if (data.length !== n) throw new DnsParseError(`rdata of type ${type} must be ${n} bytes, got ${data.length}`);
  };
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (type) {
    case TYPE.A:
      need(4);
      return formatIPv4(data);
    case TYPE.AAAA:
      need(16);
      return formatIPv6(data);
    case TYPE.CNAME:
    case TYPE.PTR:
    case TYPE.NS: {
      const n = nameAt(data, 0);
      if (n.next !== data.length) throw new DnsParseError('rdata length mismatch');
      return absolute(n.name);
    }
    case TYPE.MX: {
      if (data.length < 3) throw new DnsParseError('MX rdata too short');
      const n = nameAt(data.subarray(2), 0);
      return `${v.getUint16(0)} ${absolute(n.name)}`;
    }
    case TYPE.SRV: {
      if (data.length < 7) throw new DnsParseError('SRV rdata too short');
      const n = nameAt(data.subarray(6), 0);
      return `${v.getUint16(0)} ${v.getUint16(2)} ${v.getUint16(4)} ${absolute(n.name)}`;
    }
    case TYPE.SOA: {
      const a = nameAt(data, 0);
      const b = nameAt(data, a.next);
      if (data.length - b.next !== 20) throw new DnsParseError('SOA rdata length mismatch');
      const nums: number[] = [];
      for (let i = 0; i < 5; i++) nums.push(v.getUint32(b.next + i * 4));
      return `${absolute(a.name)} ${absolute(b.name)} ${nums.join(' ')}`;
    }
    case TYPE.TXT: {
      const parts: string[] = [];
      for (let i = 0; i < data.length; ) {
        const l = data[i];
        if (i + 1 + l > data.length) throw new DnsParseError('TXT string runs past rdata');
        parts.push(new TextDecoder().decode(data.subarray(i + 1, i + 1 + l)));
        i += 1 + l;
      }
      return parts.join('');
    }
    default:
      return `\\# ${data.length} ${Buffer.from(data).toString('hex')}`;
  }
}
