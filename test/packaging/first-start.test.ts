// The first start (issue 12): `npm start` runs `node --max-semi-space-size=8 src/main.ts --settings config/demo`, which
// serves the built-in TFTP server and HTTP boot on the sample boot tree in config/demo/tftpboot,
// facts and logs, on loopback and unprivileged ports, with no other daemon. These are the README's
// "First start" commands and the output it shows; the demo is started as the README says, only on
// free ports instead of 8000/6969 so the test can run beside a demo someone started.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freeTcpPort, freeUdpTcpPort, removeDir, tempDir } from '../lib/procs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { discoverCatalogue } from '../../src/core/registry.ts';
import { copyDemo, DEMO_DIR, ROOT, startUntilReady, tftpFetch } from './helpers.ts';

/** What the README shows `curl http://127.0.0.1:8000/features` printing. */
const DEMO_FEATURES = '["facts","httpboot","logs","tftp"]';

test('npm start (node src/main.ts --settings config/demo) serves the demo: features, TFTP, HTTP boot, facts, logs', async (t) => {
  const dir = await tempDir('sp-first');
  const demo = join(dir, 'demo');
  const httpPort = await freeTcpPort();
  const tftpPort = await freeUdpTcpPort();
  await copyDemo(demo, httpPort, tftpPort);
  // An empty compile cache: the first `npm start` on a fresh clone parses every source file.
  const proxy = await startUntilReady(process.execPath, [join(ROOT, 'src/main.ts'), '--settings', demo], {
    cwd: ROOT,
    env: { ...process.env, SMART_PROXY_PRINT_READY: '1', NODE_COMPILE_CACHE: join(dir, 'compile-cache') },
  });
  try {
    // The README's "within two seconds" is a figure (bench/packaging.ts), not an assertion: on a
    // 2-core CI machine running other tests beside this one, wall-clock time says little.
    t.diagnostic(`ready after ${proxy.readyMs.toFixed(0)} ms (cold compile cache)`);
    const base = `http://127.0.0.1:${httpPort}`;

    const features = await fetchUrl(`${base}/features`);
    assert.equal(features.status, 200);
    assert.equal(features.body, DEMO_FEATURES);

    const ipxe = await readFile(join(DEMO_DIR, 'tftpboot/boot.ipxe'), 'utf8');
    // The README's `tftp 127.0.0.1 6969 -c get boot.ipxe /tmp/boot.ipxe` (netascii mode).
    assert.equal(await tftpFetch(tftpPort, 'boot.ipxe', dir, true), ipxe);

    const pxelinux = await fetchUrl(`${base}/httpboot/pxelinux.cfg/default`);
    assert.equal(pxelinux.status, 200);
    assert.equal(pxelinux.body, await readFile(join(DEMO_DIR, 'tftpboot/pxelinux.cfg/default'), 'utf8'));

    const facts = JSON.parse((await fetchUrl(`${base}/facts`)).body) as Record<string, unknown>;
    assert.equal(typeof facts.hardwaremodel, 'string', 'facts has hardwaremodel');

    // The TFTP transfer above is in the log buffer Foreman reads.
    const logs = JSON.parse((await fetchUrl(`${base}/logs/`)).body) as { logs: { message: string }[] };
    assert.ok(logs.logs.some((l) => l.message.includes('sent boot.ipxe')), 'the TFTP transfer is logged in /logs/');
    await proxy.stop();
    // Logs go to stdout (batched, flushed at exit).
    assert.match(proxy.output(), /Smart proxy has launched/);
    assert.doesNotMatch(proxy.output(), /\[W\]|\[E\]/, 'the demo runs without warnings or errors');
  } finally {
    await proxy.stop();
    await removeDir(dir);
  }
});

test('config/demo has a settings file for every module, so the first start prints no "Couldn\'t find settings file" warning', async () => {
  const catalogue = await discoverCatalogue();
  const missing = [...catalogue.modules.values()]
    .map((def) => `${def.settingsFile ?? def.name}.yml`)
    .filter((file) => !existsSync(join(DEMO_DIR, 'settings.d', file)));
  assert.deepEqual(missing, [], `add config/demo/settings.d/${missing.join(', ')} (":enabled: false" unless the module works without another daemon)`);
});
