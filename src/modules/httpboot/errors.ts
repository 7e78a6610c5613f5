// Every error of the HTTP boot module, with its status (spec httpboot.md §2).

import { errorTable, type ProxyError } from '../../core/errors.ts';

export const HttpbootError = errorTable('httpboot', {
  /** Empty, encoded-separator or NUL paths, and files whose real path leaves the root. */
  invalid_path: 403,
  not_found: 404,
  directory: 403,
  not_regular: 503,
  denied: 403,
  unsatisfiable_range: 416,
});

/** 416 with the `Content-Range: bytes *\/<size>` RFC 9110 asks for. */
export function unsatisfiableRange(size: number): ProxyError {
  const err = HttpbootError.unsatisfiable_range('Requested range not satisfiable');
  err.headers['content-range'] = `bytes */${size}`;
  return err;
}
