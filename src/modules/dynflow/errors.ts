// Every error of the dynflow module, with its status (spec remote-execution.md §2.3, §8.10), and
// the module's error policy: every /dynflow answer is JSON, errors included
// (`{"error": "<message>"}`), where the reference answers some with HTML 500 pages.

import { ProxyError, errorTable, errorText } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const DynflowError = errorTable('dynflow', {
  /** A body that is not JSON, or a field of the wrong shape; the message names the field. */
  invalid_request: 400,
  /** update/done without a verified client certificate. */
  forbidden: 403,
  /** Unknown task id (status, cancel, events). */
  not_found: 404,
  /** Unknown `operation` (the reference's 404 and message). */
  unknown_operation: 404,
  /** A launch whose task ids are already in use by another launch. */
  conflict: 409,
  /** statuses without task ids (the reference's 422). */
  unprocessable: 422,
  /** The engine is stopping. */
  unavailable: { status: 503, retryAfter: 15 },
});

export const DYNFLOW_ERRORS: ErrorPolicy = {
  // Anything else (a store failure, a bug in an operation) is a 500, still as JSON; framework
  // rejections (body too large …) keep their own 4xx.
  translate: (err) => (typeof (err as { statusCode?: unknown }).statusCode === 'number' ? undefined : new ProxyError(500, errorText(err), 'dynflow.internal')),
  send: (reply, _request, error) =>
    reply
      .code(error.status)
      .headers(error.headers)
      .header('content-type', 'application/json')
      .send(Buffer.from(JSON.stringify({ error: error.message }))),
};
