// The command line as an operator uses it: --version, check, fatal settings errors naming file and
// key, and log reopening on SIGUSR1 (logrotate).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tempDir, removeDir, waitFor, freeTcpPort, sleep, requireCommand } from '../lib/procs.ts';
import { runProxyCli, startProxyProcess, portOf, MAIN } from '../lib/proxy-process.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { PROXY_VERSION } from '../../src/core/version.ts';

test('--version and --help', async () => {
  const v = await runProxyCli(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), PROXY_VERSION);
  const h = await runProxyCli(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /--bundle NAME/);
});

test('check: good settings exit 0, bad ones exit 1 naming file and key', async () => {
  const dir = await tempDir('sp-cli');
  try {
    await writeSettingsDir(dir, { http_port: 8000, bind_host: '127.0.0.1' }, { logs: ':enabled: true\n' });
    const ok = await runProxyCli(['check', '--settings', dir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^logs: running$/m);
    assert.match(ok.stdout, /settings OK/);

    await writeSettingsDir(dir, { http_port: 'eighty' });
    const bad = await runProxyCli(['check', '--settings', dir]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), `smart-proxy: ${join(dir, 'settings.yml')}: http_port: expected an integer, got string "eighty"`);

    await writeSettingsDir(dir, { http_port: 8000 }, { dns: ':enabled: true\n:dns_ttl: soon\n' });
    const badModule = await runProxyCli(['--settings', dir]);
    assert.equal(badModule.code, 1);
    assert.match(badModule.stderr, /dns\.yml: dns_ttl: expected an integer, got string "soon"/);

    await writeSettingsDir(dir, { http_port: 8000 }, { dns: ':enabled: true\n:use_provider: dns_nope\n' });
    const failing = await runProxyCli(['check', '--settings', dir]);
    assert.equal(failing.code, 1);
    assert.equal(failing.stdout.split('\n').find((l) => l.startsWith('dns:')), `dns: failed - ${join(dir, 'settings.d', 'dns.yml')}: use_provider: following providers are not available ['dns_nope']`);
  } finally {
    await removeDir(dir);
  }
});

test('a settings.d file enabling a module this proxy lacks is reported by check and warned about at start', async () => {
  const dir = await tempDir('sp-cli');
  const log = join(dir, 'proxy.log');
  try {
    const files = {
      logs: ':enabled: true\n',
      // plugins this proxy does not have (spec plugins.md §8.2, §8.3)
      omaha: ':enabled: https\n:contentpath: /var/lib/foreman-proxy/omaha/content\n',
      acd: '---\n:enabled: true\n',
      // not reported: a known module's file, a provider's file, a disabled unknown module, a file without enabled
      dhcp: ':enabled: false\n',
      dhcp_isc: ':config: /etc/dhcp/dhcpd.conf\n',
      monitoring: ':enabled: false\n',
      notes: ':anything: 1\n',
    };
    await writeSettingsDir(dir, { http_port: 0, bind_host: '127.0.0.1', log_file: log }, files);
    const r = await runProxyCli(['check', '--settings', dir]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const warnings = r.stdout.split('\n').filter((l) => l.startsWith('warning: '));
    const d = (name: string): string => join(dir, 'settings.d', name);
    assert.deepEqual(warnings, [
      `warning: ${d('acd.yml')} enables module 'acd', which this proxy does not have; ignored`,
      `warning: ${d('omaha.yml')} enables module 'omaha', which this proxy does not have; ignored`,
    ]);
    assert.match(r.stdout, /^settings OK$/m);

    const p = await startProxyProcess(['--settings', dir]);
    try {
      await waitFor('the start-up log', async () => (await readFile(log, 'utf8')).includes('Smart proxy has launched'));
      const lines = (await readFile(log, 'utf8')).split('\n').filter((l) => l.includes('which this proxy does not have'));
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[0], new RegExp(`\\[W\\] ${d('acd.yml').replace(/[.]/g, '\\.')} enables module 'acd', which this proxy does not have; ignored$`));
      assert.match(lines[1], /\[W\] .*omaha\.yml enables module 'omaha'/);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  } finally {
    await removeDir(dir);
  }
});

test('check: module-level mistakes fail with file, key and reason; a provider is really created', async () => {
  const dir = await tempDir('sp-cli');
  const d = (name: string): string => join(dir, 'settings.d', name);
  try {
    const cases: [Record<string, string>, string][] = [
      // a value outside its declared range
      [{ dns: ':enabled: true\n:dns_ttl: -5\n' }, `dns: failed - ${d('dns.yml')}: dns_ttl: must be a whole number of seconds between 0 and 2147483647, got -5`],
      // a file that must exist
      [
        { dns: ':enabled: true\n', dns_nsupdate: `:dns_key: ${join(dir, 'missing.key')}\n` },
        `dns: failed - ${d('dns_nsupdate.yml')}: dns_key: File at '${join(dir, 'missing.key')}' defined in 'dns_key' parameter doesn't exist or is unreadable`,
      ],
      // a file that exists but that the provider cannot use: only creating the provider finds that out
      [
        { dns: ':enabled: true\n', dns_nsupdate: `:dns_key: ${join(dir, 'settings.yml')}\n` },
        `dns: failed - ${d('dns_nsupdate.yml')}: dns_nsupdate: cannot use the TSIG key in '${join(dir, 'settings.yml')}' (dns_key)`,
      ],
      // an enum
      [{ dns: ':enabled: true\n:use_provider: dns_powerdns\n', dns_powerdns: ':powerdns_rest_api_key: k\n:powerdns_backend: mysql\n' }, `dns: failed - ${d('dns_powerdns.yml')}: powerdns_backend: Parameter 'powerdns_backend' must be one of rest`],
    ];
    for (const [files, line] of cases) {
      await writeSettingsDir(dir, { http_port: 8000, bind_host: '127.0.0.1' }, files);
      const r = await runProxyCli(['check', '--settings', dir]);
      assert.equal(r.code, 1, r.stdout);
      const got = r.stdout.split('\n').find((l) => l.startsWith('dns:')) ?? '';
      assert.ok(got.startsWith(line), `${got}\n  does not start with\n${line}`);
      assert.match(r.stdout, /^logs: running$/m);
      assert.match(r.stdout, /^1 module\(s\) would fail$/m);
    }
  } finally {
    await removeDir(dir);
  }
});

test('neither HTTP nor HTTPS configured: start-up aborts with the reference message', async () => {
  const dir = await tempDir('sp-cli');
  try {
    await writeSettingsDir(dir, { log_file: join(dir, 'proxy.log') });
    const r = await runProxyCli(['--settings', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Both http and https are disabled, unable to start\./);
    const missing = await runProxyCli(['--settings', join(dir, 'nowhere')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nowhere\/settings\.yml: file not found/);
  } finally {
    await removeDir(dir);
  }
});

test('SIGUSR1 reopens the log file after logrotate moved it', async () => {
  const dir = await tempDir('sp-cli');
  const log = join(dir, 'proxy.log');
  try {
    await writeSettingsDir(dir, { http_port: 0, bind_host: '127.0.0.1', log_file: log });
    const p = await startProxyProcess(['--settings', dir]);
    try {
      const url = `http://127.0.0.1:${portOf(p, 'http')}/features`;
      await fetchUrl(url, { headers: { 'x-request-id': 'aaaaaaaa-before' } });
      await waitFor('first log lines', async () => (await readFile(log, 'utf8')).includes('aaaaaaaa [I] Finished GET /features with 200'));
      await rename(log, `${log}.1`);
      p.child.kill('SIGUSR1');
      await waitFor('reopen', async () => (await readFile(log, 'utf8').catch(() => '')).includes('Reopened log file'));
      await fetchUrl(url, { headers: { 'x-request-id': 'bbbbbbbb-after' } });
      await waitFor('lines in the new file', async () => (await readFile(log, 'utf8')).includes('bbbbbbbb [I] Finished GET /features'));
      const old = await readFile(`${log}.1`, 'utf8');
      assert.ok(!old.includes('bbbbbbbb'), 'new lines must not go to the rotated file');
      // The reference's layout: timestamp, 8-character request id, level initial, message.
      assert.match(await readFile(log, 'utf8'), /^\S+ bbbbbbbb \[I\] Finished GET \/features with 200 \(\d+\.\d+ ms\)$/m);
    } finally {
      assert.equal(await p.stop(), 0);
    }
  } finally {
    await removeDir(dir);
  }
});

test('a listener that cannot bind stops start-up naming the listener and address', async () => {
  const dir = await tempDir('sp-cli');
  try {
    await writeSettingsDir(dir, { http_port: 0, bind_host: ['no-such-host.invalid'], log_file: join(dir, 'proxy.log') });
    const r = await runProxyCli(['--settings', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /listener 'http': cannot listen on no-such-host\.invalid:0: /);
  } finally {
    await removeDir(dir);
  }
});

test('logging to a stdout pipe whose reader went away does not stall shutdown', async () => {
  const dir = await tempDir('sp-cli');
  try {
    const port = await freeTcpPort();
    await writeSettingsDir(dir, { http_port: port, bind_host: ['127.0.0.1'], log_file: 'STDOUT' });
    const child = spawn(process.execPath, [MAIN, '--settings', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The pipe's reader takes a few bytes and exits, like `smart-proxy | head`.
    const reader = spawn(requireCommand('head'), ['-c', '10'], { stdio: [child.stdout, 'ignore', 'ignore'] });
    child.stdout.destroy(); // only `head` holds the read end now
    try {
      await once(reader, 'exit');
      await waitFor('listening', async () => (await fetchUrl(`http://127.0.0.1:${port}/features`)).status === 200);
      // SIGTERM right away: shutdown must not wait forever on log lines it cannot write.
      child.kill('SIGTERM');
      const exited = await Promise.race([once(child, 'exit').then(([code]) => code as number | null), sleep(15_000).then(() => 'hung' as const)]);
      assert.equal(exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  } finally {
    await removeDir(dir);
  }
});
