// Every error of the templates relay, with its status (spec templates.md §1.2). /unattended answers
// 400 when a request cannot be relayed or Foreman cannot be reached, and passes Foreman's own error
// status on; /userdata answers 500 for every failure, Foreman's own included.

import { errorTable } from '../../core/errors.ts';

export const TemplatesError = errorTable('templates', {
  /** A `.` or `..` path segment, which would relay the request to another Foreman path. */
  invalid_segment: 400,
  /** A list or map param (`a[]=1`), which a flat query string cannot carry. */
  invalid_param: 400,
  /** foreman_url is not set; the module keeps running, as the reference's does. */
  no_foreman_url: 400,
  /** Foreman could not be reached: connection, TLS or deadline. */
  unreachable: 400,
  /**
   * Foreman answered with an error: always created with Foreman's own status as the second
   * argument, which is passed on to the host (the row's 502 only stands for "Foreman failed").
   */
  foreman_error: 502,
  /** Any failure of a /userdata relay. */
  userdata_failed: 500,
});

/** Also the legacy init-hook failure recorded in /logs failed_modules (spec README §3.4). */
export const NO_FOREMAN_URL = 'missing :foreman_url: from configuration.';
