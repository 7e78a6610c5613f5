// Every error of the shellhooks module, with its status (spec plugins.md §5). The plugin answers
// its refusals with 500 and a plain-text message, which foreman_webhooks only logs; the statuses
// are kept so existing webhook setups see what they saw, with the reason added to the message.

import { errorTable } from '../../core/errors.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const ShellhookError = errorTable('shellhooks', {
  /** A name that could leave the directory or is not a plain file name. */
  invalid_name: 500,
  /** No executable regular file of that name in the directory. */
  invalid_file: 500,
  /** The directory cannot be listed. */
  directory: 500,
  /** max_running hooks run and the queue behind them is full. */
  busy: { status: 503, retryAfter: 5 },
});

export const SHELLHOOK_ERRORS: ErrorPolicy = {};
