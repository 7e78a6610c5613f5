// /ipam with externalipam_netbox over real HTTP against the NetBox stand-in (NetBox cannot run
// here): Foreman's calls with `group` empty and named (a VRF; the plugin fails those on Ruby ≥ 3),
// pagination followed past the first page (the plugin reads one page), addresses kept to the
// prefix's own VRF, an exhausted prefix, a wrong token, and no token in the log.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { startNetBoxStandIn, type NetBoxStandIn, type NetBoxPrefix, type NetBoxVrf } from '../lib/netbox-standin.ts';

let netbox: NetBoxStandIn;
let proxy: TestProxy;
let global: NetBoxPrefix;
let red: NetBoxVrf;
let redPrefix: NetBoxPrefix;

function proxyFor(settings: Record<string, unknown> = {}): Promise<TestProxy> {
  return startTestProxy({
    files: {
      externalipam: { enabled: true, use_provider: 'externalipam_netbox' },
      externalipam_netbox: { url: netbox.url, token: netbox.token, ...settings },
    },
  });
}

async function call(p: TestProxy, method: string, path: string): Promise<{ status: number; body: string; json: unknown }> {
  const r = await p.request(method, path);
  return { status: r.status, body: r.body, json: r.body === '' ? undefined : (JSON.parse(r.body) as unknown) };
}

before(async () => {
  netbox = await startNetBoxStandIn();
  // Small pages, so every list crosses pages.
  netbox.pageSize = 2;
  red = netbox.addVrf('Red Team', 'red');
  for (let i = 0; i < 4; i++) netbox.addVrf(`filler-${i}`);
  global = netbox.addPrefix('192.0.2.0/24', null, 'global lab');
  redPrefix = netbox.addPrefix('192.0.2.0/24', red.id, 'red lab');
  netbox.addPrefix('198.51.100.0/30', null, 'tiny');
  netbox.addPrefix('203.0.113.0/24', null, 'retired', 'deprecated');
  for (let i = 1; i <= 3; i++) netbox.addPrefix(`10.${i}.0.0/16`, red.id, `red ${i}`);
  netbox.addIpAddress('192.0.2.1/24', null);
  netbox.addIpAddress('192.0.2.1/24', red.id);
  netbox.addIpAddress('192.0.2.2/24', red.id);
  proxy = await proxyFor();
});

after(async () => {
  await proxy?.close();
  await netbox?.close();
});

describe('Foreman calls, NetBox stand-in', () => {
  test('host create in the global table: next_ip, exists?, reserve (NetBox 201), then taken', async () => {
    const next = await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/next_ip?mac=52:54:00:00:00:01&group=');
    assert.deepEqual([next.status, next.json], [200, { data: '192.0.2.2' }]);
    assert.equal(((await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24?group=')).json as { id: number }).id, global.id);
    assert.equal((await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=')).body, 'false');
    assert.equal((await call(proxy, 'POST', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=')).status, 201);
    const stored = netbox.ipAddresses.filter((a) => a.address === '192.0.2.2/24');
    assert.deepEqual(stored.map((a) => a.vrfId).sort(), [null, red.id].sort());
    assert.equal((await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/192.0.2.2?group=')).body, 'true');
    const sent = netbox.requests.filter((r) => r.method === 'POST').at(-1);
    assert.equal(sent?.authorization, `Token ${netbox.token}`);
    assert.deepEqual(sent?.body, { address: '192.0.2.2/24', status: 'active', description: 'Address auto added by Foreman' });
  });

  test('a named group (a VRF with a space) works on every route and stays in that VRF — the plugin answers 500 on Ruby ≥ 3', async () => {
    const g = 'group=Red%20Team';
    const subnet = await call(proxy, 'GET', `/ipam/subnet/192.0.2.0/24?${g}`);
    assert.deepEqual(subnet.json, { id: redPrefix.id, subnet: '192.0.2.0', mask: '24', description: 'red lab' });
    const next = await call(proxy, 'GET', `/ipam/subnet/192.0.2.0/24/next_ip?mac=52:54:00:00:00:02&${g}`);
    assert.deepEqual(next.json, { data: '192.0.2.3' });
    assert.equal((await call(proxy, 'POST', `/ipam/subnet/192.0.2.0/24/192.0.2.3?${g}`)).status, 201);
    assert.deepEqual(
      netbox.ipAddresses.filter((a) => a.address === '192.0.2.3/24').map((a) => a.vrfId),
      [red.id],
    );
    // The global table's 192.0.2.3 is free; only the VRF's is taken.
    assert.equal((await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24/192.0.2.3?group=')).body, 'false');
    assert.equal((await call(proxy, 'GET', `/ipam/subnet/192.0.2.0/24/192.0.2.3?${g}`)).body, 'true');
    // Deleting in the VRF leaves the global table alone (the plugin deletes the first match anywhere).
    netbox.addIpAddress('192.0.2.3/24', null);
    assert.equal((await call(proxy, 'DELETE', `/ipam/subnet/192.0.2.0/24/192.0.2.3?${g}`)).status, 204);
    assert.deepEqual(
      netbox.ipAddresses.filter((a) => a.address === '192.0.2.3/24').map((a) => a.vrfId),
      [null],
    );
    const gone = await call(proxy, 'DELETE', `/ipam/subnet/192.0.2.0/24/192.0.2.3?${g}`);
    assert.deepEqual([gone.status, gone.json], [404, { error: 'IP address not found' }]);
    const unknown = await call(proxy, 'GET', '/ipam/subnet/192.0.2.0/24?group=Blue');
    assert.deepEqual([unknown.status, unknown.json], [500, { error: 'Group not found in External IPAM' }]);
  });

  test('groups and group subnets follow NetBox pagination past the first page', async () => {
    const groups = (await call(proxy, 'GET', '/ipam/groups')).json as { name: string }[];
    assert.deepEqual(groups.map((g) => g.name), ['Red Team', 'filler-0', 'filler-1', 'filler-2', 'filler-3']);
    assert.deepEqual(Object.keys(groups[0]).sort(), ['description', 'name']);
    assert.deepEqual((await call(proxy, 'GET', '/ipam/groups/Red%20Team')).json, { id: red.id, name: 'Red Team', description: 'red' });
    const subnets = (await call(proxy, 'GET', '/ipam/groups/Red%20Team/subnets')).json as { subnet: string; mask: string }[];
    assert.deepEqual(subnets.map((s) => `${s.subnet}/${s.mask}`), ['192.0.2.0/24', '10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16']);
    assert.equal((await call(proxy, 'GET', '/ipam/groups/filler-0/subnets')).status, 404);
    // Every `next` was followed on the configured origin with the token.
    assert.ok(netbox.requests.some((r) => r.query.offset === '4'));
  });

  test('an exhausted prefix: 404 {"error":"No free addresses found"}; a deprecated prefix is not found', async () => {
    netbox.addIpAddress('198.51.100.1/30', null);
    netbox.addIpAddress('198.51.100.2/30', null);
    const full = await call(proxy, 'GET', '/ipam/subnet/198.51.100.0/30/next_ip?mac=52:54:00:00:00:09&group=');
    assert.deepEqual([full.status, full.json], [404, { error: 'No free addresses found' }]);
    assert.equal((await call(proxy, 'GET', '/ipam/subnet/203.0.113.0/24?group=')).status, 404);
  });

  test('the token appears in no log line', async () => {
    const log = await readFile(join(proxy.settingsDir, 'proxy.log'), 'utf8');
    assert.ok(log.includes('NetBox: GET'));
    assert.equal(log.includes(netbox.token), false);
  });

  test('a wrong token: 500 with NetBox\'s reason', async (t) => {
    const p = await proxyFor({ token: 'not-the-token' });
    t.after(() => p.close());
    const r = await call(p, 'GET', '/ipam/subnet/192.0.2.0/24?group=');
    assert.equal(r.status, 500);
    assert.match((r.json as { error: string }).error, /NetBox refused GET .*prefixes.*: Invalid token/);
  });
});
