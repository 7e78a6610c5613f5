// Queries with BIND's dig against a test DNS server on 127.0.0.1, answers compared as sorted sets.

import { execFileP } from './procs.ts';

/** `dig +short` records for `name`/`type` (type '' for dig's default), sorted, comments dropped. */
export async function digShort(dig: string, port: number, name: string, type: string, extra: readonly string[] = []): Promise<string[]> {
  const { stdout } = await execFileP(dig, ['+time=2', '+tries=2', '+short', '@127.0.0.1', '-p', String(port), ...extra, name, ...(type ? [type] : [])]);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith(';'))
    .sort();
}
