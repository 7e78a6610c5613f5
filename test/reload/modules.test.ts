// Reload in process (RunningProxy.reload, what SIGHUP calls): only the modules whose inputs changed
// are recreated, in-flight requests finish on the instance that accepted them, a bad file changes
// nothing, modules enabled or disabled appear in or leave /features, reloads run one at a time.
// Besides the real tftp and logs modules, a `probe` module defined here (and `probe_user`, which
// requires it) shows which instance answered and when it was closed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { startProxy, type RunningProxy } from '../../src/core/runtime.ts';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { discoverCatalogue } from '../../src/core/registry.ts';
import { defineModule, type ModuleDefinition } from '../../src/core/module.ts';
import * as setting from '../../src/core/settings/schema.ts';
import { tempDir, removeDir, waitFor, freeUdpTcpPort } from '../lib/procs.ts';
import { tftpGet } from '../../src/lib/tftp/client.ts';

interface ProbeInstance {
  readonly serial: number;
  readonly greeting: string;
  closed: boolean;
}

const probes: ProbeInstance[] = [];
/** Requests to /probe/slow wait for this to be called. */
let releaseSlow: () => void = () => undefined;
let slowGate = Promise.resolve();
let slowArrived = 0;

const probe = defineModule({
  name: 'probe',
  summary: 'reload test module',
  prefixes: ['/probe'],
  audience: 'foreman',
  authorize: false,
  settings: setting.settings({ greeting: setting.string({ default: 'hello', description: 'answered by GET /probe' }) }),
  exposedSettings: ['greeting'],
  create: (ctx) => {
    if (ctx.settings.greeting === 'fail') throw new Error('probe cannot start with greeting fail');
    const me: ProbeInstance = { serial: probes.length + 1, greeting: ctx.settings.greeting, closed: false };
    probes.push(me);
    return {
      exports: me,
      routes: (app) => {
        app.get('/', async () => ({ greeting: me.greeting, serial: me.serial }));
        app.get('/slow', async () => {
          slowArrived++;
          await slowGate;
          return { greeting: me.greeting, serial: me.serial, closedWhileAnswering: me.closed };
        });
      },
      close: () => {
        me.closed = true;
      },
    };
  },
});

const probeUsers: { probe: ProbeInstance }[] = [];
const probeUser = defineModule({
  name: 'probe_user',
  summary: 'requires probe',
  prefixes: ['/probe_user'],
  audience: 'foreman',
  authorize: false,
  requires: ['probe'],
  settings: setting.EMPTY_SETTINGS,
  create: async (ctx) => {
    const user = { probe: await ctx.dependency<ProbeInstance>('probe') };
    probeUsers.push(user);
    return { routes: (app) => void app.get('/', async () => ({ probe: user.probe.serial })) };
  },
});

let dir: string;
let proxy: RunningProxy;
let base: string;

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await request(`${base}${path}`);
  return { status: res.statusCode, body: await res.body.text() };
}

async function features(): Promise<string[]> {
  return JSON.parse((await get('/features')).body) as string[];
}

async function writeModule(name: string, text: string): Promise<void> {
  await writeFile(join(dir, 'settings.d', `${name}.yml`), text);
}

async function logText(): Promise<string> {
  await proxy.logSink.flush();
  return readFile(join(dir, 'proxy.log'), 'utf8');
}

const GLOBAL = (): Record<string, unknown> => ({ bind_host: ['127.0.0.1'], http_port: 0, log_file: join(dir, 'proxy.log'), log_level: 'DEBUG' });

before(async () => {
  dir = await tempDir('sp-reload');
  await mkdir(join(dir, 'tftproot'));
  await writeSettingsDir(dir, GLOBAL(), {
    probe: ':enabled: true\n:greeting: hello\n',
    probe_user: ':enabled: true\n',
    tftp: `:enabled: true\n:tftproot: ${join(dir, 'tftproot')}\n:tftp_servername: 192.0.2.1\n`,
    logs: ':enabled: true\n',
  });
  const catalogue = await discoverCatalogue();
  catalogue.modules.set('probe', probe as unknown as ModuleDefinition);
  catalogue.modules.set('probe_user', probeUser as unknown as ModuleDefinition);
  proxy = await startProxy({ settingsDir: dir, catalogue, only: ['probe', 'probe_user', 'tftp', 'logs'] });
  const a = proxy.listeners[0].addresses[0];
  base = `http://${a.host}:${a.port}`;
});

after(async () => {
  await proxy?.close(2000);
  if (dir) await removeDir(dir);
});

test('a changed module is recreated with its dependents, the others kept; a request in flight finishes on the instance that accepted it', async () => {
  const tftpBefore = proxy.records.get('tftp')?.instance;
  const logsBefore = proxy.records.get('logs')?.instance;
  const first = probes.at(-1) as ProbeInstance;
  assert.equal(JSON.parse((await get('/probe')).body).greeting, 'hello');

  slowGate = new Promise((resolve) => (releaseSlow = resolve));
  const inFlight = get('/probe/slow');
  await waitFor('the slow request to reach the probe', () => slowArrived === 1);
  await writeModule('probe', ':enabled: true\n:greeting: bonjour\n');
  const reloading = proxy.reload();
  // The new application serves new requests while the old one still holds the slow request.
  await waitFor('the new probe to answer', async () => JSON.parse((await get('/probe')).body).greeting === 'bonjour');
  assert.equal(first.closed, false, 'the old probe is closed only once its requests finished');
  releaseSlow();
  const slow = JSON.parse((await inFlight).body);
  assert.deepEqual(slow, { greeting: 'hello', serial: first.serial, closedWhileAnswering: false });

  const result = await reloading;
  assert.equal(result.ok, true);
  assert.deepEqual(result.modules.recreated.sort(), ['probe', 'probe_user']);
  assert.deepEqual(result.modules.kept.sort(), ['logs', 'tftp']);
  assert.equal(first.closed, true);
  assert.equal(proxy.records.get('tftp')?.instance, tftpBefore, 'tftp keeps its instance');
  assert.equal(proxy.records.get('logs')?.instance, logsBefore, 'logs keeps its instance');
  // probe_user was recreated around the new probe.
  assert.equal(JSON.parse((await get('/probe_user')).body).probe, (probes.at(-1) as ProbeInstance).serial);
  const v2 = JSON.parse((await get('/v2/features')).body) as Record<string, { settings: Record<string, unknown> }>;
  assert.equal(v2.probe.settings.greeting, 'bonjour');
  assert.match(await logText(), /Reloaded: 2 module\(s\) recreated \[probe, probe_user\], 0 started \[\], 0 stopped \[\], 2 kept \[logs, tftp\], 0 failed \[\]/);
});

test('a reload with unchanged files keeps every instance', async () => {
  const before = new Map([...proxy.records].map(([name, r]) => [name, r.instance]));
  const result = await proxy.reload();
  assert.equal(result.ok, true);
  assert.deepEqual(result.modules.recreated, []);
  for (const [name, r] of proxy.records) assert.equal(r.instance, before.get(name), `${name} keeps its instance`);
  // The log buffer survived the reloads: /logs still has the start-up lines.
  const logs = await get('/logs');
  assert.equal(logs.status, 200);
  assert.match(logs.body, /Smart proxy has launched/);
  assert.match(logs.body, /Reloaded: /);
});

test('a module disabled by reload leaves /features and is closed; enabled again, it is back', async () => {
  const tftp = proxy.records.get('tftp')?.instance;
  assert.ok((await features()).includes('tftp'));
  await writeModule('tftp', ':enabled: false\n');
  const off = await proxy.reload();
  assert.deepEqual(off.modules.stopped, ['tftp']);
  assert.ok(!(await features()).includes('tftp'));
  assert.equal((await get('/tftp/serverName')).status, 404);
  assert.equal(proxy.records.get('tftp')?.state, 'disabled');

  await writeModule('tftp', `:enabled: true\n:tftproot: ${join(dir, 'tftproot')}\n:tftp_servername: 192.0.2.9\n`);
  const on = await proxy.reload();
  assert.deepEqual(on.modules.started, ['tftp']);
  assert.ok((await features()).includes('tftp'));
  assert.notEqual(proxy.records.get('tftp')?.instance, tftp);
  assert.deepEqual(JSON.parse((await get('/tftp/serverName')).body), { serverName: '192.0.2.9' });
});

test('a bad file on reload changes nothing; the log names the file and the key', async () => {
  const probeNow = probes.at(-1) as ProbeInstance;
  const cases: { file: string; text: string; expect: RegExp }[] = [
    { file: join(dir, 'settings.d', 'probe.yml'), text: ':enabled: true\n:greeting: [unclosed\n', expect: /probe\.yml/ },
    { file: join(dir, 'settings.d', 'tftp.yml'), text: `:enabled: true\n:tftproot: ${join(dir, 'tftproot')}\n:tftp_connect_timeout: 0\n`, expect: /tftp\.yml: tftp_connect_timeout: / },
    { file: join(dir, 'settings.yml'), text: `---\n:http_port: 0\n:bind_host: ['127.0.0.1']\n:log_buffer: 1\n:log_file: ${join(dir, 'proxy.log')}\n`, expect: /settings\.yml: log_buffer: must be greater than 1/ },
  ];
  for (const c of cases) {
    const good = await readFile(c.file, 'utf8');
    await writeFile(c.file, c.text);
    try {
      const instances = new Map([...proxy.records].map(([name, r]) => [name, r.instance]));
      const result = await proxy.reload();
      assert.equal(result.ok, false);
      assert.match(result.error ?? '', c.expect);
      assert.ok((result.error ?? '').includes(c.file), `the error names ${c.file}: ${result.error}`);
      const log = await logText();
      const line = log.split('\n').findLast((l) => l.includes('Reload refused, nothing changed')) ?? '';
      assert.ok(line.includes(c.file), `logged with the file: ${line}`);
      assert.match(line, c.expect);
      for (const [name, r] of proxy.records) assert.equal(r.instance, instances.get(name), `${name} unchanged`);
      assert.deepEqual(JSON.parse((await get('/probe')).body), { greeting: probeNow.greeting, serial: probeNow.serial });
      assert.ok((await features()).includes('tftp'));
    } finally {
      await writeFile(c.file, good);
    }
  }
});

test('a module whose new settings fail at creation is failed, its dependents too; the others keep running', async () => {
  await writeModule('probe', ':enabled: true\n:greeting: fail\n');
  const result = await proxy.reload();
  assert.equal(result.ok, true);
  assert.deepEqual(result.modules.failed.sort(), ['probe', 'probe_user']);
  assert.equal(proxy.records.get('probe')?.state, 'failed');
  assert.match(proxy.failedModules.probe, /probe cannot start with greeting fail/);
  const now = await features();
  assert.ok(!now.includes('probe') && now.includes('tftp') && now.includes('logs'));
  assert.equal((await get('/probe')).status, 404);

  await writeModule('probe', ':enabled: true\n:greeting: hello again\n');
  const back = await proxy.reload();
  assert.deepEqual(back.modules.started.sort(), ['probe', 'probe_user']);
  assert.equal(proxy.failedModules.probe, undefined);
  assert.equal(JSON.parse((await get('/probe')).body).greeting, 'hello again');
});

test('global settings: trusted_hosts applies to new requests; a port change waits for a restart, the rest applies', async () => {
  const port = proxy.listeners[0].addresses[0].port;
  const settings = join(dir, 'settings.yml');
  const good = await readFile(settings, 'utf8');
  try {
    await writeFile(settings, `${good}:trusted_hosts: []\n`);
    assert.equal((await proxy.reload()).ok, true);
    assert.equal((await get('/v2/features')).status, 403);
    await writeFile(settings, good.replace(/http_port: 0/, 'http_port: 1'));
    const moved = await proxy.reload();
    assert.equal(moved.ok, true);
    assert.deepEqual(moved.needsRestart, ['http_port']);
    assert.equal(proxy.listeners[0].addresses[0].port, port);
    assert.equal((await get('/v2/features')).status, 200, 'trusted_hosts is gone again');
    assert.match(await logText(), /Reload: 'http_port' changed, which needs a restart/);
  } finally {
    await writeFile(settings, good);
    await proxy.reload();
  }
});

test('reloads asked for during a reload run one more time after it, not once each', async () => {
  const log = async (): Promise<number> => (await logText()).split('\n').filter((l) => l.includes('Reloading the settings from')).length;
  const before = await log();
  const a = proxy.reload();
  const b = proxy.reload();
  const c = proxy.reload();
  assert.notEqual(a, b);
  assert.equal(b, c);
  const results = await Promise.all([a, b, c]);
  assert.ok(results.every((r) => r.ok));
  assert.equal((await log()) - before, 2);
});

test('a module serving outside HTTP (the built-in TFTP server) is restarted on the same port: the new instance starts once the old one closed', async () => {
  const port = await freeUdpTcpPort();
  const root = join(dir, 'tftproot');
  await writeFile(join(root, 'hello.txt'), 'hi\n');
  const tftpFile = (servername: string): string =>
    `:enabled: true\n:tftproot: ${root}\n:tftp_servername: ${servername}\n:builtin_server: true\n:builtin_server_bind: 127.0.0.1\n:builtin_server_port: ${port}\n`;
  const fetchHello = async (patience: { retransmitMs?: number; retries?: number } = {}): Promise<string> => {
    const chunks: Buffer[] = [];
    await tftpGet({ host: '127.0.0.1', port, filename: 'hello.txt', sink: (c) => chunks.push(Buffer.from(c)), ...patience });
    return Buffer.concat(chunks).toString();
  };
  await writeModule('tftp', tftpFile('192.0.2.20'));
  const started = await proxy.reload();
  assert.deepEqual(started.modules.recreated, ['tftp']);
  assert.equal(await fetchHello(), 'hi\n');

  await writeModule('tftp', tftpFile('192.0.2.21'));
  const again = await proxy.reload();
  assert.deepEqual(again.modules.recreated, ['tftp']);
  assert.deepEqual(again.modules.failed, []);
  assert.equal(proxy.records.get('tftp')?.state, 'running');
  assert.equal(await fetchHello(), 'hi\n');
  assert.deepEqual(JSON.parse((await get('/tftp/serverName')).body), { serverName: '192.0.2.21' });

  await writeModule('tftp', ':enabled: false\n');
  assert.deepEqual((await proxy.reload()).modules.stopped, ['tftp']);
  await assert.rejects(fetchHello({ retransmitMs: 200, retries: 2 }));
});
