// Every error of the DNS module and its providers, with its status (spec dns.md §1). A provider
// error without a code of this table is answered 400 with its message, as the reference does.

import { errorTable } from '../../core/errors.ts';

export const DnsError = errorTable('dns', {
  invalid_name: 400,
  invalid_reverse: 400,
  invalid_value: 400,
  invalid_type: 400,
  missing_params: 400,
  /** The server refused or could not be reached; the message says which. */
  failed: 400,
  /** No zone of the server holds the name (create). */
  no_zone: 400,
  conflict: 409,
  not_found: 404,
});
