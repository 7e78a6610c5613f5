// BMC module with bmc_provider=redfish against a stand-in Redfish service (no Redfish BMC can run
// here): power, identify, boot override, LAN, FRU and manager data, vendor variants, TLS
// verification, pooled connections and the deadline.

import { test as baseTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { createHttpClient } from '../../src/lib/http/client.ts';
import { RedfishBackend } from '../../src/modules/bmc/backends/redfish/backend.ts';
import { Deadline } from '../../src/modules/bmc/backends/deadline.ts';
import { startRedfishStandIn, type RedfishStandIn } from './redfish-standin.ts';

const USER = 'root';
const PASS = 'calvin pass:word';
const auth = { authorization: `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}` };

let bmc: RedfishStandIn;
let proxy: TestProxy;
let host: string;

// Every test here runs against the stand-in, and its name says so.
const test = (name: string, fn: () => Promise<void>): void => void baseTest(`${name} (stand-in Redfish service)`, fn);

before(async () => {
  bmc = await startRedfishStandIn({ user: USER, password: PASS });
  host = `127.0.0.1:${bmc.port}`;
  proxy = await startTestProxy({ files: { bmc: { ':enabled': true, ':redfish_verify_ssl': false, ':bmc_timeout': 5 } } });
});

after(async () => {
  await proxy?.close();
  await bmc?.close();
});

async function call(method: string, path: string, headers: Record<string, string> = auth, body?: Record<string, string>) {
  const sep = path.includes('?') ? '&' : '?';
  return proxy.request(method, `/bmc/${host}${path}${sep}bmc_provider=redfish`, { headers, body });
}

async function json(method: string, path: string, body?: Record<string, string>): Promise<unknown> {
  const res = await call(method, path, auth, body);
  assert.equal(res.status, 200, `${method} ${path}: ${res.body}`);
  return JSON.parse(res.body);
}

test('power status and actions change the Redfish system', async () => {
  assert.deepEqual(await json('GET', '/chassis/power/status'), { action: 'status', result: 'on' });
  assert.deepEqual(await json('GET', '/chassis/power/on'), { action: 'on', result: true });
  assert.deepEqual(await json('PUT', '/chassis/power/off', { action: 'off' }), { action: 'off', result: true });
  assert.equal(bmc.state.PowerState, 'Off');
  assert.deepEqual(await json('GET', '/chassis/power/off'), { action: 'off', result: true });
  assert.deepEqual(await json('PUT', '/chassis/power/on'), { action: 'on', result: true });
  assert.equal(bmc.state.PowerState, 'On');
  await json('PUT', '/chassis/power/soft');
  await json('PUT', '/chassis/power/cycle');
  assert.deepEqual(bmc.state.resets, ['ForceOff', 'On', 'GracefulShutdown', 'ForceRestart']);
  // the reference's Redfish backend has no power reset
  const reset = await call('PUT', '/chassis/power/reset');
  assert.equal(reset.status, 400);
});

test('identify, boot override, LAN, FRU and manager values', async () => {
  assert.deepEqual(await json('PUT', '/chassis/identify/on'), { action: 'on', result: true });
  assert.equal(bmc.state.IndicatorLED, 'Lit');
  assert.deepEqual(await json('GET', '/chassis/identify/status'), { action: 'status', result: 'lit' });
  await json('PUT', '/chassis/identify/off');
  assert.equal(bmc.state.IndicatorLED, 'Off');

  assert.deepEqual(await json('PUT', '/chassis/config/bootdevice/pxe', { function: 'bootdevice', device: 'pxe' }), { action: 'pxe', result: true });
  assert.deepEqual(bmc.state.Boot, { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' });
  await json('PUT', '/chassis/config/bootdevice/cdrom?persistent=true');
  assert.deepEqual(bmc.state.Boot, { BootSourceOverrideTarget: 'Cd', BootSourceOverrideEnabled: 'Continuous' });
  const resetsBefore = bmc.state.resets.length;
  await json('PUT', '/chassis/config/bootdevice/bios', { reboot: 'true' });
  assert.deepEqual(bmc.state.Boot, { BootSourceOverrideTarget: 'BiosSetup', BootSourceOverrideEnabled: 'Once' });
  assert.deepEqual(bmc.state.resets.slice(resetsBefore), ['ForceRestart']);
  await json('PUT', '/chassis/config/bootdevice/disk');
  assert.equal(bmc.state.Boot.BootSourceOverrideTarget, 'Hdd');
  assert.deepEqual(await json('GET', '/chassis/config/bootdevices'), { devices: ['pxe', 'disk', 'bios', 'cdrom'] });

  const lan: Record<string, unknown> = { ip: '192.0.2.60', netmask: '255.255.255.0', gateway: '192.0.2.1', mac: '52:54:00:ab:cd:ef', ipsrc: 'DHCP', vlanid: 42 };
  for (const [k, v] of Object.entries(lan)) assert.deepEqual(await json('GET', `/lan/${k}`), { action: k, result: v });
  const fru: Record<string, string> = { model: 'StandIn 3000', serial: 'SR-0042', asset_tag: 'ASSET-7', manufacturer: 'Contoso' };
  for (const [k, v] of Object.entries(fru)) assert.deepEqual(await json('GET', `/fru/${k}`), { action: k, result: v });
  assert.deepEqual(await json('GET', '/bmc/guid'), { action: 'guid', result: '3f0e2a52-1c1d-4c55-9d3c-5a1e3b0c7d11' });
  assert.deepEqual(await json('GET', '/bmc/version'), { action: 'version', result: '2.81.81.81' });
  assert.deepEqual(await json('PUT', '/bmc/reset?type=warm'), { action: 'reset', result: true });
  assert.deepEqual(bmc.state.managerResets, ['GracefulRestart']);
  assert.deepEqual(await json('GET', '/test'), { action: 'test', result: true });

  for (const path of ['/lan/print', '/lan/snmp', '/fru/list', '/bmc/info', '/sensors/list']) {
    const res = await call('GET', path);
    assert.equal(res.status, 501, path);
    assert.equal(res.body, 'NotImplementedError');
  }
});

test('the BMC refusing the credentials is a 400 that says so; no credentials is our 401', async () => {
  const wrong = { authorization: `Basic ${Buffer.from(`${USER}:nope`).toString('base64')}` };
  const res = await call('GET', '/chassis/power/status', wrong);
  assert.equal(res.status, 400);
  assert.match(res.body, /^redfish: GET \/redfish\/v1\/ answered 401: There is no valid session/);
  assert.deepEqual(JSON.parse((await call('GET', '/test', wrong)).body), { action: 'test', result: false });
  assert.equal((await call('GET', '/chassis/power/status', {})).status, 401);
});

test('requests reuse pooled keep-alive connections', async () => {
  const before = bmc.connections();
  const requestsBefore = bmc.requests.length;
  for (let i = 0; i < 5; i++) await json('GET', '/chassis/power/status');
  const made = bmc.requests.length - requestsBefore;
  assert.ok(made >= 15, `made ${made} Redfish requests`);
  assert.ok(bmc.connections() - before <= 1, `opened ${bmc.connections() - before} connections for ${made} requests`);
});

test('with redfish_verify_ssl (the default) a self-signed BMC certificate is refused', async () => {
  const strict = await startTestProxy({ files: { bmc: { ':enabled': true, ':bmc_timeout': 5 } } });
  try {
    const res = await strict.request('GET', `/bmc/${host}/chassis/power/status?bmc_provider=redfish`, { headers: auth });
    assert.equal(res.status, 400);
    assert.match(res.body, /^redfish: GET \/redfish\/v1\/: .*(self[- ]signed|certificate)/i);
  } finally {
    await strict.close();
  }
});

test('a BMC that accepts the connection but never answers fails at the deadline', async () => {
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as { port: number }).port;
  const quick = await startTestProxy({ files: { bmc: { ':enabled': true, ':bmc_timeout': 2, ':redfish_verify_ssl': false } } });
  try {
    const res = await quick.request('GET', `/bmc/127.0.0.1:${port}/chassis/power/status?bmc_provider=redfish`, { headers: auth });
    assert.equal(res.status, 400);
    assert.match(res.body, /^redfish: /);
  } finally {
    await quick.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('vendor variants: HPE soft off pushes the button; Dell without ForceRestart powers off, then on', async () => {
  const http = createHttpClient({ verify: false, timeoutMs: 5000, connections: 4 });
  const hpe = await startRedfishStandIn({ user: USER, password: PASS, manufacturer: 'HPE' });
  const dell = await startRedfishStandIn({ user: USER, password: PASS, manufacturer: 'Dell Inc.', resetTypes: ['On', 'ForceOff', 'GracefulShutdown'] });
  try {
    const backend = (port: number) =>
      new RedfishBackend({ address: { host: '127.0.0.1', port }, username: USER, password: PASS, deadline: new Deadline(5000), http, dellCycleDelayMs: 10 });
    assert.equal(await backend(hpe.port).powerSoft(), true);
    assert.deepEqual(hpe.state.resets, ['PushPowerButton']);
    assert.equal(await backend(dell.port).powerCycle(), true);
    assert.deepEqual(dell.state.resets, ['ForceOff', 'On']);
  } finally {
    await hpe.close();
    await dell.close();
    await http.close();
  }
});
