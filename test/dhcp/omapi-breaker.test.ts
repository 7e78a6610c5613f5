// Writes against a dhcpd that accepts OMAPI connections and never answers (a stand-in TCP server:
// a real dhcpd cannot be made to hang on demand). Each request must be answered within its
// deadline (omapi_timeout for the wait in the module's one-slot write queue, omapi_timeout for
// the OMAPI exchange), and once one exchange timed out the queued writes fail at once from the
// breaker instead of each waiting out its own timeout in turn.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy, type TestResponse } from '../../src/core/testing.ts';
import { removeDir, sleep, tempDir, waitFor } from '../lib/procs.ts';
import { iscProxyFiles } from './isc-env.ts';

const NET = '192.168.122.0';
/** omapi_timeout, seconds. */
const OMAPI_TIMEOUT = 2;

interface StandIn {
  port: number;
  connections: number;
  close(): Promise<void>;
}

/** A stand-in for a hung dhcpd: accepts TCP connections on loopback, reads, never answers. */
async function startStandInHungDhcpd(): Promise<StandIn> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => {
    standIn.connections++;
    sockets.push(s);
    s.on('error', () => undefined);
  });
  const standIn: StandIn = {
    port: 0,
    connections: 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  standIn.port = typeof addr === 'object' && addr ? addr.port : 0;
  return standIn;
}

let dir: string;
let standIn: StandIn;
let proxy: TestProxy;

before(async () => {
  dir = await tempDir('spisc-hung');
  await writeFile(join(dir, 'dhcpd.conf'), `subnet ${NET} netmask 255.255.255.0 {\n  range 192.168.122.100 192.168.122.200;\n}\n`);
  await writeFile(join(dir, 'dhcpd.leases'), '');
  standIn = await startStandInHungDhcpd();
  proxy = await startTestProxy({
    files: iscProxyFiles({
      config: join(dir, 'dhcpd.conf'),
      leases: join(dir, 'dhcpd.leases'),
      omapiPort: standIn.port,
      omapiTimeout: OMAPI_TIMEOUT,
      key: { name: 'omapi_key', secret: randomBytes(16).toString('base64') },
    }),
  });
});

after(async () => {
  await proxy?.close();
  await standIn?.close();
  if (dir) await removeDir(dir);
});

async function timedCreate(i: number): Promise<TestResponse & { ms: number }> {
  const started = Date.now();
  const r = await proxy.request('POST', `/dhcp/${NET}`, {
    body: { hostname: `hung${i}.example.test`, mac: `52:54:00:77:00:${i.toString(16).padStart(2, '0')}`, ip: `192.168.122.${10 + i}`, network: NET },
  });
  return { ...r, ms: Date.now() - started };
}

const BREAKER = /^Failed to add DHCP reservation for hung\d+\.example\.test \(.*\): No response from DHCP server \(omapi: 127\.0\.0\.1:\d+ is not answering/;

test('12 concurrent creates against a hung dhcpd: all answered within 2 × omapi_timeout, the queued ones at once by the breaker', async () => {
  const first = timedCreate(0);
  // The first write holds the slot and is waiting on the stand-in; the other 11 queue behind it.
  await waitFor('the first write to reach the stand-in', () => standIn.connections === 1, 5_000, 10);
  const results = await Promise.all([first, ...Array.from({ length: 11 }, (_, i) => timedCreate(i + 1))]);

  for (const [i, r] of results.entries()) {
    // The defect: the last answers came after 50 s (each write waited out the timeout in turn).
    assert.ok(r.ms < 2 * OMAPI_TIMEOUT * 1000, `request ${i} answered after ${r.ms} ms`);
  }
  assert.equal(results[0].status, 400, results[0].body);
  assert.match(results[0].body, /^Failed to add DHCP reservation for hung0\.example\.test .*: No response from DHCP server \(omapi: /);
  for (const r of results.slice(1)) {
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, BREAKER);
    assert.ok(Number(r.headers['retry-after']) >= 1, `retry-after ${r.headers['retry-after']}`);
  }
  // Only the first write reached the hung server.
  assert.equal(standIn.connections, 1);

  // After the open period one trial goes to the server again; a write sent with it fails at once after it.
  await sleep(OMAPI_TIMEOUT * 1000 + 200);
  const trial = timedCreate(20);
  await waitFor('the trial to reach the stand-in', () => standIn.connections === 2, 5_000, 10);
  const [t, next] = await Promise.all([trial, timedCreate(21)]);
  assert.equal(t.status, 400, t.body);
  assert.match(t.body, /No response from DHCP server \(omapi: .*within/);
  assert.ok(t.ms < 2 * OMAPI_TIMEOUT * 1000, `trial answered after ${t.ms} ms`);
  assert.equal(next.status, 503, next.body);
  assert.match(next.body, BREAKER);
  assert.ok(next.ms < 2 * OMAPI_TIMEOUT * 1000, `write after the trial answered after ${next.ms} ms`);
  assert.equal(standIn.connections, 2);
});
