// /ipam with externalipam_phpipam over real HTTP against the phpIPAM stand-in (phpIPAM cannot run
// here): Foreman's calls in the order it makes them, with `group` empty and named (the plugin
// fails those on Ruby ≥ 3), the next_ip holds under concurrency, token expiry, wrong credentials,
// an unreachable and a hanging phpIPAM, and no password or token in the log.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { startPhpIpamStandIn, type PhpIpamStandIn, type PhpIpamSubnet } from '../lib/phpipam-standin.ts';
import { freeTcpPort } from '../lib/procs.ts';

let ipam: PhpIpamStandIn;
let proxy: TestProxy;
let lab: PhpIpamSubnet;
let prod: PhpIpamSubnet;

function proxyFor(settings: Record<string, unknown> = {}, module: Record<string, unknown> = {}): Promise<TestProxy> {
  return startTestProxy({
    files: {
      externalipam: { enabled: true, use_provider: 'externalipam_phpipam', ...module },
      externalipam_phpipam: { url: ipam.url, user: ipam.user, password: ipam.password, ...settings },
    },
  });
}

async function call(p: TestProxy, method: string, path: string): Promise<{ status: number; body: string; json: unknown; type: string | undefined }> {
  const r = await p.request(method, path);
  return { status: r.status, body: r.body, json: r.body === '' ? undefined : (JSON.parse(r.body) as unknown), type: r.headers['content-type'] };
}

before(async () => {
  ipam = await startPhpIpamStandIn();
  const def = ipam.addSection('Customers', 'default section');
  const production = ipam.addSection('Prod Net', 'production');
  lab = ipam.addSubnet(def.id, '192.0.2.0/24', 'lab');
  prod = ipam.addSubnet(production.id, '198.51.100.0/28', 'prod');
  ipam.addSubnet(def.id, '2001:db8:5::/120', 'v6');
  ipam.addAddress(lab.id, '192.0.2.1');
  proxy = await proxyFor();
});

after(async () => {
  await proxy?.close();
  await ipam?.close();
});

describe('Foreman calls, phpIPAM stand-in', () => {
  test("host create without a group: next_ip, exists?, reserve; the address is then taken in phpIPAM", async () => {
    const next = await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/next_ip?mac=52:54:00:aa:bb:01&group=');
    assert.deepEqual([next.status, next.json, next.type], [200, { data: '192.0.2.2' }, 'application/json']);
    const exists = await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=');
    assert.deepEqual([exists.status, exists.body], [200, 'false']);
    const add = await call(proxy, 'POST', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=');
    assert.deepEqual([add.status, add.body], [201, '']);
    const stored = ipam.addresses.find((a) => a.ip === '192.0.2.2');
    assert.equal(stored?.subnetId, lab.id);
    assert.equal(stored?.description, 'Address auto added by Foreman');
    assert.equal((await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=')).body, 'true');
    // Reserving twice: phpIPAM refuses, the proxy says so.
    const again = await call(proxy, 'POST', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=');
    assert.deepEqual([again.status, again.json], [500, { error: 'Unable to add IP to External IPAM: IP address already exists' }]);
  });

  test('a named group (a phpIPAM section with a space, as Foreman escapes it) works on every route — the plugin answers 500 on Ruby ≥ 3', async () => {
    const g = 'group=Prod%20Net';
    const subnet = await call(proxy, 'GET', `/ipam/subnet/198.51.100.0/28?${g}`);
    assert.deepEqual([subnet.status, subnet.json], [200, { id: prod.id, subnet: '198.51.100.0', mask: '28', description: 'prod' }]);
    const next = await call(proxy, 'GET', `/ipam/subnet/198.51.100.0/28/next_ip?mac=52:54:00:aa:bb:02&${g}`);
    assert.deepEqual(next.json, { data: '198.51.100.1' });
    assert.equal((await call(proxy, 'POST', `/ipam/subnet/198.51.100.0/28/198.51.100.1?${g}`)).status, 201);
    assert.equal((await call(proxy, 'GET', `/ipam/subnet/198.51.100.0/28/198.51.100.1?${g}`)).body, 'true');
    assert.equal((await call(proxy, 'DELETE', `/ipam/subnet/198.51.100.0/28/198.51.100.1?${g}`)).status, 204);
    assert.equal(ipam.addresses.some((a) => a.ip === '198.51.100.1'), false);
    // The subnet is not in that section: not found, not someone else's subnet.
    const elsewhere = await call(proxy, 'GET', `/ipam/subnet/192.0.2.0/24?${g}`);
    assert.deepEqual([elsewhere.status, elsewhere.json], [404, { error: 'Subnet not found in External IPAM' }]);
    const unknown = await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24?group=Nowhere');
    assert.deepEqual([unknown.status, unknown.json], [500, { error: 'Group not found in External IPAM' }]);
  });

  test('host destroy: DELETE releases the address; deleting it again is 404', async () => {
    ipam.addAddress(lab.id, '192.0.2.50');
    const del = await call(proxy, 'DELETE', '/ipam/subnet/192.0.2.0/24/192.0.2.50?group=');
    assert.deepEqual([del.status, del.body], [204, '']);
    assert.equal(ipam.addresses.some((a) => a.ip === '192.0.2.50'), false);
    const again = await call(proxy, 'DELETE', '/ipam/subnet/192.0.2.0/24/192.0.2.50?group=');
    assert.deepEqual([again.status, again.json], [404, { error: 'IP address not found' }]);
  });

  test('subnet form: groups, one group, its subnets, and a subnet; IPv6 too', async () => {
    const groups = await call(proxy, 'GET', '/ipam/groups');
    assert.deepEqual(
      (groups.json as { name: string }[]).map((g) => g.name),
      ['Customers', 'Prod Net'],
    );
    assert.deepEqual((await call(proxy, 'GET', '/ipam/groups/Prod%20Net')).json, { id: ipam.sections[1].id, name: 'Prod Net', description: 'production' });
    assert.deepEqual((await call(proxy, 'GET', '/ipam/groups/Prod%20Net/subnets')).json, [{ id: prod.id, subnet: '198.51.100.0', mask: '28', description: 'prod' }]);
    assert.equal((await call(proxy, 'GET', '/ipam/groups/Nowhere')).status, 404);
    const v6 = await call(proxy, 'GET', '/ipam/subnet/2001:db8:5::/120/next_ip?mac=52:54:00:aa:bb:06&group=');
    assert.deepEqual(v6.json, { data: '2001:db8:5::1' });
    assert.equal((await call(proxy, 'GET', '/ipam/subnet/10.99.0.0/16?group=')).status, 404);
  });

  test('twenty concurrent next_ip calls for different MACs get twenty different free addresses', async () => {
    const macs = Array.from({ length: 20 }, (_, i) => `52:54:00:cc:00:${i.toString(16).padStart(2, '0')}`);
    const answers = await Promise.all(macs.map((mac) => call(proxy, 'GET', `/ipam/subnet/192.0.2.0/24/next_ip?mac=${mac}&group=`)));
    const ips = answers.map((a) => (a.json as { data: string }).data);
    assert.equal(new Set(ips).size, 20, ips.join(' '));
    const taken = new Set(ipam.addresses.map((a) => a.ip));
    assert.deepEqual(ips.filter((ip) => taken.has(ip)), []);
    // Each MAC asking again gets its own address back.
    const again = await call(proxy, 'GET', `/ipam/subnet/192.0.2.0/24/next_ip?mac=${macs[7]}&group=`);
    assert.deepEqual(again.json, { data: ips[7] });
  });

  test('the session token is reused, and renewed once when phpIPAM expires it', async () => {
    const before = ipam.logins;
    await call(proxy, 'GET', '/ipam/groups');
    await call(proxy, 'GET', '/ipam/groups');
    assert.equal(ipam.logins, before);
    ipam.expireTokens();
    assert.equal((await call(proxy, 'GET', '/ipam/groups')).status, 200);
    assert.equal(ipam.logins, before + 1);
  });

  test('the password and tokens appear in no log line', async () => {
    const log = await readFile(join(proxy.settingsDir, 'proxy.log'), 'utf8');
    assert.ok(log.includes('phpIPAM: GET'), 'backend calls are logged at DEBUG');
    assert.equal(log.includes(ipam.password), false);
    const basic = Buffer.from(`${ipam.user}:${ipam.password}`).toString('base64');
    assert.equal(log.includes(basic), false);
    for (const r of ipam.requests) if (r.token) assert.equal(log.includes(r.token), false);
  });
});

describe('phpIPAM stand-in failures', () => {
  test('wrong credentials: 500 {"error":"Invalid credentials for External IPAM"}', async (t) => {
    const p = await proxyFor({ password: 'wrong' });
    t.after(() => p.close());
    const r = await call(p, 'GET', '/ipam/subnet/192.0.2.0/24?group=');
    assert.deepEqual([r.status, r.json], [500, { error: 'Invalid credentials for External IPAM' }]);
  });

  test('nothing listening: 500 {"error":"Unable to connect to External IPAM server"}', async (t) => {
    const p = await startTestProxy({
      files: {
        externalipam: { enabled: true },
        externalipam_phpipam: { url: `http://127.0.0.1:${await freeTcpPort()}`, user: 'foreman', password: 'x' },
      },
    });
    t.after(() => p.close());
    const r = await call(p, 'GET', '/ipam/groups');
    assert.deepEqual([r.status, r.json], [500, { error: 'Unable to connect to External IPAM server' }]);
  });

  test('a phpIPAM that never answers: 504 once ipam_timeout has passed, and the proxy keeps answering', async (t) => {
    const p = await proxyFor({}, { ipam_timeout: 1 });
    t.after(async () => {
      ipam.fault = 'none';
      await p.close();
    });
    assert.equal((await call(p, 'GET', '/ipam/groups')).status, 200); // logged in before the fault
    ipam.fault = 'hang';
    const r = await call(p, 'GET', '/ipam/groups');
    assert.deepEqual([r.status, r.json], [504, { error: 'External IPAM server did not answer in time' }]);
    const features = await p.request('GET', '/features');
    assert.equal(features.status, 200);
  });

  test('/v2/features lists externalipam with no settings, as the plugin', async () => {
    const r = await proxy.request('GET', '/v2/features');
    const entry = (JSON.parse(r.body) as Record<string, { state: string; settings: unknown; capabilities: unknown }>).externalipam;
    assert.deepEqual(entry, { http_enabled: true, https_enabled: true, settings: {}, state: 'running', capabilities: [] });
  });
});
