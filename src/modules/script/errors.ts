// Every error of the script module, with its status, and how they are written: the reference's
// /ssh routes answer errors as plain text, which here stays so for the authorization failures
// (the core's own 403 format), while our fixes (a missing public key, a rejected pull update) get
// a JSON `{"error": "…"}` body (spec §8.10). A job of another host is a 404 with an empty body,
// exactly as the reference answers it.

import { errorTable } from '../../core/errors.ts';
import { sendError } from '../../core/http/error-handler.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const ScriptError = errorTable('script', {
  /** No (verified) client certificate, or one without a CN, on a pull-host route; or trusted_hosts refused /ssh/session. */
  forbidden: 403,
  /** The job does not exist or belongs to another host (empty body, as the reference). */
  job_not_found: 404,
  /** `<ssh_identity_key_file>.pub` (or the CA key file) does not exist. */
  key_not_found: 404,
  /** A pull update whose body is not one of the two accepted shapes; the job keeps running. */
  invalid_update: 400,
  /** A pull update for a job whose task already ended. */
  job_finished: 409,
});

export const SCRIPT_ERRORS: ErrorPolicy = {
  // Anything else thrown in a route is a bug or a backend failure: a plain 500, logged with its stack.
  send(reply, request, error) {
    if (error.code === 'script.job_not_found') return reply.code(404).send('');
    if (error.code === 'script.forbidden') return sendError(reply, request, error.status, error.message, error.headers);
    return reply
      .code(error.status)
      .headers(error.headers)
      .header('content-type', 'application/json')
      .send(Buffer.from(JSON.stringify({ error: error.message })));
  },
};
