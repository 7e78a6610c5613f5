// Every error of the TFTP module, with its status (spec tftp.md §1). Anything else a route throws
// (a file operation's failure) is answered 400 with the route's `TFTP: Failed to …: ` prefix, as
// the reference does.

import { errorTable } from '../../core/errors.ts';

export const TftpError = errorTable('tftp', {
  invalid_mac: 403,
  unknown_variant: 403,
  /** A required parameter is missing or unusable (content, menu, prefix, source URL). */
  invalid_params: 400,
  /** The fetch_boot_file destination would leave the TFTP root. */
  outside_root: 400,
  not_found: 404,
  /** Every download slot and queue place is taken. */
  busy: { status: 503, retryAfter: 30 },
});

/** Thrown synchronously by the boot-file fetcher when no download can be started or queued. */
export class DownloadQueueFull extends Error {
  constructor(running: number, queued: number) {
    super(`too many boot-file downloads (${running} running, ${queued} waiting); try again later`);
    this.name = 'DownloadQueueFull';
  }
}
