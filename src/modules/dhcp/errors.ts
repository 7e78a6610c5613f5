// Every error of the DHCP module and its providers, with its status (spec dhcp.md §1). Any other
// error a provider throws is answered 400 with its message, as the reference does, so such
// messages name their origin (`dhcp/kea: …`).

import { errorTable } from '../../core/errors.ts';

export const DhcpError = errorTable('dhcp', {
  invalid_ip: 400,
  invalid_mac: 400,
  /**
   * A text parameter the backend cannot store as given: control characters, too long, outside a
   * host name's characters (name, hostname, nextServer), `"`, `\\` or non-ASCII (filename, vendor
   * options), or over a provider's own limit. The message names the field.
   */
  invalid_field: 400,
  missing_hostname: 400,
  /** `unused_ip` from/to outside the subnet or reversed. */
  invalid_range: 400,
  /** `unused_ip` from/to leave no address of the subnet to pick. */
  empty_range: 400,
  vendor_options_unsupported: 400,
  /** A lease or a reservation the backend's own configuration holds. */
  static_record: 400,
  /** POST to a network no subnet holds (GETs answer 404 for the same). */
  no_subnet: 400,
  subnet_not_found: 404,
  record_not_found: 404,
  /** A POST whose method override names a method the route does not have. */
  no_route: 404,
  /** Another reservation holds the address or MAC (also dhcpd's and Kea's own refusals). */
  conflict: 409,
  unused_ip_unsupported: 501,
  /** dhcpd refused or could not be asked; the message says which. */
  omapi_failed: 400,
  /**
   * Not sent to dhcpd: an OMAPI exchange timed out a moment ago, so writes fail at once until the
   * breaker lets a trial through (Retry-After: the seconds until then).
   */
  omapi_unavailable: { status: 503, retryAfter: 10 },
  /** dhcpd already has a host with that name, address or MAC. */
  omapi_exists: 400,
  /** A vendor option dhcpd needs as an address is not one (SUNW `root_server_ip` …). */
  invalid_reservation: 400,
});
