// BMC module with bmc_provider=ssh against a real OpenSSH server on 127.0.0.1: the configured
// remote power commands run over the system ssh client with the configured key and known_hosts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, chmod, mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { execFileP, freeTcpPort, removeDir, requireCommand, startDaemon, stopDaemon, tempDir, waitFor, type Daemon } from '../lib/procs.ts';

let dir: string;
let sshd: Daemon | undefined;
let proxy: TestProxy;
let host: string;

before(async () => {
  const sshdBin = requireCommand('sshd');
  const keygen = requireCommand('ssh-keygen');
  const keyscan = requireCommand('ssh-keyscan');
  dir = await tempDir('bmc-ssh');
  const port = await freeTcpPort();
  host = `127.0.0.1:${port}`;
  await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  await execFileP(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
  await writeFile(join(dir, 'authorized_keys'), readFileSync(join(dir, 'id_ed25519.pub')));
  await chmod(join(dir, 'authorized_keys'), 0o600);
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd refuses to start without it
  await writeFile(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'StrictModes no',
      'LogLevel VERBOSE',
      'UseDNS no',
      '',
    ].join('\n'),
  );
  await execFileP(sshdBin, ['-t', '-f', join(dir, 'sshd_config')]);
  sshd = startDaemon('sshd', sshdBin, ['-D', '-e', '-f', join(dir, 'sshd_config')], dir);
  await waitFor('sshd', async () => {
    const { stdout } = await execFileP(keyscan, ['-p', String(port), '-T', '1', '127.0.0.1']);
    if (!stdout.includes('ssh-ed25519')) return false;
    await writeFile(join(dir, 'known_hosts'), stdout);
    return true;
  });
  const state = join(dir, 'on');
  proxy = await startTestProxy({
    files: {
      bmc: {
        ':enabled': true,
        ':bmc_timeout': 10,
        ':bmc_ssh_user': 'root',
        ':bmc_ssh_key': join(dir, 'id_ed25519'),
        ':bmc_ssh_known_hosts': join(dir, 'known_hosts'),
        ':bmc_ssh_powerstatus': `test -e ${state}`,
        ':bmc_ssh_poweron': `touch ${state}`,
        ':bmc_ssh_poweroff': `rm -f ${state}`,
        ':bmc_ssh_powercycle': `echo cycled > ${join(dir, 'cycled')}`,
      },
    },
  });
});

after(async () => {
  await proxy?.close();
  await stopDaemon(sshd);
  if (dir) await removeDir(dir);
});

async function json(method: string, path: string, h = host): Promise<unknown> {
  const res = await proxy.request(method, `/bmc/${h}${path}?bmc_provider=ssh`);
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body);
}

test('power commands run on the host over a real sshd', async () => {
  assert.deepEqual(await json('GET', '/chassis/power/status'), { action: 'status', result: 'off' });
  assert.deepEqual(await json('PUT', '/chassis/power/on'), { action: 'on', result: true });
  assert.ok(existsSync(join(dir, 'on')));
  assert.deepEqual(await json('GET', '/chassis/power/status'), { action: 'status', result: 'on' });
  assert.deepEqual(await json('PUT', '/chassis/power/soft'), { action: 'soft', result: true });
  assert.ok(!existsSync(join(dir, 'on')));
  await json('PUT', '/chassis/power/on');
  assert.deepEqual(await json('PUT', '/chassis/power/off'), { action: 'off', result: true });
  assert.ok(!existsSync(join(dir, 'on')));
  assert.deepEqual(await json('PUT', '/chassis/power/cycle'), { action: 'cycle', result: true });
  assert.equal(readFileSync(join(dir, 'cycled'), 'utf8'), 'cycled\n');
});

test('an unknown host key fails (BatchMode never prompts): result false', async () => {
  // `localhost` is not in known_hosts (only 127.0.0.1 is), so strict checking refuses it.
  const port = host.split(':')[1];
  assert.deepEqual(await json('PUT', '/chassis/power/on', `localhost:${port}`), { action: 'on', result: false });
});
