// BMC module against a real OpenIPMI ipmi_sim through the real ipmitool and FreeIPMI tools:
// power, boot device and identify requests must change the simulator's chassis state.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { requireCommand, waitFor } from '../lib/procs.ts';
import { startIpmiSim, type IpmiSim } from './ipmi-sim.ts';

let sim: IpmiSim;
let proxy: TestProxy;
let host: string;
let auth: Record<string, string>;

before(async () => {
  requireCommand('ipmitool');
  requireCommand('ipmipower');
  sim = await startIpmiSim();
  host = `127.0.0.1:${sim.port}`;
  auth = { authorization: `Basic ${Buffer.from(`${sim.user}:${sim.password}`).toString('base64')}` };
  proxy = await startTestProxy({
    files: {
      bmc: {
        ':enabled': true,
        // ipmi_sim does not answer the cipher-suite probe (10 s per ipmitool call) and needs
        // FreeIPMI's opensesspriv workaround (notes/more-backends.md §3).
        ':bmc_ipmi_cipher_suite': 3,
        ':bmc_freeipmi_workaround_flags': 'opensesspriv',
        ':bmc_timeout': 15,
      },
    },
  });
});

after(async () => {
  await proxy?.close();
  await sim?.stop();
});

async function call(method: string, path: string, provider: string, extra: { body?: string | Record<string, string>; headers?: Record<string, string> } = {}) {
  const sep = path.includes('?') ? '&' : '?';
  const res = await proxy.request(method, `/bmc/${host}${path}${sep}bmc_provider=${provider}`, {
    body: extra.body,
    headers: { ...auth, ...extra.headers },
  });
  return res;
}

async function json(method: string, path: string, provider: string, extra = {}): Promise<Record<string, unknown>> {
  const res = await call(method, path, provider, extra);
  assert.equal(res.status, 200, `${method} ${path} (${provider}): ${res.body}`);
  assert.match(res.headers['content-type'], /^application\/json/);
  return JSON.parse(res.body) as Record<string, unknown>;
}

for (const provider of ['ipmitool', 'freeipmi'] as const) {
  describe(`ipmi_sim through ${provider}`, () => {
    test('power off, status, on, soft, cycle change the chassis state', async () => {
      await sim.setPower(true);
      assert.deepEqual(await json('GET', '/chassis/power/status', provider), { action: 'status', result: 'on' });
      assert.deepEqual(await json('GET', '/chassis/power/on', provider), { action: 'on', result: true });

      const off = await json('PUT', '/chassis/power/off', provider, { body: { action: 'off' } });
      assert.equal(off.action, 'off');
      // Foreman accepts `true` (ipmitool) or `<host>: ok\n` (freeipmi's ipmipower text).
      if (provider === 'ipmitool') assert.equal(off.result, true);
      else assert.equal(off.result, '127.0.0.1: ok\n');
      assert.equal(await sim.state('power'), '0');
      assert.deepEqual(await json('GET', '/chassis/power/status', provider), { action: 'status', result: 'off' });
      assert.deepEqual(await json('GET', '/chassis/power/off', provider), { action: 'off', result: true });

      // cycle of a machine that is off switches it on
      await json('PUT', '/chassis/power/cycle', provider);
      assert.equal(await sim.state('power'), '1');

      await json('PUT', '/chassis/power/soft', provider);
      assert.equal(await sim.state('power'), '0');
      await json('PUT', '/chassis/power/on', provider);
      assert.equal(await sim.state('power'), '1');

      // cycle of a running machine: ipmi_sim switches off, then on again by itself
      const before = (await sim.controlLog()).split('\n').length;
      await json('PUT', '/chassis/power/cycle', provider);
      await waitFor('power back on after the cycle', async () => (await sim.state('power')) === '1');
      const lines = (await sim.controlLog()).split('\n').slice(before - 1).join('\n');
      assert.match(lines, /set power 0/);
      assert.match(lines, /set power 1/);

      await json('PUT', '/chassis/power/reset', provider);
      assert.equal(await sim.state('reset'), '1');
    });

    test('boot device changes the simulator boot flag', async () => {
      for (const [dev, expected] of [['pxe', 'pxe'], ['disk', 'default'], ['cdrom', 'cdrom'], ['bios', 'bios']] as const) {
        const res = await json('PUT', `/chassis/config/bootdevice/${dev}`, provider, { body: { function: 'bootdevice', device: dev } });
        assert.deepEqual(res, { action: dev, result: true });
        assert.equal(await sim.state('boot'), expected, `boot device ${dev}`);
      }
      // persistent flag as a form param; the substring match takes `pxe` from `pxe-ipv4`
      const res = await json('PUT', '/chassis/config/bootdevice/pxe-ipv4', provider, { body: { persistent: 'true' } });
      assert.deepEqual(res, { action: 'pxe-ipv4', result: true });
      assert.equal(await sim.state('boot'), 'pxe');
      assert.deepEqual(await json('PUT', '/chassis/config/bootdevice/floppy', provider), { error: 'floppy is not a valid boot device' });
      assert.deepEqual(await json('GET', '/chassis/config/bootdevices', provider), { devices: ['pxe', 'disk', 'bios', 'cdrom'] });
      assert.deepEqual(await json('PUT', '/chassis/config/bootdevice', provider), {
        actions: ['pxe', 'disk', 'bios', 'cdrom'],
        options: ['reboot=true|false', 'persistent=true|false'],
      });
    });

    test('boot device with reboot power-cycles the machine', async () => {
      await sim.setPower(false);
      await json('PUT', '/chassis/config/bootdevice/cdrom', provider, { body: { reboot: 'true' } });
      assert.equal(await sim.state('boot'), 'cdrom');
      assert.equal(await sim.state('power'), '1');
    });

    test('LAN, FRU, BMC and sensor data are read from the BMC', async () => {
      assert.deepEqual(await json('GET', '/lan/ip', provider), { action: 'ip', result: '192.0.2.50' });
      assert.deepEqual(await json('GET', '/lan/mac', provider), { action: 'mac', result: '52:54:00:12:34:56' });
      assert.deepEqual(await json('GET', '/lan/netmask', provider), { action: 'netmask', result: '255.255.255.0' });
      assert.deepEqual(await json('GET', '/lan/gateway', provider), { action: 'gateway', result: '192.0.2.1' });
      assert.deepEqual(await json('GET', '/lan/ipsrc', provider), { action: 'ipsrc', result: 'static' });
      const print = (await json('GET', '/lan/print', provider)).result as Record<string, unknown>;
      assert.equal(print.ip_address, '192.0.2.50');

      assert.deepEqual(await json('GET', '/fru/manufacturer', provider), { action: 'manufacturer', result: 'Acme' });
      assert.deepEqual(await json('GET', '/fru/model', provider), { action: 'model', result: 'Server 9000' });
      assert.deepEqual(await json('GET', '/fru/serial', provider), { action: 'serial', result: 'SN123456' });
      assert.deepEqual(await json('GET', '/fru/asset_tag', provider), { action: 'asset_tag', result: 'AT-0001' });
      const frus = (await json('GET', '/fru/list', provider)).result as Record<string, Record<string, string>>;
      assert.equal(Object.values(frus)[0].product_name, 'Server 9000');

      assert.deepEqual(await json('GET', '/bmc/version', provider), { action: 'version', result: '9.08' });
      const guid = (await json('GET', '/bmc/guid', provider)).result as string;
      assert.match(guid.replace(/-/g, '').toLowerCase(), /^(a0a1a2a3a4a5a6a7a8a9aaabacadaeaf|afaeadacabaaa9a8a7a6a5a4a3a2a1a0)$/);
      const info = (await json('GET', '/bmc/info', provider)).result as Record<string, unknown>;
      assert.equal(info['Firmware Revision'], '9.08');
      assert.deepEqual(await json('GET', '/test', provider), { action: 'test', result: true });

      assert.deepEqual(await json('GET', '/sensors/count', provider), { action: 'count', result: 2 });
      assert.deepEqual(await json('GET', '/sensors/names', provider), { action: 'names', result: ['cpu_temp', 'fan1'] });
      const temps = (await json('GET', '/sensors/templist', provider)).result as Record<string, { value: string }>;
      assert.deepEqual(Object.keys(temps), ['cpu_temp']);
      assert.equal(Number(temps.cpu_temp.value), 45);
      const fans = (await json('GET', '/sensors/fanlist', provider)).result as Record<string, { value: string }>;
      assert.equal(Number(fans.fan1.value), 3000);
      const one = (await json('GET', '/sensors/get/CPU Temp'.replace(' ', '%20'), provider)).result as { name: string };
      assert.equal(one.name, 'CPU Temp');
      assert.deepEqual(await json('GET', '/sensors/get/nothing', provider), { action: 'get', result: null });
      assert.deepEqual(await json('GET', '/sensors/get', provider), { options: 'sensor=<name>' });
    });

    test('a wrong password is a 400 naming the failure, and test answers false', async () => {
      const bad = { authorization: `Basic ${Buffer.from(`${sim.user}:wrong`).toString('base64')}` };
      const res = await call('GET', '/chassis/power/status', provider, { headers: bad });
      assert.equal(res.status, 400);
      assert.match(res.body, new RegExp(`^(freeipmi ipmipower|ipmitool): `));
      assert.deepEqual(JSON.parse((await call('GET', '/test', provider, { headers: bad })).body), { action: 'test', result: false });
    });

    test('IPMI 1.5 (lan15 driver from a JSON body) works too', async () => {
      await sim.setPower(true);
      const res = await call('PUT', '/chassis/power/off', provider, {
        body: JSON.stringify({ options: { driver: 'lan15', privilege: 'ADMINISTRATOR' } }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, 200, res.body);
      assert.equal(await sim.state('power'), '0');
    });
  });
}

test('identify on/off through ipmitool sets the chassis identify state', async () => {
  assert.deepEqual(await json('PUT', '/chassis/identify/on', 'ipmitool'), { action: 'on', result: true });
  assert.equal(await sim.state('identify'), '255 0');
  assert.deepEqual(await json('PUT', '/chassis/identify/off', 'ipmitool'), { action: 'off', result: true });
  assert.equal(await sim.state('identify'), '0 0');
  // ipmi_sim reports no identify state; the reference answers 400 here as well
  const res = await call('GET', '/chassis/identify/status', 'ipmitool');
  assert.equal(res.status, 400);
  assert.deepEqual(await json('PUT', '/chassis/identify/blink', 'ipmitool'), { error: 'The action:  is not a valid function' });
});

test('an unknown bmc_provider falls back to an installed IPMI tool', async () => {
  await sim.setPower(true);
  const res = await proxy.request('GET', `/bmc/${host}/chassis/power/status?bmc_provider=bogus`, { headers: auth });
  assert.equal(res.status, 200, res.body);
  assert.deepEqual(JSON.parse(res.body), { action: 'status', result: 'on' });
});

test('bmc_default_provider picks the tool; a BMC that does not answer fails within the deadline', async () => {
  const quick = await startTestProxy({
    files: {
      bmc: {
        ':enabled': true,
        ':bmc_timeout': 3,
        ':bmc_ipmi_cipher_suite': 3,
        ':bmc_freeipmi_workaround_flags': 'opensesspriv',
        ':bmc_default_provider': 'freeipmi',
      },
    },
  });
  try {
    await sim.setPower(false);
    const on = await quick.request('PUT', `/bmc/${host}/chassis/power/on`, { headers: auth });
    assert.equal(on.status, 200, on.body);
    assert.deepEqual(JSON.parse(on.body), { action: 'on', result: '127.0.0.1: ok\n' }); // ipmipower's answer
    assert.equal(await sim.state('power'), '1');

    // nothing listens on the port next to the simulator's
    const dead = `127.0.0.1:${sim.port === 65535 ? 65534 : sim.port + 1}`;
    for (const provider of ['ipmitool', 'freeipmi']) {
      const res = await quick.request('GET', `/bmc/${dead}/chassis/power/status?bmc_provider=${provider}`, { headers: auth });
      assert.equal(res.status, 400, res.body);
      assert.match(res.body, /^(ipmitool|freeipmi ipmipower): /);
    }
  } finally {
    await quick.close();
  }
});
