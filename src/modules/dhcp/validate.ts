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
