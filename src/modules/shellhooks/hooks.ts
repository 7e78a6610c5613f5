// Which files of the hooks directory may run. A hook is named by a plain file name (letters,
// digits, `_`, `-`, `.`, not starting with `.`), so no name can leave the directory; the file
// must be a regular file (a symbolic link is not followed) that the proxy's real user may execute.

import { constants } from 'node:fs';
import { access, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}$/;

export function validHookName(name: string): boolean {
  return NAME.test(name);
}

/** The hook's path when `name` is a runnable hook of `directory`, else undefined. */
export async function runnableHook(directory: string, name: string): Promise<string | undefined> {
  if (!validHookName(name)) return undefined;
  const file = join(directory, name);
  try {
    const st = await lstat(file);
    if (!st.isFile()) return undefined;
    await access(file, constants.X_OK);
    return file;
  } catch {
    return undefined;
  }
}

/** Every entry of the directory, split into runnable hooks and the rest, each sorted. */
export async function listHooks(directory: string): Promise<{ valid: string[]; invalid: string[] }> {
  const names = (await readdir(directory)).sort();
  const valid: string[] = [];
  const invalid: string[] = [];
  for (const name of names) ((await runnableHook(directory, name)) === undefined ? invalid : valid).push(name);
  return { valid, invalid };
}
