// Certificate names and autosign entries arrive in the URL path and end up in a Puppet CA URL, in
// autosign.conf (one entry per line) and in log lines. Puppet itself accepts almost any printable
// ASCII; we accept only what a host name or UUID certname needs, so a newline can never add an
// autosign line, `../` can never leave a URL path and `-o` can never look like an option.

const NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,253}[A-Za-z0-9_-])?$/;

/** Why `name` is not an acceptable certname, or undefined when it is fine. */
export function certnameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.length > 255) return 'must be at most 255 characters long';
  if (!NAME.test(name)) {
    return "may contain only letters, digits, '.', '-' and '_', and must start and end with a letter, digit or '_'";
  }
  if (name.includes('..')) return "must not contain '..'";
  return undefined;
}

/**
 * Why `entry` is not an acceptable autosign.conf entry. Puppet's autosign.conf allows one glob
 * form, a leading `*.` (`*.example.com`), or `*` alone (sign everything).
 */
export function autosignEntryProblem(entry: string): string | undefined {
  if (entry === '*') return undefined;
  const name = entry.startsWith('*.') ? entry.slice(2) : entry;
  return certnameProblem(name);
}

/** A value quoted for an error message: hostile input never breaks the log line it ends up in. */
export function quoted(value: string): string {
  return JSON.stringify(value);
}
