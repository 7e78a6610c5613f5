// /dhcp with dhcp_infoblox over real HTTPS against the Infoblox WAPI stand-in (an Infoblox grid
// cannot run here): the conformance suite for both record types, observed in the stand-in's
// store, then what is Infoblox's own: grid restarts after changes, leases, the 'used' search
// type, fixed-address options, paging, and the faults (wrong credentials, a grid that is down,
// slow, or answering the wrong shape) while the proxy keeps answering.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { dhcpConformance, type BackendReservation } from '../lib/dhcp-conformance.ts';
import { startInfobloxStandIn, type InfobloxStandIn } from '../lib/infoblox-standin.ts';
import { freeTcpPort, removeDir, tempDir } from '../lib/procs.ts';

let dir: string;
let pki: Pki;
let wapi: InfobloxStandIn;

function proxyFor(settings: Record<string, unknown>, server?: string): Promise<TestProxy> {
  return startTestProxy({
    files: {
      dhcp: { enabled: true, use_provider: 'dhcp_infoblox', server: server ?? wapi.host, ping_free_ip: false },
      dhcp_infoblox: { username: 'admin', password: 'infoblox', ssl_ca: pki.caCert, wait_after_restart: 0, ...settings },
    },
  });
}

function reservationIn(type: 'fixedaddress' | 'host') {
  return async (mac: string): Promise<BackendReservation | undefined> => {
    if (type === 'fixedaddress') {
      const [f] = wapi.objects('fixedaddress', (x) => x.mac === mac);
      return f ? { ip: String(f.ipv4addr), mac, hostname: String(f.name) } : undefined;
    }
    for (const h of wapi.objects('record:host')) {
      const a = (h.ipv4addrs as { ipv4addr: string; mac: string }[]).find((x) => x.mac === mac);
      if (a) return { ip: a.ipv4addr, mac, hostname: String(h.name) };
    }
    return undefined;
  };
}

before(async () => {
  dir = await tempDir('ib-dhcp');
  pki = await makePki(dir);
  wapi = await startInfobloxStandIn({ cert: pki.serverCert, key: pki.serverKey });
  wapi.add('network', { network: '192.0.2.0/24', network_view: 'default' });
  wapi.add('network', { network: '198.51.100.0/24', network_view: 'default' });
  wapi.add('network', { network: '10.9.0.0/16', network_view: 'lab' });
});
after(async () => {
  await wapi?.close();
  await removeDir(dir);
});

for (const recordType of ['fixedaddress', 'host'] as const) {
  describe(`/dhcp with dhcp_infoblox record_type ${recordType} against the Infoblox WAPI stand-in`, { timeout: 60_000 }, () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await proxyFor({ record_type: recordType });
    });
    after(async () => {
      await proxy?.close();
    });
    dhcpConformance(() => ({
      request: (method, path, options) => proxy.request(method, path, options),
      network: recordType === 'fixedaddress' ? '192.0.2.0' : '198.51.100.0',
      netmask: '255.255.255.0',
      freePair: recordType === 'fixedaddress' ? ['192.0.2.120', '192.0.2.121'] : ['198.51.100.120', '198.51.100.121'],
      reservation: reservationIn(recordType),
    }));
  });
}

describe('dhcp_infoblox specifics against the Infoblox WAPI stand-in', { timeout: 90_000 }, () => {
  let proxy: TestProxy;
  before(async () => {
    proxy = await proxyFor({ options: [{ name: 'host-name', num: 12, value: 'x', vendor_class: 'DHCP' }] });
  });
  after(async () => {
    await proxy?.close();
  });

  test('stand-in: a create stores name, MAC, boot settings, network view and options, then restarts the grid once', async () => {
    const restarts = wapi.restarts;
    const r = await proxy.request('POST', '/dhcp/192.0.2.0', {
      body: { ip: '192.0.2.50', mac: '52:54:00:aa:00:50', name: 'pxe50.example.test', hostname: 'pxe50.example.test', nextServer: '192.0.2.1', filename: 'pxelinux.0' },
    });
    assert.equal(r.status, 200, r.body);
    const [f] = wapi.objects('fixedaddress', (x) => x.ipv4addr === '192.0.2.50');
    assert.equal(f?.name, 'pxe50.example.test');
    assert.equal(f?.nextserver, '192.0.2.1');
    assert.equal(f?.use_nextserver, true);
    assert.equal(f?.bootfile, 'pxelinux.0');
    assert.equal(f?.network_view, 'default');
    assert.deepEqual(f?.options, [{ name: 'host-name', num: 12, value: 'x', vendor_class: 'DHCP' }]);
    assert.equal(wapi.restarts, restarts + 1);
    const shown = JSON.parse((await proxy.request('GET', '/dhcp/192.0.2.0/mac/52:54:00:aa:00:50')).body) as Record<string, unknown>;
    assert.equal(shown.nextServer, '192.0.2.1');
    assert.equal(shown.filename, 'pxelinux.0');
    assert.equal((await proxy.request('DELETE', '/dhcp/192.0.2.0/ip/192.0.2.50')).status, 200);
    assert.equal(wapi.restarts, restarts + 2);
  });

  test('stand-in: leases are listed (leases without a MAC skipped) and offered addresses avoid them', async () => {
    const now = Math.floor(Date.now() / 1000);
    wapi.add('lease', { address: '192.0.2.60', hardware: '52:54:00:bb:00:60', client_hostname: 'dyn60', starts: now - 60, ends: now + 3600, binding_state: 'ACTIVE', network_view: 'default' });
    wapi.add('lease', { address: '192.0.2.61', client_hostname: 'nomac', starts: now - 60, ends: now + 3600, binding_state: 'ACTIVE', network_view: 'default' });
    const list = JSON.parse((await proxy.request('GET', '/dhcp/192.0.2.0')).body) as { leases: { ip: string; mac: string; state: string; starts: string }[] };
    const lease = list.leases.find((l) => l.ip === '192.0.2.60');
    assert.equal(lease?.mac, '52:54:00:bb:00:60');
    assert.equal(lease?.state, 'active');
    assert.match(lease?.starts ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    assert.equal(list.leases.some((l) => l.ip === '192.0.2.61'), false);
    const r = await proxy.request('GET', '/dhcp/192.0.2.0/unused_ip?from=192.0.2.60&to=192.0.2.62');
    assert.equal(JSON.parse(r.body).ip, '192.0.2.62', r.body);
  });

  test('stand-in: the listing follows WAPI pages', async () => {
    for (let i = 1; i <= 7; i++) wapi.add('fixedaddress', { name: `bulk${i}.example.test`, ipv4addr: `192.0.2.${200 + i}`, mac: `52:54:00:cc:00:0${i}`, network_view: 'default' });
    wapi.pageSizeCap = 3;
    const before = wapi.requests.length;
    try {
      const list = JSON.parse((await proxy.request('GET', '/dhcp/192.0.2.0')).body) as { reservations: { name: string }[] };
      assert.equal(list.reservations.filter((x) => x.name.startsWith('bulk')).length, 7);
      assert.ok(wapi.requests.slice(before).filter((q) => q.path.endsWith('/fixedaddress') && q.query._page_id !== undefined).length >= 2);
    } finally {
      wapi.pageSizeCap = 1000;
    }
  });

  test('stand-in: subnets are those of the network view, filtered by dhcp.yml subnets', async () => {
    const all = JSON.parse((await proxy.request('GET', '/dhcp')).body) as { network: string }[];
    assert.deepEqual(all.map((s) => s.network).sort(), ['192.0.2.0', '198.51.100.0']);
    const lab = await startTestProxy({
      files: {
        dhcp: { enabled: true, use_provider: 'dhcp_infoblox', server: wapi.host, subnets: ['10.9.0.0/255.255.0.0'] },
        dhcp_infoblox: { username: 'admin', password: 'infoblox', ssl_ca: pki.caCert, network_view: 'lab', wait_after_restart: 0 },
      },
    });
    try {
      const listed = JSON.parse((await lab.request('GET', '/dhcp')).body) as { network: string; netmask: string }[];
      assert.deepEqual(listed, [{ network: '10.9.0.0', netmask: '255.255.0.0', options: {} }]);
    } finally {
      await lab.close();
    }
  });

  test("stand-in: used_ips_search_type 'used' lists every used address, a DNS-only one with the dummy MAC", async () => {
    wapi.add('record:a', { name: 'dnsonly.example.test', ipv4addr: '192.0.2.70', view: 'default' });
    const used = await proxyFor({ used_ips_search_type: 'used' });
    try {
      const list = JSON.parse((await used.request('GET', '/dhcp/192.0.2.0')).body) as { reservations: { ip: string; mac: string }[] };
      assert.equal(list.reservations.find((x) => x.ip === '192.0.2.70')?.mac, '00:00:00:00:00:00');
      const r = await used.request('GET', '/dhcp/192.0.2.0/unused_ip?from=192.0.2.70&to=192.0.2.71');
      assert.equal(JSON.parse(r.body).ip, '192.0.2.71');
    } finally {
      await used.close();
    }
  });

  test('stand-in: a narrow from..to in a large network is searched within the range', async () => {
    const lab = await proxyFor({ network_view: 'lab' });
    try {
      wapi.add('fixedaddress', { name: 'taken.example.test', ipv4addr: '10.9.200.10', mac: '52:54:00:dd:00:10', network_view: 'lab' });
      const r = await lab.request('GET', '/dhcp/10.9.0.0/unused_ip?from=10.9.200.10&to=10.9.200.11');
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).ip, '10.9.200.11');
    } finally {
      await lab.close();
    }
  });

  test('stand-in: a suggested address is not suggested again at once', async () => {
    const first = JSON.parse((await proxy.request('GET', '/dhcp/192.0.2.0/unused_ip?from=192.0.2.80&to=192.0.2.81')).body).ip;
    const second = JSON.parse((await proxy.request('GET', '/dhcp/192.0.2.0/unused_ip?from=192.0.2.80&to=192.0.2.81')).body).ip;
    assert.deepEqual([first, second].sort(), ['192.0.2.80', '192.0.2.81']);
  });

  test('stand-in: a bad options setting fails the module with a message naming the entry', async () => {
    const p = await proxyFor({ options: [{ name: 'x', color: 'red' }] });
    try {
      assert.equal(p.proxy.records.get('dhcp')?.state, 'failed');
      assert.match(p.proxy.failedModules['dhcp'] ?? '', /options\[0\] has an unknown key 'color'/);
    } finally {
      await p.close();
    }
  });

  test('stand-in: wrong credentials give a clear 400, and the password is neither answered nor logged', async () => {
    const bad = await proxyFor({ password: 'wrong-secret-456' });
    try {
      const r = await bad.request('GET', '/dhcp');
      assert.equal(r.status, 400);
      assert.match(r.body, /dhcp_infoblox: the Infoblox WAPI at 127\.0\.0\.1:\d+ refused the credentials of user 'admin' \(HTTP 401\)/);
      assert.doesNotMatch(r.body, /wrong-secret-456/);
      assert.doesNotMatch(await readFile(`${bad.settingsDir}/proxy.log`, 'utf8'), /wrong-secret-456/);
    } finally {
      await bad.close();
    }
  });

  test('stand-in: a grid that is down gives a clear 400', async () => {
    const down = await proxyFor({}, `127.0.0.1:${await freeTcpPort()}`);
    try {
      const r = await down.request('GET', '/dhcp/192.0.2.0/unused_ip');
      assert.equal(r.status, 400);
      assert.match(r.body, /dhcp_infoblox: cannot reach the Infoblox WAPI at 127\.0\.0\.1:\d+/);
    } finally {
      await down.close();
    }
  });

  test('stand-in: a slow grid fails within the timeout while other routes keep answering', async () => {
    const slow = await proxyFor({ timeout: 2 });
    wapi.fault = 'hang';
    try {
      const pending = slow.request('GET', '/dhcp/192.0.2.0');
      const until = Date.now() + 10_000;
      while (wapi.hanging === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(wapi.hanging, 1);
      assert.equal((await slow.request('GET', '/features')).status, 200);
      const r = await pending;
      assert.equal(r.status, 400);
      assert.match(r.body, /no answer from the Infoblox WAPI at 127\.0\.0\.1:\d+ within 2 s/);
    } finally {
      wapi.fault = 'none';
      await slow.close();
    }
  });

  test('stand-in: answers of the wrong shape give a clear 400', async () => {
    wapi.fault = 'wrong-shape';
    try {
      const r = await proxy.request('GET', '/dhcp');
      assert.equal(r.status, 400);
      assert.match(r.body, /dhcp_infoblox: unexpected answer from the Infoblox WAPI at 127\.0\.0\.1:\d+ to GET network: expected an object with a result list/);
    } finally {
      wapi.fault = 'none';
    }
  });
});
