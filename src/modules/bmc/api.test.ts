// /bmc routes in-process (fastify inject) with a fake backend: menus, actions, statuses, error
// bodies and their content type, the error policy, unknown paths, settings ranges. The request
// set-up rules that need no BMC (401, 415, bad host) run through the real set-up.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import { silentLogger } from '../../core/logging.ts';
import bmc from './module.ts';
import { bmcModule } from './api.ts';
import { BmcError } from './errors.ts';
import { BmcBackend, type BootDevice, type BootOptions, type SensorReading } from './provider.ts';

class FakeBackend extends BmcBackend {
  readonly name = 'fake';
  readonly calls: string[] = [];
  failure: Error | undefined;
  /** Holds every power status call until released (bulkhead test). */
  gate: Promise<void> | undefined;
  closed = 0;

  private async answer<T>(call: string, value: T): Promise<T> {
    this.calls.push(call);
    if (this.gate) await this.gate;
    if (this.failure) throw this.failure;
    return value;
  }
  override close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
  override test(): Promise<unknown> {
    return this.answer('test', true);
  }
  override powerStatus(): Promise<unknown> {
    return this.answer('powerStatus', 'off');
  }
  override powerCycle(): Promise<unknown> {
    return this.answer('powerCycle', true);
  }
  override identifyOn(): Promise<unknown> {
    return this.answer('identifyOn', true);
  }
  override bootDevices(): Promise<unknown> {
    return this.answer('bootDevices', ['pxe', 'disk']);
  }
  override setBootDevice(device: BootDevice, options: BootOptions): Promise<unknown> {
    return this.answer(`setBootDevice ${device} reboot=${options.reboot} persistent=${options.persistent}`, true);
  }
  override bmcReset(type: 'cold' | 'warm'): Promise<unknown> {
    return this.answer(`bmcReset ${type}`, true);
  }
  override bmcGuid(): Promise<unknown> {
    return this.answer('bmcGuid', undefined);
  }
  override sensors(): Promise<Record<string, SensorReading>> {
    return this.answer('sensors', {
      fan_1: { name: 'Fan 1', value: '1200', unit: 'RPM', status: 'ok' },
      cpu_temp: { name: 'CPU Temp', value: '40', unit: 'degrees C', status: 'ok' },
      inlet: { name: 'Inlet', value: '21', unit: 'degrees C', status: 'ok' },
    });
  }
}

async function mounted(t: TestContext, settings: Record<string, unknown> = {}) {
  const fake = new FakeBackend();
  const hosts: string[] = [];
  const def = {
    ...bmc,
    create: (ctx: Parameters<typeof bmc.create>[0]) =>
      bmcModule(ctx, {
        backendFor: async (_request, host) => {
          hosts.push(host);
          return fake;
        },
      }),
  };
  const m = await mountModule(def, { settings }, t);
  return { ...m, fake, hosts };
}

function assertJson(res: { statusCode: number; headers: Record<string, unknown>; body: string }, status: number, body: string, what = ''): void {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  assert.equal(res.body, body, what);
  assert.equal(res.headers['content-type'], 'application/json', what);
}

test('menus answer the reference JSON without a backend; unknown paths and methods are the generic 404', async (t) => {
  const { app, fake } = await mounted(t);
  const menus: Array<[string, string, string]> = [
    ['GET', '/bmc', '{"available_resources":["providers","providers/installed","host"]}'],
    ['GET', '/bmc/', '{"available_resources":["providers","providers/installed","host"]}'],
    ['GET', '/bmc/providers', '{"providers":["freeipmi","ipmitool","redfish","ssh","shell"]}'],
    ['GET', '/bmc/host', '{"message":"You need to supply the hostname or ip of the actual bmc device"}'],
    ['GET', '/bmc/10.0.0.5', '{"actions":["chassis","lan","test","fru","bmc","sensors"]}'],
    ['GET', '/bmc/10.0.0.5/chassis/', '{"actions":["power","identify","config"]}'],
    ['GET', '/bmc/10.0.0.5/chassis/power', '{"actions":["on","off","status"]}'],
    ['PUT', '/bmc/10.0.0.5/chassis/power/', '{"actions":["on","off","cycle","soft","reset"]}'],
    ['GET', '/bmc/10.0.0.5/chassis/identify', '{"actions":["status"]}'],
    ['PUT', '/bmc/10.0.0.5/chassis/identify', '{"actions":["on","off"]}'],
    ['GET', '/bmc/10.0.0.5/chassis/config', '{"functions":["bootdevices"]}'],
    ['PUT', '/bmc/10.0.0.5/chassis/config', '{"functions":["bootdevice"]}'],
    ['GET', '/bmc/10.0.0.5/lan', '{"actions":["ip","netmask","mac","gateway","snmp","vlanid","ipsrc","print"]}'],
    ['GET', '/bmc/10.0.0.5/fru', '{"actions":["list","serial","manufacturer","model","asset_tag"]}'],
    ['GET', '/bmc/10.0.0.5/bmc', '{"actions":["info","guid","version"]}'],
    ['PUT', '/bmc/10.0.0.5/bmc/', '{"actions":["reset"]}'],
    ['GET', '/bmc/10.0.0.5/sensors', '{"actions":["list","count","names","fanlist","templist","get"]}'],
    // `host` and `providers` are only reserved at the top level
    ['GET', '/bmc/host/chassis', '{"actions":["power","identify","config"]}'],
    ['GET', '/bmc/providers/lan', '{"actions":["ip","netmask","mac","gateway","snmp","vlanid","ipsrc","print"]}'],
  ];
  for (const [method, url, body] of menus) assertJson(await app.inject({ method, url }), 200, body, `${method} ${url}`);
  const installed = await app.inject({ method: 'GET', url: '/bmc/providers/installed' });
  assert.equal(installed.headers['content-type'], 'application/json');
  assert.deepEqual((JSON.parse(installed.body) as { installed_providers: string[] }).installed_providers.slice(-3), ['redfish', 'ssh', 'shell']);
  const head = await app.inject({ method: 'HEAD', url: '/bmc/providers' });
  assertAnswer(head, 200, '');

  for (const [method, url] of [
    ['PUT', '/bmc'],
    ['PUT', '/bmc/10.0.0.5'],
    ['PUT', '/bmc/providers'],
    ['PUT', '/bmc/providers/installed'],
    ['GET', '/bmc/providers/installed/x'],
    ['GET', '/bmc/10.0.0.5/nothing'],
    ['GET', '/bmc/10.0.0.5/chassis/nothing'],
    ['GET', '/bmc/10.0.0.5/chassis/power/on/extra'],
    ['GET', '/bmc/10.0.0.5/test/x'],
    ['GET', '/bmc/10.0.0.5/lan/ip/x'],
    ['PUT', '/bmc/10.0.0.5/chassis/config/bootdevice/pxe/x'],
    ['GET', '/bmc//chassis'],
    ['GET', '/bmc//test'],
    ['PUT', '/bmc/10.0.0.5/chassis/power//'],
    ['DELETE', '/bmc/10.0.0.5/chassis/power/on'],
  ] as const) {
    assertJson(await app.inject({ method, url }), 404, 'Requested url was not found', `${method} ${url}`);
  }
  assert.deepEqual(fake.calls, []);
});

test('actions reach the backend for the host in the path and answer {action, result}', async (t) => {
  const { app, fake, hosts } = await mounted(t);
  const cases: Array<[string, string, string]> = [
    ['GET', '/bmc/bmc1.example.com/test', '{"action":"test","result":true}'],
    ['GET', '/bmc/bmc1.example.com/chassis/power/status', '{"action":"status","result":"off"}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/power/cycle/', '{"action":"cycle","result":true}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/identify/on', '{"action":"on","result":true}'],
    ['GET', '/bmc/bmc1.example.com/chassis/config/bootdevices', '{"devices":["pxe","disk"]}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/config/bootdevice', '{"actions":["pxe","disk","bios","cdrom"],"options":["reboot=true|false","persistent=true|false"]}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/config/bootdevice/uefipxe?reboot=false', '{"action":"uefipxe","result":true}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/config/bootdevice/floppy', '{"error":"floppy is not a valid boot device"}'],
    ['PUT', '/bmc/bmc1.example.com/bmc/reset', '{"options":"type=cold|warm"}'],
    ['PUT', '/bmc/bmc1.example.com/bmc/reset?type=warmish', '{"action":"reset","result":true}'],
    ['PUT', '/bmc/bmc1.example.com/bmc/reset?type=hot', '{"error":"The type: hot is not a valid type"}'],
    ['GET', '/bmc/bmc1.example.com/bmc/guid', '{"action":"guid","result":null}'],
    ['GET', '/bmc/bmc1.example.com/sensors/count', '{"action":"count","result":3}'],
    ['GET', '/bmc/bmc1.example.com/sensors/names', '{"action":"names","result":["fan_1","cpu_temp","inlet"]}'],
    ['GET', '/bmc/bmc1.example.com/sensors/templist', '{"action":"templist","result":{"cpu_temp":{"name":"CPU Temp","value":"40","unit":"degrees C","status":"ok"},"inlet":{"name":"Inlet","value":"21","unit":"degrees C","status":"ok"}}}'],
    ['GET', '/bmc/bmc1.example.com/sensors/get', '{"options":"sensor=<name>"}'],
    ['GET', '/bmc/bmc1.example.com/sensors/get/CPU%20Temp', '{"action":"get","result":{"name":"CPU Temp","value":"40","unit":"degrees C","status":"ok"}}'],
    ['GET', '/bmc/bmc1.example.com/sensors/get/nothing', '{"action":"get","result":null}'],
    // unknown actions are answered 200 once the backend is set up
    ['GET', '/bmc/bmc1.example.com/chassis/power/blah', '{"error":"The action: blah is not a valid action"}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/power/blah', '{"error":"The action: blah is not a valid action"}'],
    ['GET', '/bmc/bmc1.example.com/chassis/identify/on', '{"error":"The action: on is not a valid action"}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/identify/blink', '{"error":"The action:  is not a valid function"}'],
    ['GET', '/bmc/bmc1.example.com/chassis/config/nope', '{"error":"The action: nope is not a valid function"}'],
    ['PUT', '/bmc/bmc1.example.com/chassis/config/nope/pxe', '{"error":"The action: nope is not a valid function"}'],
    ['GET', '/bmc/bmc1.example.com/lan/foo', '{"error":"The action: foo is not a valid action"}'],
    ['GET', '/bmc/bmc1.example.com/fru/foo', '{"error":"The action: foo is not a valid action"}'],
    ['GET', '/bmc/bmc1.example.com/bmc/foo', '{"error":"The action: foo is not a valid action"}'],
    ['PUT', '/bmc/bmc1.example.com/bmc/foo', '{"error":"The action: foo is not a valid action"}'],
    ['GET', '/bmc/bmc1.example.com/sensors/foo/bar', '{"error":"The action: foo is not a valid action"}'],
  ];
  for (const [method, url, body] of cases) assertJson(await app.inject({ method, url }), 200, body, `${method} ${url}`);
  assert.ok(hosts.every((h) => h === 'bmc1.example.com'));
  assert.equal(fake.closed, hosts.length, 'every backend is closed after its request');
  assert.ok(fake.calls.includes('setBootDevice pxe reboot=true persistent=false'), 'reboot=false is truthy, as in the reference');
  assert.ok(fake.calls.includes('bmcReset warm'));
});

test('a percent-encoded prefix or host is routed on the decoded path', async (t) => {
  const { app, hosts } = await mounted(t);
  // Here `test` is the host: the menu of /bmc/test, no backend.
  assertJson(await app.inject({ method: 'GET', url: '/%62mc/test' }), 200, '{"actions":["chassis","lan","test","fru","bmc","sensors"]}');
  assertJson(await app.inject({ method: 'GET', url: '/%62mc/bmc1.example.com/chassis/power/status' }), 200, '{"action":"status","result":"off"}');
  assertJson(await app.inject({ method: 'GET', url: '/bmc/bmc%31.example.com/test' }), 200, '{"action":"test","result":true}');
  assert.deepEqual(hosts, ['bmc1.example.com', 'bmc1.example.com']);
});

test('error policy: 501 NotImplementedError, 400 for undefined operations and BMC failures, table statuses, all application/json', async (t) => {
  const { app, fake } = await mounted(t);
  const html = { accept: 'text/html' };
  // The base class's defaults: unsupported, and undefined in the reference.
  assertJson(await app.inject({ method: 'GET', url: '/bmc/h/fru/list', headers: html }), 501, 'NotImplementedError');
  assertJson(await app.inject({ method: 'PUT', url: '/bmc/h/chassis/power/reset', headers: html }), 400, "undefined method 'powerreset' for the fake BMC provider");

  fake.failure = BmcError.failed('ipmitool: Unable to establish IPMI v2 / RMCP+ session');
  assertJson(await app.inject({ method: 'GET', url: '/bmc/h/chassis/power/status' }), 400, 'ipmitool: Unable to establish IPMI v2 / RMCP+ session');
  fake.failure = BmcError.unauthorized('unauthorized');
  assertJson(await app.inject({ method: 'GET', url: '/bmc/h/chassis/power/status', headers: html }), 401, 'unauthorized');

  // An unexpected error is 400 with its message, logged once.
  const logged = t.mock.method(silentLogger, 'error');
  fake.failure = new TypeError("Cannot read properties of undefined (reading 'x')");
  assertJson(await app.inject({ method: 'GET', url: '/bmc/h/chassis/power/status' }), 400, "Cannot read properties of undefined (reading 'x')");
  assert.equal(logged.mock.callCount(), 1);
  assert.equal(logged.mock.calls[0].arguments[0], "Cannot read properties of undefined (reading 'x')");
  fake.failure = new Error('');
  assertJson(await app.inject({ method: 'GET', url: '/bmc/h/chassis/power/status' }), 400, 'Error');
  assert.equal(logged.mock.callCount(), 2);
});

test('past bmc_max_concurrent and its queue, BMC requests get 503 with Retry-After', async (t) => {
  const { app, fake } = await mounted(t, { bmc_max_concurrent: 1 });
  let release = (): void => undefined;
  fake.gate = new Promise<void>((r) => (release = r));
  const held = Array.from({ length: 5 }, () => app.inject({ method: 'GET', url: '/bmc/h/chassis/power/status' }));
  while (fake.calls.length < 1) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  const refused = await app.inject({ method: 'GET', url: '/bmc/h/chassis/power/status' });
  assertJson(refused, 503, 'bmc: too many concurrent requests, try again later');
  assert.equal(refused.headers['retry-after'], '5');
  release();
  for (const res of await Promise.all(held)) assert.equal(res.statusCode, 200);
});

test('the real request set-up: 401 without Basic credentials, 415 for a JSON body that is not an object, 400 for a bad host', async () => {
  const { app, instance, close } = await mountModule(bmc);
  try {
    const basic = { authorization: `Basic ${Buffer.from('admin:secret').toString('base64')}` };
    assertJson(await app.inject({ method: 'GET', url: '/bmc/10.0.0.5/chassis/power/status?bmc_provider=redfish' }), 401, 'unauthorized');
    assertJson(
      await app.inject({ method: 'GET', url: '/bmc/10.0.0.5/chassis/power/status?bmc_provider=redfish', headers: { authorization: 'Bearer x' } }),
      401,
      'bad_authentication_request, credentials are not in auth.basic format',
    );
    assertJson(
      await app.inject({ method: 'PUT', url: '/bmc/10.0.0.5/chassis/power/cycle', headers: { 'content-type': 'application/json', ...basic }, payload: '[1]' }),
      415,
      'Invalid JSON content in body of request: data must be a hash, not Array',
    );
    assertJson(
      await app.inject({ method: 'GET', url: '/bmc/-oProxyCommand=x/chassis/power/status?bmc_provider=redfish', headers: basic }),
      400,
      'Invalid BMC host "-oProxyCommand=x": expected a host name or IP address',
    );
    // The shell backend needs no credentials and answers power status without running anything.
    assertJson(
      await app.inject({ method: 'GET', url: '/bmc/h.example.com/chassis/power/status', headers: { 'content-type': 'application/json' }, payload: '{"bmc_provider":"SHELL"}' }),
      200,
      '{"action":"status","result":"on"}',
    );
    const caps = await instance.capabilities?.();
    assert.ok(Array.isArray(caps) && caps.every((c) => c === 'freeipmi' || c === 'ipmitool'));
  } finally {
    await close();
  }
});

test('settings: ranges and patterns fail the module naming the key', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ bmc_timeout: 99 }, /^Error: bmc: bmc_timeout must be a whole number of seconds between 1 and 55, got 99$/],
    [{ bmc_timeout: 0 }, /bmc_timeout must be a whole number of seconds between 1 and 55, got 0/],
    [{ bmc_ipmi_cipher_suite: 18 }, /bmc_ipmi_cipher_suite must be a whole number between 0 and 17, got 18/],
    [{ bmc_max_concurrent: 0 }, /bmc_max_concurrent must be a whole number of at least 1, got 0/],
    [{ bmc_freeipmi_workaround_flags: 'opensesspriv; reboot' }, /bmc_freeipmi_workaround_flags must match/],
  ];
  for (const [settings, message] of cases) await assert.rejects(mountModule(bmc, { settings }), message, JSON.stringify(settings));
  const ok = await mountModule(bmc, { settings: { bmc_timeout: '55', bmc_ipmi_cipher_suite: 0, bmc_freeipmi_workaround_flags: 'opensesspriv,authcap' } });
  await ok.close();
});
