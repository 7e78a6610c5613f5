// The generated settings documentation matches the schemas: config/settings.d/*.yml and the
// settings tables of the module READMEs are what `npm run docs` writes from them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import { generatedDocs, moduleSettingsFile, wrap } from './docs.ts';
import * as setting from './schema.ts';
import { defineModule } from '../module.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('config/settings.d and the module READMEs are up to date with the schemas (npm run docs)', async () => {
  const docs = await generatedDocs(root);
  assert.ok(docs.size > 20, `only ${docs.size} generated files`);
  for (const [path, expected] of docs) {
    const current = await readFile(path, 'utf8').catch(() => '(missing)');
    assert.equal(current, expected, `${relative(root, path)} differs from its schema: run npm run docs`);
  }
});

test('a generated settings file: summary, enabled, every setting with its description and default or example', () => {
  const def = defineModule({
    name: 'demo',
    summary: 'Demo module.',
    prefixes: ['/demo'],
    audience: 'foreman',
    authorize: true,
    settings: setting.settings({
      ttl: setting.integer({ default: 60, description: 'TTL of records.' }),
      key: setting.file({ example: '/etc/demo.key', description: 'Key file.' }),
      extra: setting.string({ extension: true, description: 'Ours.' }),
    }),
    create: () => ({ routes: () => undefined }),
  });
  assert.equal(
    moduleSettingsFile(def),
    '---\n# Demo module.\n:enabled: false\n\n# TTL of records.\n#:ttl: 60\n\n# Key file.\n#:key: /etc/demo.key\n\n# Ours.\n#:extra:\n',
  );
  assert.deepEqual(wrap('a '.repeat(60), '# ').map((l) => l.length <= 100), [true, true]);
});
