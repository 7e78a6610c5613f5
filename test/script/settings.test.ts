// The script module's start-up checks through the real CLI (`smart-proxy check`): the reference's
// messages, and the two configuration traps of the reference that are fixed here (spec §8.11):
// pull modes need no SSH key, and a proxy log_level of WARN does not break the module.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { runProxyCli } from '../lib/proxy-process.ts';
import { removeDir, tempDir } from '../lib/procs.ts';

let dir: string;

before(async () => {
  dir = await tempDir('rex-settings');
});

after(async () => {
  await removeDir(dir);
});

async function check(name: string, script: Record<string, unknown>, global: Record<string, unknown> = {}): Promise<{ code: number | null; out: string }> {
  const settings = join(dir, name);
  await writeSettingsDir(settings, { bind_host: ['127.0.0.1'], http_port: 0, log_file: join(settings, 'proxy.log'), ...global }, {
    dynflow: { ':enabled': true, ':database': join(settings, 'tasks.sqlite') },
    remote_execution_ssh: { ':enabled': true, ...script },
  });
  const r = await runProxyCli(['check', '--settings', settings]);
  return { code: r.code, out: r.stdout + r.stderr };
}

test('smart-proxy check: the reference messages for a bad mode, a missing key and a pull-mqtt mode without broker', async () => {
  const mode = await check('mode', { ':mode': 'ssh-async' });
  assert.equal(mode.code, 1);
  assert.match(mode.out, /Mode has to be one of ssh, pull, pull-mqtt, given ssh-async/);
  const key = join(dir, 'nokey', 'id_rsa_foreman_proxy');
  const missing = await check('nokey', { ':mode': 'ssh', ':ssh_identity_key_file': key });
  assert.equal(missing.code, 1);
  assert.ok(missing.out.includes(`SSH private key file ${key} doesn't exist.`), missing.out);
  const broker = await check('nobroker', { ':mode': 'pull-mqtt' });
  assert.equal(broker.code, 1);
  assert.match(broker.out, /mqtt_broker has to be set when pull-mqtt mode is used/);
});

test('smart-proxy check: pull modes start without SSH keys, also with a proxy log_level of WARN', async () => {
  const key = join(dir, 'absent', 'id_rsa_foreman_proxy');
  for (const [name, script] of [
    ['pull', { ':mode': 'pull', ':ssh_identity_key_file': key }],
    ['pullmqtt', { ':mode': 'pull-mqtt', ':mqtt_broker': '127.0.0.1', ':mqtt_port': 1883, ':ssh_identity_key_file': key }],
  ] as const) {
    const r = await check(name, script, { log_level: 'WARN' });
    assert.equal(r.code, 0, `${name}: ${r.out}`);
    assert.doesNotMatch(r.out, /script: failed/);
  }
});
