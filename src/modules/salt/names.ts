// What the salt routes and the `salt` operation accept as a minion name, an autosign key or a
// Salt environment. The reference passed them on unchecked: a `\n` in a name wrote a second line
// (e.g. `*`, autosigning every minion) into autosign.conf, and a name starting with `-` was read
// as an option by salt-key and salt. Names are checked here before any file or command sees them.

import { SaltError } from './errors.ts';

/** A minion id as Foreman sends it: a host name (letters, digits, `-`, `_`, `.`), not starting with `-` or `.`. */
const MINION = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/;
/** An autosign grain value: printable, no spaces, not starting with `-` or `#` (a comment line). */
const KEY = /^[A-Za-z0-9_+/=:.@][A-Za-z0-9_+/=:.@-]{0,511}$/;
/** A Salt file server environment. */
const ENVIRONMENT = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function check(pattern: RegExp, value: string, field: string, what: string, rule: string): string {
  if (!pattern.test(value)) throw SaltError.invalid_name(`Invalid ${what} '${value.replace(/[\r\n]/g, (c) => (c === '\n' ? '\\n' : '\\r'))}' (parameter ${field}): ${rule}`);
  return value;
}

export function minionName(value: string, field = 'host'): string {
  return check(MINION, value, field, 'minion name', 'letters, digits, "-", "_" and ".", not starting with "-" or ".", at most 253 characters');
}

export function autosignKey(value: string): string {
  return check(KEY, value, 'key', 'autosign key', 'letters, digits and "_+/=:.@-", not starting with "-", at most 512 characters');
}

export function environmentName(value: string): string {
  return check(ENVIRONMENT, value, 'environment', 'environment', 'letters, digits, "-", "_" and ".", not starting with "-" or "."');
}

/** The same check for the operation's input: the problem, or undefined. */
export function minionProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'is required (the minion name)';
  return MINION.test(value) ? undefined : 'must be a minion name: letters, digits, "-", "_" and ".", not starting with "-" or "."';
}
