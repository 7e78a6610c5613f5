// Every error of the BMC module and its backends, with its status (spec bmc.md §1, §3), and the
// module's error policy: the reference answers every BMC error as plain text labelled
// `application/json`, whatever the request's Accept header says.

import { errorTable } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';
import { NotImplementedOperation, UndefinedOperation } from './provider.ts';

export const BmcError = errorTable('bmc', {
  /** No Authorization header, or not Basic, on a route whose backend needs the BMC credentials. */
  unauthorized: 401,
  /** A JSON body that does not parse or is not an object. */
  invalid_json: 415,
  /** A GET body larger than the proxy reads. */
  body_too_large: 413,
  /** `options.driver` / `options.privilege` outside their lists. */
  invalid_options: 400,
  /** A credential the backend cannot pass on faithfully (control characters, FreeIPMI quoting). */
  invalid_credentials: 400,
  /** A BMC address that is neither a host name nor an IP address (optionally with a port). */
  invalid_host: 400,
  /** No IPMI tool is installed, or it went away. */
  no_provider: 400,
  /** The BMC or its tool failed: exit status, HTTP error, output that does not parse. */
  failed: 400,
  /** The request's bmc_timeout ran out before the BMC answered. */
  deadline: 400,
  /** The backend does not support the operation; the reference's body is the bare class name. */
  not_implemented: 501,
  /** The reference's backend does not define the operation at all, which it answers 400. */
  undefined_operation: 400,
});

export const BMC_ERRORS: ErrorPolicy = {
  translate(err) {
    if (err instanceof NotImplementedOperation) return BmcError.not_implemented('NotImplementedError');
    if (err instanceof UndefinedOperation) return BmcError.undefined_operation(err.message);
    return undefined;
  },
  // A backend's plain error (a bug, an unexpected library failure) is 400 with its message.
  untypedStatus: 400,
  send: (reply, _request, error) =>
    reply
      .code(error.status)
      .headers(error.headers)
      .header('content-type', 'application/json')
      // A Buffer keeps fastify from appending `; charset=utf-8`.
      .send(Buffer.from(error.message)),
};
