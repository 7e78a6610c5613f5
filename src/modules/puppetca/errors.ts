// Every error of the puppetca module and its providers, with its status (spec puppetca.md §1).
// A provider's plain error (the CA refused, a file is missing) is answered 406 with the route's
// `Failed to … ` prefix; an autosign entry that is not there (NotPresentError) is 404.

import { errorTable } from '../../core/errors.ts';

export const PuppetCaError = errorTable('puppetca', {
  /** A certname or autosign entry that could reach a file or Puppet as something else. */
  invalid_certname: 400,
  /** Removing an autosign entry that is not in autosign.conf. */
  autosign_not_found: 404,
  /** `/validate` with an autosign provider that cannot decide (hostname whitelisting). */
  no_validation: 501,
});
