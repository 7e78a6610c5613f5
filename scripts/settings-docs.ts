// `npm run docs`: regenerate config/settings.d/*.yml and the settings tables of the module READMEs
// from the settings schemas. `--check` only compares and exits 1 naming the files that drifted.

import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { generatedDocs } from '../src/core/settings/docs.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const checkOnly = process.argv.includes('--check');
const drifted: string[] = [];
for (const [path, content] of await generatedDocs(root)) {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) continue;
  drifted.push(relative(root, path));
  if (!checkOnly) await writeFile(path, content);
}
if (checkOnly && drifted.length > 0) {
  process.stderr.write(`settings docs out of date (run npm run docs): ${drifted.join(', ')}\n`);
  process.exit(1);
}
process.stdout.write(drifted.length === 0 ? 'settings docs up to date\n' : `updated ${drifted.join(', ')}\n`);
