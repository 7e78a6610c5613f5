// Every error of the pulpcore module (spec content.md §3.3).

import { errorTable } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const PulpcoreError = errorTable('pulpcore', {
  /** Pulp could not be reached or did not answer in time: `Communication error with '<host>': …`. */
  unreachable: 503,
});

export const PULPCORE_ERRORS: ErrorPolicy = {};
