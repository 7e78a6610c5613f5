// Every error of the puppet module and its provider, with its status (spec puppet.md §1). A
// provider's plain failure is answered 406 with the route's `Failed to … : ` prefix.

import { errorTable } from '../../core/errors.ts';

export const PuppetError = errorTable('puppet', {
  /** An environment name Puppet would not accept (it would reach Puppet's query string). */
  invalid_environment: 400,
  environment_not_found: 404,
  /** POST /puppet/run: the reference removed puppetrun in 2.3. */
  run_removed: 501,
  /** Puppet is still computing an environment's classes; the request goes on in the background. */
  timeout: { status: 503, retryAfter: 15 },
});
