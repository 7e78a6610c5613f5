// Whether a path exists (for optional files: a known_hosts file, a Saltfile, an ansible.cfg),
// without throwing and without blocking the event loop.

import { access } from 'node:fs/promises';

export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
