// SIGHUP to the proxy as a real process, started as the packaged unit starts it (through
// packaging/debian/notify-socket-exec, with a stand-in for systemd's notify socket): the edited
// settings apply without a restart (same PID, same port), the service manager sees RELOADING=1
// then READY=1, a broken file is refused and logged with file and key while the proxy serves on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort, removeDir, requireCommand, tempDir, waitFor } from '../lib/procs.ts';
import { MAIN } from '../lib/proxy-process.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { startNotifyStandIn, type NotifyRecord } from '../packaging/notify-standin.ts';

const LAUNCHER = fileURLToPath(new URL('../../packaging/debian/notify-socket-exec', import.meta.url));

const has = (records: NotifyRecord[], line: string): NotifyRecord[] => records.filter((r) => r.lines.includes(line));

test('SIGHUP: a module enabled in the files starts, RELOADING=1 then READY=1; a broken file is refused with file and key; same process throughout', async (t) => {
  const dir = await tempDir('sp-reload-hup');
  const standIn = await startNotifyStandIn(dir);
  const port = await freeTcpPort();
  const log = join(dir, 'proxy.log');
  await writeSettingsDir(dir, { bind_host: ['127.0.0.1'], http_port: port, log_file: log, log_level: 'INFO' }, { logs: ':enabled: true\n', tftp: ':enabled: false\n' });
  const child = spawn(requireCommand('perl'), [LAUNCHER, process.execPath, MAIN, '--settings', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NOTIFY_SOCKET: standIn.socketPath },
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    await standIn.stop();
    await removeDir(dir);
  });
  const features = async (): Promise<string[]> => (await (await fetch(`http://127.0.0.1:${port}/features`)).json()) as string[];
  const logText = (): Promise<string> => readFile(log, 'utf8');

  await waitFor('READY=1', () => has(standIn.records(), 'READY=1').length === 1, 20_000);
  assert.deepEqual(await features(), ['logs']);

  const tftproot = join(dir, 'tftproot');
  await writeFile(join(dir, 'settings.d', 'tftp.yml'), `:enabled: true\n:tftproot: ${tftproot}\n:tftp_servername: 192.0.2.7\n`);
  process.kill(child.pid as number, 'SIGHUP');
  await waitFor('tftp in /features after SIGHUP', async () => (await features()).includes('tftp'));
  const serverName = await fetch(`http://127.0.0.1:${port}/tftp/serverName`);
  assert.deepEqual(await serverName.json(), { serverName: '192.0.2.7' });
  await waitFor('READY=1 after the reload', () => has(standIn.records(), 'READY=1').length === 2);
  const records = standIn.records();
  const reloading = has(records, 'RELOADING=1');
  assert.equal(reloading.length, 1);
  assert.ok(reloading[0].lines.some((l) => /^MONOTONIC_USEC=\d+$/.test(l)), reloading[0].lines.join('|'));
  const readyAgain = has(records, 'READY=1')[1];
  assert.ok(records.indexOf(readyAgain) > records.indexOf(reloading[0]), 'READY=1 after RELOADING=1');
  assert.ok(readyAgain.lines.includes('STATUS=Serving with the reloaded settings'), readyAgain.lines.join('|'));
  // The log is written in batches: wait for the summary line.
  await waitFor('the reload summary in the log', async () =>
    /Reloaded: 0 module\(s\) recreated \[\], 1 started \[tftp\], 0 stopped \[\], \d+ kept \[logs\b.*\], 0 failed \[\]/.test(await logText()),
  );

  // A broken file: refused, logged with file and key; nothing changes.
  const tftpFile = join(dir, 'settings.d', 'tftp.yml');
  await writeFile(tftpFile, `:enabled: true\n:tftproot: ${tftproot}\n:boot_file_retries: many\n`);
  process.kill(child.pid as number, 'SIGHUP');
  await waitFor('the refusal in the log', async () => (await logText()).includes('Reload refused'));
  const refusal = (await logText()).split('\n').find((l) => l.includes('Reload refused')) ?? '';
  assert.ok(refusal.includes(`${tftpFile}: boot_file_retries`), refusal);
  await waitFor('READY=1 after the refused reload', () => has(standIn.records(), 'READY=1').length === 3);
  assert.ok(has(standIn.records(), 'READY=1')[2].lines.some((l) => l.startsWith('STATUS=Reload refused: ') && l.includes('boot_file_retries')));
  assert.deepEqual(await features(), ['logs', 'tftp']);
  assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/tftp/serverName`)).json(), { serverName: '192.0.2.7' });

  const [code] = await (async () => {
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    return exited;
  })();
  assert.equal(code, 0, output);
});
