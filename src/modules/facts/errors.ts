// Every error of the facts module, with its status (spec facts.md).

import { errorTable } from '../../core/errors.ts';

export const FactsError = errorTable('facts', {
  /** A name no fact has (a reference quirk: 400, not 404). */
  unknown: 400,
  /** The fact exists but is null or false. */
  not_found: 404,
});
