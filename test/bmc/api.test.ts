// The /bmc HTTP contract that needs no BMC: discovery hints, trailing slashes, JSON body rules
// (415), Basic credentials (401), 501/400 for unsupported operations, provider selection errors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';

let proxy: TestProxy;
const basic = { authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };

before(async () => {
  proxy = await startTestProxy({ files: { bmc: { ':enabled': true, ':bmc_timeout': 5 } } });
});
after(async () => {
  await proxy?.close();
});

async function get(path: string, headers: Record<string, string> = {}) {
  return proxy.request('GET', path, { headers });
}

async function jsonOf(method: string, path: string, opts: { body?: string | Record<string, string>; headers?: Record<string, string> } = {}) {
  const res = await proxy.request(method, path, opts);
  assert.equal(res.status, 200, `${method} ${path}: ${res.body}`);
  assert.match(res.headers['content-type'], /^application\/json/);
  return JSON.parse(res.body) as unknown;
}

test('discovery answers need no provider and no credentials', async () => {
  const cases: Array<[string, string, unknown]> = [
    ['GET', '/bmc', { available_resources: ['providers', 'providers/installed', 'host'] }],
    ['GET', '/bmc/', { available_resources: ['providers', 'providers/installed', 'host'] }],
    ['GET', '/bmc/providers', { providers: ['freeipmi', 'ipmitool', 'redfish', 'ssh', 'shell'] }],
    ['GET', '/bmc/host', { message: 'You need to supply the hostname or ip of the actual bmc device' }],
    ['GET', '/bmc/10.0.0.5', { actions: ['chassis', 'lan', 'test', 'fru', 'bmc', 'sensors'] }],
    ['GET', '/bmc/10.0.0.5/chassis/', { actions: ['power', 'identify', 'config'] }],
    ['GET', '/bmc/10.0.0.5/chassis/power', { actions: ['on', 'off', 'status'] }],
    ['PUT', '/bmc/10.0.0.5/chassis/power/', { actions: ['on', 'off', 'cycle', 'soft', 'reset'] }],
    ['GET', '/bmc/10.0.0.5/chassis/identify', { actions: ['status'] }],
    ['PUT', '/bmc/10.0.0.5/chassis/identify', { actions: ['on', 'off'] }],
    ['GET', '/bmc/10.0.0.5/chassis/config/', { functions: ['bootdevices'] }],
    ['PUT', '/bmc/10.0.0.5/chassis/config', { functions: ['bootdevice'] }],
    ['GET', '/bmc/10.0.0.5/lan', { actions: ['ip', 'netmask', 'mac', 'gateway', 'snmp', 'vlanid', 'ipsrc', 'print'] }],
    ['GET', '/bmc/10.0.0.5/fru', { actions: ['list', 'serial', 'manufacturer', 'model', 'asset_tag'] }],
    ['GET', '/bmc/10.0.0.5/bmc', { actions: ['info', 'guid', 'version'] }],
    ['PUT', '/bmc/10.0.0.5/bmc', { actions: ['reset'] }],
    ['GET', '/bmc/10.0.0.5/sensors', { actions: ['list', 'count', 'names', 'fanlist', 'templist', 'get'] }],
  ];
  for (const [method, path, expected] of cases) assert.deepEqual(await jsonOf(method, path), expected, `${method} ${path}`);
  const installed = (await jsonOf('GET', '/bmc/providers/installed')) as { installed_providers: string[] };
  assert.deepEqual(installed.installed_providers.slice(-3), ['redfish', 'ssh', 'shell']);
  // (the core caches /v2/features for a few seconds; this is the file's first call)
  const v2 = JSON.parse((await get('/v2/features')).body) as { bmc: { capabilities: string[]; settings: unknown; state: string } };
  assert.deepEqual(v2.bmc, { http_enabled: true, https_enabled: true, settings: {}, state: 'running', capabilities: ['freeipmi', 'ipmitool', 'redfish', 'shell', 'ssh'] });
  const head = await proxy.request('HEAD', '/bmc/providers');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('unknown paths and methods get the generic 404', async () => {
  for (const [method, path] of [
    ['PUT', '/bmc/10.0.0.5'],
    ['PUT', '/bmc'],
    ['GET', '/bmc/10.0.0.5/nothing'],
    ['GET', '/bmc/10.0.0.5/chassis/power/on/extra'],
    ['GET', '/bmc/10.0.0.5/test/x'],
    ['DELETE', '/bmc/10.0.0.5/chassis/power/on'],
  ]) {
    const res = await proxy.request(method, path);
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(res.body, 'Requested url was not found');
  }
});

test('IPMI actions need HTTP Basic credentials (401)', async () => {
  const none = await get('/bmc/10.0.0.5/chassis/power/status?bmc_provider=ipmitool');
  assert.equal(none.status, 401);
  assert.equal(none.body, 'unauthorized');
  assert.match(none.headers['content-type'], /^application\/json/);
  const bearer = await get('/bmc/10.0.0.5/chassis/power/status?bmc_provider=redfish', { authorization: 'Bearer abc' });
  assert.equal(bearer.status, 401);
  assert.equal(bearer.body, 'bad_authentication_request, credentials are not in auth.basic format');
  // the PUT boot-device menu with a function needs credentials, without one it does not
  assert.equal((await proxy.request('PUT', '/bmc/10.0.0.5/chassis/config/bootdevice?bmc_provider=ipmitool')).status, 401);
});

test('a JSON body must be an object (415); other content types are ignored', async () => {
  const put = (body: string, type = 'application/json') =>
    proxy.request('PUT', '/bmc/10.0.0.5/chassis/power/cycle', { body, headers: { 'content-type': type, ...basic } });
  const bad = await put('{not json');
  assert.equal(bad.status, 415);
  assert.match(bad.body, /^Invalid JSON content in body of request: /);
  assert.match(bad.headers['content-type'], /^application\/json/);
  const arr = await put('[1,2]');
  assert.equal(arr.status, 415);
  assert.equal(arr.body, 'Invalid JSON content in body of request: data must be a hash, not Array');
  const str = await put('"x"', 'application/json; charset=utf-8');
  assert.equal(str.body, 'Invalid JSON content in body of request: data must be a hash, not String');
  assert.equal((await put('')).status, 415);
  // bmc_provider from the JSON body selects the shell backend (no credentials needed there)
  const shell = await proxy.request('GET', '/bmc/10.0.0.5/chassis/power/status', {
    body: '{"bmc_provider":"SHELL"}',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(shell.status, 200, shell.body);
  assert.deepEqual(JSON.parse(shell.body), { action: 'status', result: 'on' });
  const text = await proxy.request('GET', '/bmc/10.0.0.5/chassis/power/status?bmc_provider=shell', {
    body: '[not json',
    headers: { 'content-type': 'text/plain' },
  });
  assert.equal(text.status, 200);
});

test('shell backend: supported, unsupported (501) and undefined (400) operations', async () => {
  const q = '?bmc_provider=shell';
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/chassis/power/status${q}`), { action: 'status', result: 'on' });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/chassis/power/on${q}`), { action: 'on', result: true });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/chassis/power/off${q}`), { action: 'off', result: false });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/test${q}`), { action: 'test', result: true });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/chassis/power/blah${q}`), { error: 'The action: blah is not a valid action' });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/chassis/config/nope${q}`), { error: 'The action: nope is not a valid function' });
  assert.deepEqual(await jsonOf('PUT', `/bmc/h.example.com/chassis/config/nope/pxe${q}`), { error: 'The action: nope is not a valid function' });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/lan/foo${q}`), { error: 'The action: foo is not a valid action' });
  assert.deepEqual(await jsonOf('PUT', `/bmc/h.example.com/bmc/reset${q}`), { options: 'type=cold|warm' });
  assert.deepEqual(await jsonOf('PUT', `/bmc/h.example.com/bmc/reset${q}&type=hot`), { error: 'The type: hot is not a valid type' });

  for (const [method, path] of [
    ['PUT', '/chassis/power/on'],
    ['PUT', '/chassis/power/off'],
    ['GET', '/chassis/identify/status'],
    ['PUT', '/chassis/identify/on'],
    ['GET', '/chassis/config/bootdevices'],
    ['PUT', '/chassis/config/bootdevice/pxe'],
    ['GET', '/lan/ip'],
    ['GET', '/fru/list'],
    ['GET', '/bmc/info'],
    ['GET', '/sensors/list'],
  ]) {
    const res = await proxy.request(method, `/bmc/h.example.com${path}${q}`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 501, `${method} ${path}`);
    assert.equal(res.body, 'NotImplementedError');
    assert.match(res.headers['content-type'], /^application\/json/); // even for Accept: text/html
  }
  for (const [method, path] of [['PUT', '/chassis/power/reset'], ['PUT', '/bmc/reset?type=cold']]) {
    const res = await proxy.request(method, `/bmc/h.example.com${path}${path.includes('?') ? '&' : '?'}bmc_provider=shell`);
    assert.equal(res.status, 400, `${method} ${path}`);
    assert.match(res.body, /undefined method/);
  }
});

test('ssh backend: unsupported operations are 501, lan ip is the host', async () => {
  const q = '?bmc_provider=ssh';
  assert.equal((await get(`/bmc/h.example.com/test${q}`)).status, 501);
  assert.equal((await get(`/bmc/h.example.com/chassis/power/on${q}`)).status, 501);
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/lan/ip${q}`), { action: 'ip', result: 'h.example.com' });
  assert.deepEqual(await jsonOf('GET', `/bmc/h.example.com/lan/mac${q}`), { action: 'mac', result: '' });
  assert.deepEqual(await jsonOf('PUT', `/bmc/h.example.com/chassis/config/bootdevice/pxe${q}`), { action: 'pxe', result: null });
  assert.equal((await proxy.request('PUT', `/bmc/h.example.com/bmc/reset${q}&type=warm`)).status, 400);
});

test('bad options and credentials are refused with the field named', async () => {
  const driver = await proxy.request('GET', '/bmc/10.0.0.5/chassis/power/status?bmc_provider=ipmitool', {
    body: JSON.stringify({ options: { driver: 'serial' } }),
    headers: { 'content-type': 'application/json', ...basic },
  });
  assert.equal(driver.status, 400);
  assert.match(driver.body, /options\.driver/);
  const priv = await proxy.request('GET', '/bmc/10.0.0.5/chassis/power/status?bmc_provider=ipmitool&options[privilege]=ROOT', { headers: basic });
  assert.equal(priv.status, 400);
  assert.match(priv.body, /options\.privilege/);
  const nl = { authorization: `Basic ${Buffer.from('adm\nin:pw').toString('base64')}` };
  const user = await get('/bmc/10.0.0.5/chassis/power/status?bmc_provider=freeipmi', nl);
  assert.equal(user.status, 400);
  assert.match(user.body, /username/);
  const pwnl = { authorization: `Basic ${Buffer.from('admin:pw\npassword x').toString('base64')}` };
  const pw = await get('/bmc/10.0.0.5/chassis/power/status?bmc_provider=freeipmi', pwnl);
  assert.equal(pw.status, 400);
  assert.match(pw.body, /password/);
});

test('without ipmitool and FreeIPMI on PATH, IPMI requests are 400 and only the others are installed', async () => {
  const saved = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    const res = await get('/bmc/10.0.0.5/chassis/power/status?bmc_provider=ipmitool', basic);
    assert.equal(res.status, 400);
    assert.equal(res.body, 'No BMC providers are installed, please install at least freeipmi or ipmitool');
    assert.deepEqual(await jsonOf('GET', '/bmc/providers/installed'), { installed_providers: ['redfish', 'ssh', 'shell'] });
  } finally {
    process.env.PATH = saved;
  }
});
