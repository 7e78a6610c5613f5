// The container images (scripts/build-images.ts, packaging/containers/, issue 12 item 3): the
// provisioning bundle's image is built from the single executable with podman (FROM scratch, no
// registry), run as its non-root user with settings and the boot tree from a read-only volume and
// logs on stdout, and answers Foreman's /features and a TFTP fetch. Runs on the host network, bound
// to 127.0.0.1 (/work/shared/notes/containers.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, freeTcpPort, freeUdpTcpPort, removeDir, requireCommand, tempDir } from '../lib/procs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { PROXY_VERSION } from '../../src/core/version.ts';
import { buildImages, PROXY_UID } from '../../scripts/build-images.ts';
import { copyDemo, DEMO_DIR, seaExecutable, startUntilReady, tftpFetch } from './helpers.ts';

test('the provisioning image serves /features and TFTP as a non-root user, settings from a volume, logs on stdout', async (t) => {
  requireCommand('podman');
  requireCommand('tftp');
  const dir = await tempDir('sp-image');
  const conf = join(dir, 'containers.conf');
  // These machines: runc with cgroupfs and no default ulimits.
  await writeFile(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const prefix = `localhost/smart-proxy-test-${process.pid}`;
  let tag: string | undefined;
  const name = `smart-proxy-test-${process.pid}`;
  try {
    const exe = await seaExecutable(join(dir, 'build'));
    const [image] = await buildImages(exe, ['provisioning'], prefix);
    tag = image.tag;
    assert.equal(tag, `${prefix}-provisioning:${PROXY_VERSION}`);
    t.diagnostic(`image ${tag}: ${(image.bytes / 1e6).toFixed(1)} MB`);

    const config = JSON.parse((await execFileP('podman', ['image', 'inspect', '--format', '{{json .Config}}', tag], { env })).stdout) as {
      User: string;
      Entrypoint: string[];
    };
    assert.equal(config.User, `${PROXY_UID}:${PROXY_UID}`);
    assert.deepEqual(config.Entrypoint, ['/usr/bin/smart-proxy', '--settings', '/etc/foreman-proxy', '--bundle', 'provisioning']);

    const httpPort = await freeTcpPort();
    const tftpPort = await freeUdpTcpPort();
    const settings = join(dir, 'settings');
    await copyDemo(settings, httpPort, tftpPort);
    const proxy = await startUntilReady(
      'podman',
      ['--runtime', 'runc', 'run', '--rm', '--name', name, '--network=host', '--env', 'SMART_PROXY_PRINT_READY=1', '-v', `${settings}:/etc/foreman-proxy:ro`, tag],
      { env, timeoutMs: 60_000 },
    );
    try {
      const features = await fetchUrl(`http://127.0.0.1:${httpPort}/features`);
      assert.equal(features.status, 200);
      // The provisioning bundle of the demo settings: facts is not part of it.
      assert.deepEqual(JSON.parse(features.body), ['httpboot', 'logs', 'tftp']);
      const version = JSON.parse((await fetchUrl(`http://127.0.0.1:${httpPort}/version`)).body) as { version: string };
      assert.equal(version.version, PROXY_VERSION);
      // The process holding the TFTP socket runs as the image's user, not root.
      const { stdout: ss } = await execFileP('ss', ['-Hlunp', `sport = :${tftpPort}`]);
      const pid = /pid=(\d+)/.exec(ss)?.[1];
      assert.ok(pid !== undefined, `a process holds UDP port ${tftpPort}: ${ss}`);
      assert.match(await readFile(`/proc/${pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${PROXY_UID}\\s`, 'm'));
      assert.equal(await tftpFetch(tftpPort, 'pxelinux.cfg/default', dir), await readFile(join(DEMO_DIR, 'tftpboot/pxelinux.cfg/default'), 'utf8'));
    } finally {
      await proxy.stop();
    }
    assert.match(proxy.output(), /tftp\/builtin TFTP server: sent pxelinux\.cfg\/default/, 'logs reach stdout');
  } finally {
    // The container ends with the podman process stopped above; this only matters when it did not.
    await execFileP('podman', ['--runtime', 'runc', 'rm', '--force', '--ignore', name], { env }).catch(() => undefined);
    if (tag !== undefined) await execFileP('podman', ['rmi', '--force', tag], { env }).catch(() => undefined);
    await removeDir(dir);
  }
});
