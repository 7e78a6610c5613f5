// The conflict rule shared by the providers (spec dns.md §2): compare what the server already has
// at the owner name with what is asked for.

import { DnsError } from './errors.ts';
import { bytesEqual, parseIPv4, parseIPv6 } from '../../lib/dns/ip.ts';
import type { DnsRecordType } from './provider.ts';

export type Existing = 'none' | 'same' | 'different';

function sameName(a: string, b: string): boolean {
  // Compared case-insensitively and without the trailing dot on either side. (The reference keeps
  // the request's trailing dot and so reports an identical record as a conflict; see README.)
  return a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();
}

function sameAddress(a: string, b: string, v6: boolean): boolean {
  const x = v6 ? parseIPv6(a) : parseIPv4(a);
  const y = v6 ? parseIPv6(b) : parseIPv4(b);
  return x !== null && y !== null && bytesEqual(x, y);
}

/**
 * `existing` holds the current record data in presentation form (addresses, or names with or
 * without a trailing dot). `wanted` is the validated request value (for PTR: the fqdn).
 */
export function classify(type: DnsRecordType, existing: readonly string[], wanted: string): Existing {
  if (type === 'SRV' || existing.length === 0) return 'none';
  const eq = (e: string): boolean =>
    type === 'A' ? sameAddress(e, wanted, false) : type === 'AAAA' ? sameAddress(e, wanted, true) : sameName(e, wanted);
  return existing.some(eq) ? 'same' : 'different';
}

/** The reference's 409 texts (the misplaced quote in the first form is the reference's). */
export function conflictError(type: DnsRecordType, fqdn: string, value: string): Error {
  return type === 'PTR'
    ? DnsError.conflict(`'${value}' is already in use`)
    : DnsError.conflict(`'${fqdn} 'is already in use`);
}

/** The record's owner name and data for a create request. */
export function ownerAndData(type: DnsRecordType, fqdn: string, value: string): { owner: string; data: string } {
  return type === 'PTR' ? { owner: value, data: fqdn } : { owner: fqdn, data: value };
}
