// The native OMAPI client against a real ISC dhcpd (HMAC-SHA256 key) in a network namespace.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { OmapiClient, OmapiError } from '../../src/lib/omapi/client.ts';
import { startIscEnv, type IscEnv } from './isc-env.ts';

let env: IscEnv;

before(async () => {
  env = await startIscEnv({ keyAlgorithm: 'hmac-sha256' });
  await env.startDhcpd();
});

after(async () => {
  await env?.close();
});

const client = (secret = env.keySecret, timeoutMs = 5000): OmapiClient =>
  new OmapiClient({
    host: '127.0.0.1',
    port: env.omapiPort,
    key: { name: env.keyName, secret, algorithm: 'hmac-sha256' },
    requestTimeoutMs: timeoutMs,
  });

test('create, find, conflict, delete over one connection', async () => {
  const c = client();
  try {
    const h = await c.createHost({ name: 'o1.example.test', ip: '192.168.122.40', mac: '52:54:00:0a:00:01', statements: 'option host-name = "o1";' });
    assert.deepEqual(h, { name: 'o1.example.test', ip: '192.168.122.40', mac: '52:54:00:0a:00:01', hardwareType: 1 });
    const found = await c.findHost({ mac: '52:54:00:0a:00:01' });
    assert.equal(found?.host.name, 'o1.example.test');
    await assert.rejects(
      c.createHost({ name: 'o1.example.test', ip: '192.168.122.40', mac: '52:54:00:0a:00:01' }),
      (e: unknown) => e instanceof OmapiError && e.kind === 'status' && e.result === 18,
    );
    assert.equal(await c.findHost({ mac: '52:54:00:0a:00:99' }), undefined);
    const updated = await c.updateHost({ mac: '52:54:00:0a:00:01' }, { ip: '192.168.122.41' });
    assert.equal(updated?.ip, '192.168.122.41');
    assert.equal((await c.findHost({ name: 'o1.example.test' }))?.host.ip, '192.168.122.41');
    assert.equal(await c.updateHost({ mac: '52:54:00:0a:00:98' }, { ip: '192.168.122.42' }), undefined);
    assert.equal(await c.deleteHost({ mac: '52:54:00:0a:00:01' }), true);
    assert.equal(await c.deleteHost({ mac: '52:54:00:0a:00:01' }), false);
    const leases = await readFile(env.leases, 'utf8');
    assert.match(leases, /host o1\.example\.test \{\n\s+dynamic;\n\s+deleted;/);
  } finally {
    c.close();
  }
});

test('a wrong key is refused with an auth error, not a hang', async () => {
  const c = client(Buffer.alloc(32, 1).toString('base64'));
  try {
    await assert.rejects(c.findHost({ mac: '52:54:00:0a:00:01' }), (e: unknown) => e instanceof OmapiError && ['auth', 'closed'].includes(e.kind));
  } finally {
    c.close();
  }
});

test('dhcpd restarted: the next request reconnects; dhcpd down: a clear error within the deadline', async () => {
  const c = client(env.keySecret, 2000);
  try {
    assert.equal(await c.findHost({ name: 'nobody' }), undefined);
    await env.stopDhcpd();
    await assert.rejects(c.findHost({ name: 'nobody' }), (e: unknown) => e instanceof OmapiError && ['closed', 'connect', 'timeout'].includes(e.kind));
    await env.startDhcpd();
    assert.equal(await c.findHost({ name: 'nobody' }), undefined);
  } finally {
    c.close();
  }
});

test('nothing listening: connect error', async () => {
  const c = new OmapiClient({ host: '127.0.0.1', port: 1, requestTimeoutMs: 2000 });
  await assert.rejects(c.findHost({ name: 'x' }), (e: unknown) => e instanceof OmapiError && e.kind === 'connect' && /ECONNREFUSED/.test(e.message));
  c.close();
});
