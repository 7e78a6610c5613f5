// Every error of the realm module and its provider, with its status (spec realm.md §1). Errors a
// backend raises without a code of this table are answered 400 with their message.

import { errorTable } from '../../core/errors.ts';

export const RealmError = errorTable('realm', {
  invalid_hostname: 400,
  invalid_userclass: 400,
  unknown_realm: 400,
  not_found: 404,
});
