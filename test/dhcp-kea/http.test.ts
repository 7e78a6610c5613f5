// The whole path Foreman uses: the proxy's HTTP API (real core, real settings files with
// `use_provider: dhcp_kea`) → Kea Control Agent (basic auth) → kea-dhcp4 in a network namespace,
// checked with a real DHCP client (busybox udhcpc) in a second namespace.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { assertPoolLeaseOnly, keaProxyFiles, startKeaLab, type KeaLab } from './harness.ts';
import { waitFor } from '../lib/procs.ts';

let lab: KeaLab;
let proxy: TestProxy;

const NET = '192.168.122.0';

async function reservationsFor(mac: string): Promise<Array<Record<string, unknown>>> {
  const r = await lab.agent('config-get');
  assert.equal(r.result, 0, r.text);
  const cfg = r.arguments as { Dhcp4: { subnet4: Array<{ reservations?: Array<Record<string, unknown>> }> } };
  return (cfg.Dhcp4.subnet4[0].reservations ?? []).filter((x) => x['hw-address'] === mac);
}

before(async () => {
  lab = await startKeaLab();
  proxy = await startTestProxy({
    files: keaProxyFiles(lab, {
      ':timeout': 3,
      ':config_write': false,
      // Every read asks Kea, so the outage checks below see Kea's state, not a snapshot.
      ':config_cache_seconds': 0,
    }),
  });
});

after(async () => {
  await proxy?.close();
  await lab?.close();
});

test('the dhcp module runs with the dhcp_kea provider', async () => {
  const res = await proxy.request('GET', '/v2/features');
  assert.equal(res.status, 200, res.body);
  const dhcp = (JSON.parse(res.body) as Record<string, { state: string; settings: Record<string, unknown>; capabilities: string[] }>).dhcp;
  assert.equal(dhcp.state, 'running', res.body);
  assert.equal(dhcp.settings.use_provider, 'dhcp_kea');
  assert.ok(dhcp.capabilities.includes('dhcp_filename_ipv4'), res.body);

  const subnets = await proxy.request('GET', '/dhcp');
  assert.equal(subnets.status, 200, subnets.body);
  assert.deepEqual(JSON.parse(subnets.body), [
    {
      network: NET,
      netmask: '255.255.255.0',
      options: {
        routers: ['192.168.122.1'],
        domain_name: 'example.test',
        domain_name_servers: ['192.168.122.1'],
        range: ['192.168.122.100', '192.168.122.199'],
      },
    },
  ]);
});

test('POST a reservation: the real client gets exactly that address, next-server and file; DELETE: it no longer does', async () => {
  const mac = '52:54:00:aa:cc:01';
  const form = {
    hostname: 'web1.example.test',
    name: 'web1.example.test',
    ip: '192.168.122.44',
    mac,
    network: NET,
    nextServer: '192.168.122.9',
    filename: 'pxelinux.0',
  };
  const created = await proxy.request('POST', `/dhcp/${NET}`, { body: form });
  assert.equal(created.status, 200, created.body);
  assert.equal(created.body, '');

  const got = await proxy.request('GET', `/dhcp/${NET}/mac/${mac}`);
  assert.equal(got.status, 200, got.body);
  const rec = JSON.parse(got.body) as Record<string, unknown>;
  assert.equal(rec.ip, '192.168.122.44');
  assert.equal(rec.mac, mac);
  assert.equal(rec.type, 'reservation');
  assert.equal(rec.hostname, 'web1.example.test');
  assert.equal(rec.nextServer, '192.168.122.9');
  assert.equal(rec.filename, 'pxelinux.0');
  assert.equal(rec.subnet, `${NET}/255.255.255.0`);

  const offer = await lab.dhcpClient(mac);
  assert.equal(offer.code, 0, offer.output);
  assert.equal(offer.ip, '192.168.122.44', offer.output);
  assert.equal(offer.siaddr, '192.168.122.9', offer.output);
  assert.equal(offer.bootFile, 'pxelinux.0', offer.output);

  // The subnet listing: the reservation as Foreman reads it, and the lease the client now holds.
  const all = await proxy.request('GET', `/dhcp/${NET}`);
  assert.equal(all.status, 200, all.body);
  const listing = JSON.parse(all.body) as { reservations: Array<Record<string, unknown>>; leases: Array<Record<string, unknown>> };
  const mine = listing.reservations.find((r) => r.mac === mac);
  assert.deepEqual(Object.keys(mine ?? {}).slice(0, 7), ['name', 'ip', 'mac', 'subnet', 'type', 'deleteable', 'hostname']);
  assert.deepEqual(mine, {
    name: 'web1.example.test',
    ip: '192.168.122.44',
    mac,
    subnet: `${NET}/255.255.255.0`,
    type: 'reservation',
    deleteable: true,
    hostname: 'web1.example.test',
    nextServer: '192.168.122.9',
    filename: 'pxelinux.0',
  });
  const lease = listing.leases.find((l) => l.mac === mac);
  assert.equal(lease?.ip, '192.168.122.44', all.body);
  assert.equal(lease?.type, 'lease');
  assert.equal(lease?.state, 'active');
  assert.match(String(lease?.starts), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

  // Foreman re-posting the same reservation: 200 (the reference answers 409 here).
  const again = await proxy.request('POST', `/dhcp/${NET}`, { body: form });
  assert.equal(again.status, 200, again.body);
  const other = await proxy.request('POST', `/dhcp/${NET}`, { body: { ...form, filename: 'grubx64.efi' } });
  assert.equal(other.status, 409, other.body);
  assert.equal(other.body, `Record ${NET}/192.168.122.44 already exists`);

  const del = await proxy.request('DELETE', `/dhcp/${NET}/mac/${mac}`);
  assert.equal(del.status, 200, del.body);
  assert.deepEqual(await reservationsFor(mac), []);
  const gone = await proxy.request('GET', `/dhcp/${NET}/ip/192.168.122.44`);
  // The client's lease on .44 outlives the reservation (Kea keeps it until it expires).
  assert.ok(gone.status === 404 || (gone.status === 200 && (JSON.parse(gone.body) as Array<{ type: string }>)[0].type === 'lease'), gone.body);

  await assertPoolLeaseOnly(lab, mac, '192.168.122.44');
});

test('50 concurrent POSTs of one reservation: exactly one created, identical ones 200, different ones 409', async () => {
  const mac = '52:54:00:aa:cc:50';
  const form = { hostname: 'race.example.test', name: 'race.example.test', ip: '192.168.122.50', mac, network: NET };
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      proxy.request('POST', `/dhcp/${NET}`, { body: i % 2 === 1 ? { ...form, filename: `f${i}` } : form }),
    ),
  );
  const statuses = responses.map((r) => r.status);
  assert.deepEqual(
    statuses.filter((s) => s !== 200 && s !== 409),
    [],
    responses.map((r) => `${r.status} ${r.body}`).join('\n'),
  );
  const stored = await reservationsFor(mac);
  assert.equal(stored.length, 1);
  // Whichever request won, every request identical to it got 200 and every other one 409.
  const winnerFile = stored[0]['boot-file-name'] as string;
  responses.forEach((r, i) => {
    const file = i % 2 === 1 ? `f${i}` : '';
    assert.equal(r.status, file === winnerFile ? 200 : 409, `request ${i}: ${r.status} ${r.body}`);
  });
  // Nothing lost: the static reservation from the Kea configuration is still there.
  assert.equal((await reservationsFor('52:54:00:aa:bb:20')).length, 1);
  const offer = await lab.dhcpClient(mac);
  assert.equal(offer.ip, '192.168.122.50', offer.output);
});

test('validation errors name the field, before Kea is asked', async () => {
  const bad = await proxy.request('POST', `/dhcp/${NET}`, { body: { hostname: 'x', ip: '192.168.122.51', mac: 'nope' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body, 'Invalid MAC nope');
  const unknown = await proxy.request('GET', '/dhcp/10.9.0.0');
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body, 'Subnet 10.9.0.0 could not found');
});

test('Kea hung or down: a clear error within the deadline, not a hang; service resumes afterwards', async () => {
  lab.freezeAgent();
  try {
    const post = await proxy.request('POST', `/dhcp/${NET}`, {
      body: { hostname: 'h', ip: '192.168.122.52', mac: '52:54:00:aa:cc:52' },
    });
    assert.equal(post.status, 400, post.body);
    assert.match(post.body, /^dhcp\/kea: cannot [a-z ]+: Kea did not answer in time: no reply to '[a-z0-9-]+' from http:\/\/127\.0\.0\.1:\d+\/ within 3000 ms$/);
    // Requests arriving behind a hung agent do not each wait out their own deadline: until the
    // agent answers again they fail at once, saying why.
    const burst = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        i % 2 === 0
          ? proxy.request('GET', '/dhcp')
          : proxy.request('POST', `/dhcp/${NET}`, { body: { hostname: `h${i}`, ip: `192.168.122.${60 + i}`, mac: `52:54:00:aa:cc:6${i}` } }),
      ),
    );
    for (const r of burst) {
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /Kea did not answer in time: no reply to '[a-z0-9-]+' .* within 3000 ms; '[a-z0-9-]+' not sent, Kea is not asked again for [123] s$/);
    }
  } finally {
    lab.thawAgent();
  }
  await waitFor('the proxy to reach the thawed agent', async () => (await proxy.request('GET', '/dhcp')).status === 200, 15_000, 200);

  await lab.stopDhcp4();
  const down = await proxy.request('GET', `/dhcp/${NET}`);
  assert.equal(down.status, 400, down.body);
  assert.match(down.body, /^dhcp\/kea: cannot read the configuration: 'config-get' failed \(result 1\): unable to forward command to the dhcp4 service/);

  await lab.startDhcp4();
  const back = await proxy.request('GET', `/dhcp/${NET}`);
  assert.equal(back.status, 200, back.body);

  await lab.stopAgent();
  const noAgent = await proxy.request('POST', `/dhcp/${NET}`, {
    body: { hostname: 'h', ip: '192.168.122.52', mac: '52:54:00:aa:cc:52' },
  });
  assert.equal(noAgent.status, 400, noAgent.body);
  assert.match(noAgent.body, /^dhcp\/kea: cannot [a-z ]+: Kea Control Agent unreachable: cannot reach http:\/\/127\.0\.0\.1:\d+\/ for '[a-z0-9-]+': .*ECONNREFUSED/);
});
