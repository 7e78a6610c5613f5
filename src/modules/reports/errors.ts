// Every error of the reports module, with its status (spec plugins.md §4).

import { errorTable } from '../../core/errors.ts';

export const ReportsError = errorTable('reports', {
  /** Wrong content type for the format, unknown format, empty body, unreadable report. */
  unsupported: 415,
  /** The spool is at its bound: the sender retries later. */
  spool_full: { status: 503, retryAfter: 60 },
  storage_failed: 500,
});
