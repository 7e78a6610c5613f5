// The Salt master's autosign files (autosign_file: minion names; autosign_key_file: grain values),
// one entry a line. Changes replace the file atomically (a crash leaves the old or the new list,
// never half a line) and are serialised per file, so two concurrent requests never lose each
// other's entry. The file keeps its mode and, when the proxy may, its owner: the Salt master
// reads it.

import { readFile, stat } from 'node:fs/promises';
import { replaceFileAtomic } from '../../lib/fs/atomic.ts';

export class AutosignFile {
  readonly path: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  private async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Entries: lines that are neither empty nor comments (as the reference lists them). */
  async list(): Promise<string[]> {
    const text = (await this.read()) ?? '';
    return text.split('\n').filter((line) => line !== '' && !/^\s*#/.test(line));
  }

  /** Append `value` unless a line equals it already. */
  add(value: string): Promise<void> {
    return this.change((lines) => (lines.includes(value) ? undefined : [...lines, value]));
  }

  /** Remove every line equal to `value` (a missing file or entry is no error, as in the reference). */
  remove(value: string): Promise<void> {
    return this.change((lines) => (lines.includes(value) ? lines.filter((l) => l !== value) : undefined));
  }

  /** Run one read-modify-write after the previous one; `edit` returns undefined for "no change". */
  private change(edit: (lines: string[]) => string[] | undefined): Promise<void> {
    const next = this.queue.then(async () => {
      const text = await this.read();
      const lines = text === undefined || text === '' ? [] : text.replace(/\n$/, '').split('\n');
      const edited = edit(lines);
      if (edited === undefined) return;
      const before = text === undefined ? undefined : await stat(this.path);
      const content = edited.length === 0 ? '' : `${edited.join('\n')}\n`;
      const mode = before ? before.mode & 0o7777 : 0o644;
      await replaceFileAtomic(
        this.path,
        async (fh) => {
          await fh.writeFile(content);
          await fh.chmod(mode); // exactly, whatever the umask
          // Keep the owner the Salt master expects; only root may give a file away.
          if (before && process.getuid?.() === 0) await fh.chown(before.uid, before.gid);
        },
        { mode },
      );
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
