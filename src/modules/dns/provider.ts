// What the DNS module needs from a backend. Both calls take the API's own parameters (for PTR,
// `fqdn` is the host the record points to and `value` the reverse name that owns it).
//
// Outcomes are reported by throwing ProxyError: 409 for a different existing record, 404 when a
// record to delete does not exist, 400 for everything else. Returning normally means the record
// now exists (create) or no longer exists (remove), including "it already did".

export type DnsRecordType = 'A' | 'AAAA' | 'PTR' | 'CNAME' | 'SRV';

export const RECORD_TYPES: readonly DnsRecordType[] = ['A', 'AAAA', 'PTR', 'CNAME', 'SRV'];

export interface DnsProvider {
  create(type: DnsRecordType, fqdn: string, value: string): Promise<void>;
  /** `name` is the record's owner: the host name, or the reverse name for PTR. */
  remove(type: DnsRecordType, name: string): Promise<void>;
}
