import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discoverCatalogue, loadProvider } from './registry.ts';

test('a module whose code does not load is reported, the others are found', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-reg-'));
  try {
    await mkdir(join(dir, 'good', 'providers', 'good_one'), { recursive: true });
    await mkdir(join(dir, 'bad'));
    await writeFile(join(dir, 'good', 'module.ts'), "export default { name: 'good', prefixes: ['/good'], audience: 'foreman', authorize: true, settings: {}, routes: () => undefined };\n");
    await writeFile(join(dir, 'good', 'providers', 'good_one', 'provider.ts'), "export default { id: 'good_one', module: 'good', settings: {}, create: () => ({}) };\n");
    await writeFile(join(dir, 'bad', 'module.ts'), 'export default {{{ syntax error\n');
    const c = await discoverCatalogue(dir);
    assert.deepEqual([...c.modules.keys()], ['good']);
    // Providers are imported only when a module selects them.
    assert.deepEqual([...c.providers.keys()], []);
    assert.equal((await loadProvider(c, 'good_one'))?.module, 'good');
    assert.deepEqual([...c.providers.keys()], ['good_one']);
    assert.equal(await loadProvider(c, 'missing'), undefined);
    assert.match(c.broken?.get('bad') ?? '', /^cannot load module code: /);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
