// Every error of the openscap module, with its status. The reference answers 200 with a JSON
// `result` text for most failures (spec plugins.md §2.3 #1); here each failure has the status
// that says what happened, and the same text as plain-text body.

import { errorTable } from '../../core/errors.ts';

export const OpenscapError = errorTable('openscap', {
  /** A path or body parameter is malformed (policy id not numeric, unknown validator type …). */
  invalid_parameter: 400,
  /** The upload is not a bzip2 stream. */
  not_bzip2: 400,
  /** The upload decompressed but is not a well-formed ARF report (kept in corrupted_dir). */
  unparsable_report: 422,
  /** The uploaded SCAP content or tailoring file holds no readable profile. */
  unparsable_content: 422,
  /** Foreman refused the report for good (unknown host or policy, proxy not identified). */
  rejected_by_foreman: 422,
  /** A host asked for a report that is not its own; a host called a Foreman-only route. */
  forbidden: 403,
  not_found: 404,
  /** The spool is at its bound: the host retries later. */
  spool_full: { status: 503, retryAfter: 60 },
  /** Foreman could not be reached for a content download. */
  foreman_unreachable: 502,
  /** oscap (HTML rendering, policy guide) is not installed or failed. */
  oscap_unavailable: 503,
  oscap_failed: 500,
  storage_failed: 500,
});
