// What the DNS module needs from a backend. Both calls take the API's own parameters (for PTR,
// `fqdn` is the host the record points to and `value` the reverse name that owns it).
//
// Outcomes are reported by throwing DnsError codes (errors.ts): conflict for a different existing
// record, not_found when a record to delete does not exist; any other error is a 400. Returning normally means the record
// now exists (create) or no longer exists (remove), including "it already did".

export type DnsRecordType = 'A' | 'AAAA' | 'PTR' | 'CNAME' | 'SRV';

export const RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'PTR', 'CNAME', 'SRV'];

export interface DnsProvider {
  create(type: DnsRecordType, fqdn: string, value: string): Promise<void>;
  /** `name` is the record's owner: the host name, or the reverse name for PTR. */
  remove(type: DnsRecordType, name: string): Promise<void>;
  /** Release pooled connections (the core awaits it at shutdown). */
  close?(): Promise<void>;
}
