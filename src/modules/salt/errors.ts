// Every error of the salt module with its status (spec plugins.md §8.1). The reference answers 406
// `Failed to <action> …: <reason>` for any failure of a route; that is the module's untyped status,
// with each route's `errorPrefix`. Typed errors keep their own status and message.

import { errorTable } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const SaltError = errorTable('salt', {
  /** A host name, autosign key or environment that Salt could not take as given (checked before anything runs). */
  invalid_name: 400,
  /** The Salt API answered 404 (the reference's NotFound). */
  not_found: 404,
  /** `salt --async <host> state.highstate` failed (the reference's 500 `… Check Log files`). */
  highstate_failed: 500,
});

export const SALT_ERRORS: ErrorPolicy = { untypedStatus: 406 };

/** The reference's answer when a Salt API route is called without `use_api`. */
export const API_DISABLED = 'You must enable the Salt API to use this feature.';
