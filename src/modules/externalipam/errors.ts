// Every error of the externalipam module and its providers, with its status (spec plugins.md
// §6.3), and the module's error policy: every answer, errors included, is JSON `{"error": …}`
// labelled application/json, as Foreman's ProxyAPI::ExternalIpam reads it.

import { errorTable, ProxyError } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';
import { HttpClientError } from '../../lib/http/client.ts';

export const IpamError = errorTable('externalipam', {
  /** A path or query parameter that is not what the route needs (address, prefix, ip, mac). */
  invalid: 400,
  /** The subnet (or, for the groups routes, the group) is not in the IPAM. */
  not_found: 404,
  /** The subnet has no address left to offer. */
  no_free: 404,
  /** The group named by `group` does not exist: raised while resolving a subnet, 500 as the reference. */
  unknown_group: 500,
  /** The backend refused the request (wrong credentials, a failed add or delete, an answer we cannot read). */
  backend: 500,
  /** The backend could not be reached (refused, reset, TLS failure). */
  no_connection: 500,
  /** The backend did not answer within ipam_timeout. */
  timeout: 504,
});

export const NO_CONNECTION = 'Unable to connect to External IPAM server';

export const IPAM_ERRORS: ErrorPolicy = {
  translate(err) {
    if (err instanceof HttpClientError) {
      if (err.kind === 'timeout') return IpamError.timeout('External IPAM server did not answer in time');
      return IpamError.no_connection(NO_CONNECTION);
    }
    return undefined;
  },
  send: (reply, _request, error: ProxyError) =>
    reply.code(error.status).headers(error.headers).header('content-type', 'application/json').send(Buffer.from(JSON.stringify({ error: error.message }))),
};
