// Locating a system tool on the proxy's PATH (spawn's own environment has a minimal PATH).

import { access, constants } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

export async function findCommand(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    if (!dir || !isAbsolute(dir)) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* next */
    }
  }
  return undefined;
}
