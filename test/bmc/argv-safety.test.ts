// Hostile BMC hosts and credentials never reach a command line unescaped. Fake ipmitool, FreeIPMI,
// ssh, sudo and shutdown binaries first on PATH record the exact argv, environment and config file
// each spawn got, so the tests see precisely what a real tool would have been given.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, chmod, readdir, readFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { tempDir, removeDir, waitFor } from '../lib/procs.ts';

let dir: string;
let rec: string;
let proxy: TestProxy;
const originalPath = process.env.PATH;

const FREEIPMI_TOOLS = ['ipmipower', 'ipmi-chassis', 'ipmi-chassis-config', 'bmc-info', 'bmc-config', 'bmc-device', 'ipmi-fru', 'ipmi-sensors'];

function fakeTool(name: string, output: string): string {
  // NUL-separated argv so newlines inside arguments stay visible as such.
  return `#!/bin/sh
out="${rec}/${name}.$$"
printf '%s\\0' "$@" > "$out.argv"
printf '%s' "$IPMI_PASSWORD" > "$out.env"
for a in "$@"; do case "$a" in --config-file=*)
  f="\${a#--config-file=}"; cp "$f" "$out.conf"; stat -c %a "$f" > "$out.mode"; stat -c %a "$(dirname "$f")" > "$out.dirmode";;
esac; done
printf '%s\\n' "${output}"
`;
}

before(async () => {
  dir = await tempDir('bmc-argv');
  rec = join(dir, 'rec');
  const bin = join(dir, 'bin');
  await mkdir(rec);
  await mkdir(bin);
  const tools: Record<string, string> = {
    ipmitool: 'Chassis Power is on',
    ssh: '',
    sudo: '',
    shutdown: '',
    ...Object.fromEntries(FREEIPMI_TOOLS.map((t) => [t, t === 'ipmipower' ? 'bmc: on' : ''])),
  };
  for (const [name, output] of Object.entries(tools)) {
    await writeFile(join(bin, name), fakeTool(name, output));
    await chmod(join(bin, name), 0o755);
  }
  process.env.PATH = `${bin}:${originalPath}`;
  proxy = await startTestProxy({ files: { bmc: { ':enabled': true, ':bmc_timeout': 5, ':bmc_ssh_key': join(dir, 'no-such-key') } } });
});

after(async () => {
  process.env.PATH = originalPath;
  await proxy?.close();
  await removeDir(dir);
});

async function records(): Promise<string[]> {
  return (await readdir(rec)).sort();
}

async function clearRecords(): Promise<void> {
  await removeDir(rec);
  await mkdir(rec);
}

async function argvOf(tool: string): Promise<string[][]> {
  const files = (await records()).filter((f) => f.startsWith(`${tool}.`) && f.endsWith('.argv'));
  return Promise.all(files.map(async (f) => (await readFile(join(rec, f), 'utf8')).split('\0').slice(0, -1)));
}

const basic = (user: string, pass: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

const HOSTILE_HOSTS = [
  ';reboot',
  'bmc;reboot',
  '$(reboot)',
  '`reboot`',
  'bmc\nreboot',
  'bmc\r\nx',
  '-o',
  '-oProxyCommand=touch /tmp/pwned',
  '--help',
  '-H127.0.0.1',
  'a b',
  'bmc|x',
  'bmc&x',
  "bmc'x",
  'bmc"x',
  'bmc>x',
  '../etc/passwd',
  '10.0.0.1:0',
  '10.0.0.1:99999',
  '10.0.0.1:22;x',
  '[::1',
  '[::1]x',
  '999.1.1.1',
  'bmc.example.com.-',
  '',
];

test('hostile BMC hosts are refused with 400 before any command runs', async () => {
  await clearRecords();
  for (const provider of ['ipmitool', 'freeipmi', 'ssh', 'redfish', 'shell']) {
    for (const host of HOSTILE_HOSTS) {
      if (host === '') continue; // an empty segment is not a route at all (404 below)
      const res = await proxy.request('PUT', `/bmc/${encodeURIComponent(host)}/chassis/power/off?bmc_provider=${provider}`, {
        headers: basic('admin', 'pw'),
      });
      assert.equal(res.status, 400, `${provider} ${JSON.stringify(host)}: ${res.body}`);
      assert.match(res.body, /^Invalid BMC host /);
    }
  }
  assert.equal((await proxy.request('GET', '/bmc//chassis/power/status?bmc_provider=ipmitool')).status, 404);
  assert.deepEqual(await records(), [], 'no tool was spawned');
});

test('ipmitool: option-looking and shell-looking credentials are single argv items; the password is only in the environment', async () => {
  await clearRecords();
  const password = '$(touch /tmp/pwned);-P x\'"`id`';
  for (const user of ['-o', '$(reboot);x', '--help']) {
    await clearRecords();
    const res = await proxy.request('GET', '/bmc/bmc.example.com:6230/chassis/power/status?bmc_provider=ipmitool', {
      headers: basic(user, password),
    });
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(JSON.parse(res.body), { action: 'status', result: 'on' });
    const [argv] = await argvOf('ipmitool');
    assert.deepEqual(argv, ['-I', 'lanplus', '-H', 'bmc.example.com', '-p', '6230', '-U', user, '-E', 'power', 'status']);
    assert.ok(!argv.some((a) => a.includes('pwned')), 'password not in argv');
    const env = (await records()).find((f) => f.startsWith('ipmitool.') && f.endsWith('.env'));
    assert.equal(await readFile(join(rec, env!), 'utf8'), password);
  }
});

test('ipmitool: an empty password is no password, not an -E without one', async () => {
  await clearRecords();
  const res = await proxy.request('GET', '/bmc/10.1.2.3/chassis/power/status?bmc_provider=ipmitool', { headers: basic('admin', '') });
  assert.equal(res.status, 200, res.body);
  const [argv] = await argvOf('ipmitool');
  assert.deepEqual(argv, ['-I', 'lanplus', '-H', '10.1.2.3', '-U', 'admin', 'power', 'status']);
});

test('freeipmi: credentials go to a 0600 config file in a private dir that is removed afterwards', async () => {
  await clearRecords();
  const res = await proxy.request('GET', '/bmc/10.1.2.3/chassis/power/status?bmc_provider=freeipmi', {
    headers: basic('-u root', 'pa ss;$(id)'),
  });
  assert.equal(res.status, 200, res.body);
  const [argv] = await argvOf('ipmipower');
  const conf = argv.find((a) => a.startsWith('--config-file='))!.slice('--config-file='.length);
  assert.equal(argv.length, 4);
  assert.deepEqual([argv[0], argv[1], argv[3]], [`--config-file=${conf}`, '--hostname=10.1.2.3', '--stat']);
  assert.match(argv[2], /^--session-timeout=\d+000$/);
  assert.ok(!argv.some((a) => a.includes('pa ss') || a.includes('-u root')), 'no credentials in argv');
  const files = await records();
  const base = files.find((f) => f.startsWith('ipmipower.') && f.endsWith('.conf'))!.slice(0, -'.conf'.length);
  const text = await readFile(join(rec, `${base}.conf`), 'utf8');
  assert.match(text, /^username "-u root"$/m);
  assert.match(text, /^password "pa ss;\$\(id\)"$/m);
  assert.equal((await readFile(join(rec, `${base}.mode`), 'utf8')).trim(), '600');
  assert.equal((await readFile(join(rec, `${base}.dirmode`), 'utf8')).trim(), '700');
  assert.ok(!existsSync(dirname(conf)), 'the private dir is gone after the request');
});

test('freeipmi: identify and boot-device arguments (identify cannot run against ipmi_sim)', async () => {
  await clearRecords();
  const auth = basic('admin', 'pw');
  assert.equal((await proxy.request('PUT', '/bmc/10.1.2.3/chassis/identify/on?bmc_provider=freeipmi', { headers: auth })).status, 200);
  assert.equal((await proxy.request('PUT', '/bmc/10.1.2.3/chassis/identify/off?bmc_provider=freeipmi', { headers: auth })).status, 200);
  const identify = (await argvOf('ipmi-chassis')).map((a) => a[a.length - 1]).sort();
  assert.deepEqual(identify, ['--chassis-identify=FORCE', '--chassis-identify=TURN-OFF']);
  const boot = await proxy.request('PUT', '/bmc/10.1.2.3/chassis/config/bootdevice/bios;reboot?bmc_provider=freeipmi&persistent=1', { headers: auth });
  assert.deepEqual(JSON.parse(boot.body), { action: 'bios;reboot', result: true });
  const [argv] = await argvOf('ipmi-chassis-config');
  assert.deepEqual(argv.slice(-3), ['--commit', '--key-pair=Chassis_Boot_Flags:Boot_Device=BIOS-SETUP', '--key-pair=Chassis_Boot_Flags:Boot_Flags_Persistent=Yes']);
});

test('freeipmi: credentials its config file cannot hold are refused before any spawn', async () => {
  await clearRecords();
  for (const [user, pass, field] of [['admin', 'pw#x', 'password'], ['admin', 'a"b', 'password'], ['ad\\min', 'pw', 'username']]) {
    const res = await proxy.request('GET', '/bmc/10.1.2.3/chassis/power/status?bmc_provider=freeipmi', { headers: basic(user, pass) });
    assert.equal(res.status, 400, res.body);
    assert.match(res.body, new RegExp(`^Invalid BMC ${field}: `));
  }
  assert.deepEqual(await records(), []);
});

test('ssh: the host comes after `--`, BatchMode is on, a missing key file is left out', async () => {
  await clearRecords();
  const res = await proxy.request('PUT', '/bmc/bmc.example.com/chassis/power/off?bmc_provider=ssh');
  assert.equal(res.status, 200, res.body);
  const [argv] = await argvOf('ssh');
  assert.deepEqual(argv, ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=2', '-l', 'root', '--', 'bmc.example.com', 'shutdown +1']);
});

test('shell: cycle reboots through sudo shutdown after answering', async () => {
  await clearRecords();
  const res = await proxy.request('PUT', '/bmc/localhost/chassis/power/cycle?bmc_provider=shell');
  assert.deepEqual(JSON.parse(res.body), { action: 'cycle', result: true });
  await waitFor('the delayed sudo shutdown', async () => (await argvOf('sudo')).length === 1, 20_000);
  const [argv] = await argvOf('sudo');
  assert.deepEqual(argv, [join(dir, 'bin', 'shutdown'), '-r', 'now', 'Foreman BMC API']);
});
