// POSIX shell quoting for every value the SSH runner puts into a remote command line, plus the
// checks for values that must be more than "safe data" (a user name must name a user, a working
// directory must be an absolute path). The remote login shell is assumed to be POSIX sh compatible,
// as the reference runner assumes too.

/** Thrown for a value that cannot be used on the remote host; the message names the field. */
export class SshInputError extends Error {
  readonly field: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'SshInputError';
    this.field = field;
  }
}

/**
 * Quote `value` so that a POSIX shell reads it back as exactly one word with exactly this text.
 * Inside single quotes nothing is special except the single quote itself, which is written as
 * `'\''` (close, escaped quote, reopen). NUL cannot travel through a command line at all.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new SshInputError('value', 'contains a NUL character, which no shell word can hold');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Quote each word and join them with spaces: one shell command line. */
export function shellCommand(...words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

// Local accounts (useradd's NAME_REGEX and friends) plus directory-service names such as
// `jdoe@example.com` or `EXAMPLE\jdoe` (sssd, Centrify). Never a leading `-`, which sudo/su/dzdo
// would read as an option, and no whitespace or shell syntax.
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@\\-]{0,254}\$?$/;

/** Throws a clear error unless `name` looks like a user name (it is quoted anyway). */
export function checkUserName(field: string, name: string): void {
  if (!USER_NAME.test(name)) {
    throw new SshInputError(
      field,
      `${JSON.stringify(name)} is not a valid user name (letters, digits, '_', '.', '@', '\\', '-', not starting with '-')`,
    );
  }
}

/** Throws unless `dir` is an absolute path the runner can put in a command line. */
export function checkRemoteDir(field: string, dir: string): void {
  if (!dir.startsWith('/')) throw new SshInputError(field, `${JSON.stringify(dir)} is not an absolute path`);
  if (dir.includes('\0')) throw new SshInputError(field, 'contains a NUL character');
  if (/[\n\r]/.test(dir)) throw new SshInputError(field, 'contains a line break');
  if (dir.split('/').includes('..')) throw new SshInputError(field, `${JSON.stringify(dir)} contains '..'`);
}
