// Puppet's autosign.conf: one certname or glob per line, `#` comments, blank lines ignored.
// Pure text transformations; the provider does the file I/O and the locking.

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** Entries in file order: every line that is neither blank nor a comment, as written. */
export function listEntries(text: string): string[] {
  return splitLines(text).filter((line) => {
    const t = line.trimStart();
    return t !== '' && !t.startsWith('#');
  });
}

/** The text with `entry` appended, or undefined when a line equal to it already exists. */
export function addEntry(text: string, entry: string): string | undefined {
  if (splitLines(text).includes(entry)) return undefined;
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  return `${text}${sep}${entry}\n`;
}

/**
 * The text without every line equal to `entry`, or undefined when there is none. Other lines,
 * comments and duplicates included, are kept as they were.
 */
export function removeEntry(text: string, entry: string): string | undefined {
  const lines = splitLines(text);
  const kept = lines.filter((l) => l !== entry);
  if (kept.length === lines.length) return undefined;
  return kept.length === 0 ? '' : `${kept.join('\n')}\n`;
}
