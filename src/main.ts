// Entry point. Enables Node's on-disk compile cache before anything else is loaded, so restarts
// skip parsing and type-stripping the sources again, then runs the CLI.

import { enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (process.env.NODE_COMPILE_CACHE === undefined) {
  try {
    enableCompileCache(join(tmpdir(), `smart-proxy-compile-cache-${process.getuid?.() ?? 0}`));
  } catch {
    /* an unwritable cache only costs start-up time */
  }
}

await import('./cli.ts');
