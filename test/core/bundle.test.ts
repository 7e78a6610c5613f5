// The bundled build (npm run build) runs the same proxy: every module is found without the
// source tree, the version is carried over, and modules still load on first use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, removeDir, execFileP } from '../lib/procs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { PROXY_VERSION } from '../../src/core/version.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('the bundled build serves the same features as the source tree', async () => {
  const dir = await tempDir('sp-bundle');
  try {
    const out = join(dir, 'dist');
    await execFileP(process.execPath, [join(ROOT, 'scripts/build.ts'), out]);
    await writeSettingsDir(dir, { bind_host: ['127.0.0.1'], http_port: 0, log_file: join(dir, 'proxy.log') }, { httpboot: `:enabled: true\n:root_dir: ${dir}\n` });
    const child = spawn(process.execPath, [join(out, 'smart-proxy.mjs'), '--settings', dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SMART_PROXY_PRINT_READY: '1' },
    });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const port = (JSON.parse(line.toString()) as { ready: { addresses: { port: number }[] }[] }).ready[0].addresses[0].port;
      const base = `http://127.0.0.1:${port}`;
      assert.deepEqual(JSON.parse((await fetchUrl(`${base}/features`)).body), ['httpboot', 'logs']);
      const v2 = JSON.parse((await fetchUrl(`${base}/v2/features`)).body);
      for (const name of ['bmc', 'dhcp', 'dns', 'facts', 'httpboot', 'logs', 'puppet', 'puppetca', 'realm', 'registration', 'templates', 'tftp']) {
        assert.ok(name in v2, `${name} in /v2/features`);
      }
      assert.equal(JSON.parse((await fetchUrl(`${base}/version`)).body).version, PROXY_VERSION);
      assert.equal((await fetchUrl(`${base}/httpboot/missing.efi`)).status, 404);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  } finally {
    await removeDir(dir);
  }
});
