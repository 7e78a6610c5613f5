// The single executable (scripts/build-sea.ts, issue 12 item 1): built once in this process's temp
// dir, then run from a directory with no node_modules and a PATH that has no `node` on it, and in a
// container whose root file system holds only the executable and its libraries (no Node at all).
// Foreman's /features works, as do --version, --help and check; every module is inside, and the
// code of disabled modules is never loaded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, freeTcpPort, freeUdpTcpPort, removeDir, requireCommand, tempDir } from '../lib/procs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { scanModulesDir } from '../../src/core/registry.ts';
import { PROXY_VERSION } from '../../src/core/version.ts';
import { stageRootfs } from '../../scripts/build-images.ts';
import { copyDemo, DEMO_DIR, seaExecutable, startUntilReady, tftpFetch } from './helpers.ts';

let dir: string;
let exe: string;
/** PATH without any directory that has a `node` in it (on merged-/usr Debian that drops /bin too). */
let pathWithoutNode: string;
/** The environment of every run: nothing of this test process's Node leaks in. */
let bareEnv: NodeJS.ProcessEnv;

before(async () => {
  dir = await tempDir('sp-sea');
  exe = await seaExecutable(join(dir, 'build'));
  pathWithoutNode = (process.env.PATH ?? '')
    .split(':')
    .filter((d) => d !== '' && !existsSync(join(d, 'node')))
    .join(':');
  // TMPDIR: the executable's compile cache stays in the test's directory.
  bareEnv = { PATH: pathWithoutNode, HOME: dir, TMPDIR: dir, LANG: 'C.UTF-8' };
});

after(async () => {
  await removeDir(dir);
});

/** The executable copied to a fresh directory: no package.json, no node_modules, no sources. */
async function lonelyCopy(name: string): Promise<{ cwd: string; bin: string }> {
  const cwd = join(dir, name);
  await mkdir(cwd, { recursive: true });
  const bin = join(cwd, 'smart-proxy');
  await execFileP('cp', [exe, bin]);
  return { cwd, bin };
}

test('no node on the PATH the executable runs with', async () => {
  await assert.rejects(execFileP('/usr/bin/which', ['node'], { env: bareEnv }), 'which node must fail');
  assert.equal(existsSync(join(dir, 'node_modules')), false);
});

test('--version, --help and check work from the executable alone', async () => {
  const { cwd, bin } = await lonelyCopy('cli');
  const version = await execFileP(bin, ['--version'], { cwd, env: bareEnv });
  assert.equal(version.stdout, `${PROXY_VERSION}\n`);
  const help = await execFileP(bin, ['--help'], { cwd, env: bareEnv });
  assert.match(help.stdout, /^Usage: smart-proxy \[check\] \[options\]/);
  assert.match(help.stdout, /--bundle NAME/);
  await copyDemo(join(cwd, 'settings'), 8000, 6969);
  const check = await execFileP(bin, ['check', '--settings', join(cwd, 'settings')], { cwd, env: bareEnv });
  assert.match(check.stdout, /^tftp: running$/m);
  assert.match(check.stdout, /^settings OK$/m);
  // A broken setting is still reported with its file and key, and exit status 1.
  const tftpFile = join(cwd, 'settings/settings.d/tftp.yml');
  await writeFile(tftpFile, `${await readFile(tftpFile, 'utf8')}:builtin_server_port: 70000\n`);
  const bad = await execFileP(bin, ['check', '--settings', join(cwd, 'settings')], { cwd, env: bareEnv }).then(
    () => assert.fail('check must exit 1'),
    (err: { code: number; stdout: string }) => err,
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^tftp: failed - .*tftp\.yml: builtin_server_port: /m);
});

test('every bundled chunk evaluates inside the executable (modules that are off here included)', async () => {
  // Catches dependencies that work from node_modules but not bundled in the executable (ssh2's
  // poly1305 loader reads __dirname), which no settings of this test would reach.
  const { cwd, bin } = await lonelyCopy('selftest');
  const { stdout } = await execFileP(bin, [], { cwd, env: { ...bareEnv, SMART_PROXY_SEA_SELFTEST: '1' } });
  assert.match(stdout, /^sea selftest: \d+ chunks loaded\n$/);
});

test('the executable serves Foreman\'s /features and TFTP with no Node around; disabled modules stay unloaded', async () => {
  const { cwd, bin } = await lonelyCopy('serve');
  const httpPort = await freeTcpPort();
  const tftpPort = await freeUdpTcpPort();
  await copyDemo(join(cwd, 'settings'), httpPort, tftpPort);
  const proxy = await startUntilReady(bin, ['--settings', join(cwd, 'settings')], {
    cwd,
    env: { ...bareEnv, SMART_PROXY_PRINT_READY: '1', SMART_PROXY_SEA_TRACE: '1' },
  });
  try {
    const base = `http://127.0.0.1:${httpPort}`;
    const features = await fetchUrl(`${base}/features`);
    assert.equal(features.status, 200);
    assert.deepEqual(JSON.parse(features.body), ['facts', 'httpboot', 'logs', 'tftp']);
    const v2 = JSON.parse((await fetchUrl(`${base}/v2/features`)).body) as Record<string, { state: string }>;
    assert.equal(v2.tftp?.state, 'running');
    assert.equal(v2.bmc?.state, 'disabled');
    assert.equal(await tftpFetch(tftpPort, 'hello.txt', cwd), await readFile(join(DEMO_DIR, 'tftpboot/hello.txt'), 'utf8'));
  } finally {
    await proxy.stop();
  }
  // Every module of the source tree is in the executable: its definition (module.ts) is read.
  const defined = [...proxy.output().matchAll(/^sea: loading \S+ \(src\/modules\/([^/]+)\/module\.ts\)$/gm)].map((m) => m[1]);
  assert.deepEqual(defined.sort(), (await scanModulesDir()).modules.map(([d]) => d).sort());
  // The definition is small; the code behind it (api.ts and what it imports:
  // backends, ssh2, pg…) is loaded only for the enabled modules.
  const withCode = new Set([...proxy.output().matchAll(/^sea: loading \S+ \(src\/modules\/([^/]+)\/api\.ts\)$/gm)].map((m) => m[1]));
  assert.ok(withCode.has('tftp') && withCode.has('httpboot'), `enabled modules' code is loaded (trace: ${[...withCode].join(', ')})`);
  // The demo also runs the status page (metrics) and the OpenAPI document: modules, not features.
  const enabled = new Set(['facts', 'httpboot', 'logs', 'metrics', 'openapi', 'tftp']);
  assert.deepEqual([...withCode].filter((m) => !enabled.has(m)), [], 'no disabled module\'s code is loaded');
});

test('the executable runs in a container that has no Node: only it, its libraries and CA certificates', async () => {
  requireCommand('podman');
  const rootfs = join(dir, 'rootfs');
  await stageRootfs(exe, rootfs);
  const conf = join(dir, 'containers.conf');
  // These machines: runc with cgroupfs and no default ulimits (/work/shared/notes/containers.md).
  await writeFile(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const httpPort = await freeTcpPort();
  const tftpPort = await freeUdpTcpPort();
  const settings = join(dir, 'container-settings');
  await copyDemo(settings, httpPort, tftpPort);
  const name = `smart-proxy-sea-test-${process.pid}`;
  const run = ['--runtime', 'runc', 'run', '--rm', '--network=host', '--user', '10001:10001', '-v', `${settings}:/etc/foreman-proxy:ro`, '--rootfs', rootfs];

  const inside = await execFileP('podman', [...run, '/usr/bin/smart-proxy', '--version'], { env });
  assert.equal(inside.stdout, `${PROXY_VERSION}\n`);
  const noNode = await execFileP('podman', [...run, '/usr/bin/smart-proxy', 'check', '--settings', '/etc/foreman-proxy'], { env });
  assert.match(noNode.stdout, /^settings OK$/m);
  assert.equal(existsSync(join(rootfs, 'usr/bin/node')) || existsSync(join(rootfs, 'usr/local/bin/node')), false);

  const proxy = await startUntilReady('podman', [...run.slice(0, 4), '--name', name, '--env', 'SMART_PROXY_PRINT_READY=1', ...run.slice(4), '/usr/bin/smart-proxy', '--settings', '/etc/foreman-proxy'], { env });
  try {
    const features = await fetchUrl(`http://127.0.0.1:${httpPort}/features`);
    assert.equal(features.status, 200);
    assert.deepEqual(JSON.parse(features.body), ['facts', 'httpboot', 'logs', 'tftp']);
  } finally {
    await proxy.stop();
    // Only matters when stopping the podman process did not end the container.
    await execFileP('podman', ['--runtime', 'runc', 'rm', '--force', '--ignore', name], { env }).catch(() => undefined);
  }
});
