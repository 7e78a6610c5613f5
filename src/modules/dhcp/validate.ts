// Input checks of the DHCP API with the reference's messages (spec dhcp.md §1).

import type { ParamValue } from '../../core/params.ts';
import { normalizeMac, parseIpv4 } from '../../lib/isc/ipv4.ts';
import { DhcpError } from './errors.ts';

export function requireIp(value: ParamValue | undefined): string {
  const s = typeof value === 'string' ? value : '';
  if (parseIpv4(s) === undefined) throw DhcpError.invalid_ip(`Invalid IP Address ${s}`);
  return s;
}

export function requireMac(value: ParamValue | undefined): string {
  const s = typeof value === 'string' ? value.toLowerCase() : '';
  const mac = normalizeMac(s);
  if (mac === undefined) throw DhcpError.invalid_mac(`Invalid MAC ${s}`);
  return mac;
}

/** A non-empty string param, else undefined. */
export function optionalString(value: ParamValue | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Values end up inside dhcpd statements and backend configs: refuse control characters rather
 * than let a newline or NUL reach them.
 */
export function checkText(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 32 || c === 127) throw DhcpError.invalid_field(`Invalid ${field}: control characters are not allowed`);
  }
  if (value.length > 1024) throw DhcpError.invalid_field(`Invalid ${field}: longer than 1024 characters`);
  return value;
}

/** A character for an error message, quoted so that a space or a quote is still visible. */
const shown = (c: string): string => `'${c}'`;

/** Longest host name accepted: a DNS name's 255 octets (also Kea's limit for `hostname`). */
export const MAX_HOST_NAME = 255;

const isHostNameChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 /* - */ || c === 95 /* _ */;

/**
 * `name`, `hostname` and a next-server given by name: what a DNS host name may hold (letters,
 * digits, `-`, `_`, labels separated by single dots, one trailing dot allowed). dhcpd writes the
 * reservation name unquoted into `host <name> {` of dhcpd.leases and its quoted values without
 * escaping, so a space, `{`, `;`, `#`, `"` or `\` would be read back after a restart as other
 * statements (or break every host after it). dhcpd's own reader also drops a host whose name
 * has an empty label or a label starting with `_`, so those are refused too. Non-ASCII letters
 * are refused: dhcpd writes them as hex bytes and Kea garbles them (each byte becomes a
 * character, again on every configuration write).
 */
export function checkHostName(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  checkText(field, value);
  if (value.length > MAX_HOST_NAME) throw DhcpError.invalid_field(`Invalid ${field}: longer than ${MAX_HOST_NAME} characters`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 46 /* . */ && !isHostNameChar(c)) {
      const ch = String.fromCodePoint(value.codePointAt(i)!);
      throw DhcpError.invalid_field(`Invalid ${field}: ${shown(ch)} is not allowed (a host name holds letters, digits, '-', '_' and '.')`);
    }
  }
  const labels = value.split('.');
  // One trailing dot (an absolute name) leaves an empty last label.
  if (labels.length > 1 && labels[labels.length - 1] === '') labels.pop();
  for (const label of labels) {
    if (label === '') throw DhcpError.invalid_field(`Invalid ${field}: '${value}' has an empty label (a leading '.' or '..')`);
    if (label.charCodeAt(0) === 95 /* _ */) {
      throw DhcpError.invalid_field(`Invalid ${field}: label '${label}' starts with '_' (dhcpd cannot read such a name back)`);
    }
  }
  return value;
}

/** `nextServer`: an IPv4 address, or a host name (checkHostName). */
export function checkNextServer(value: string | undefined): string | undefined {
  if (value === undefined || parseIpv4(value) !== undefined) return value;
  return checkHostName('nextServer', value);
}

/**
 * Values dhcpd writes back between double quotes (`filename`, SUNW vendor options): printable
 * ASCII other than `"` and `\`. dhcpd writes such strings without escaping, so a quote ends the
 * string early (the rest becomes live statements after a restart) and a trailing backslash
 * escapes the closing quote; anything outside printable ASCII it writes as hex bytes, which reads
 * back as a different value (and Kea garbles it).
 */
export function checkQuotable(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  checkText(field, value);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34 /* " */ || c === 92 /* \ */ || c > 126) {
      const ch = String.fromCodePoint(value.codePointAt(i)!);
      throw DhcpError.invalid_field(`Invalid ${field}: ${shown(ch)} is not allowed (printable ASCII other than '"' and '\\' only)`);
    }
  }
  return value;
}

/** `related_macs`: a list, a single string, or nil (Foreman sends a bare key). */
export function macList(value: ParamValue | undefined): string[] {
  const raw = Array.isArray(value) ? value : typeof value === 'string' && value !== '' ? [value] : [];
  const out: string[] = [];
  for (const v of raw) {
    if (typeof v !== 'string' || v === '') continue;
    out.push(requireMac(v));
  }
  return out;
}
