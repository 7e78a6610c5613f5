// bind_host with IPv4 and IPv6 addresses, and `*` (every interface, dual-stack).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy } from '../../src/core/testing.ts';
import { freeTcpPort, tempDir, removeDir } from '../lib/procs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { httpsSettings, makePki } from '../lib/certs.ts';

/** The readiness line of the proxy's log, read through /logs. */
async function launchedLine(p: Awaited<ReturnType<typeof startTestProxy>>): Promise<string | undefined> {
  const logs = JSON.parse((await p.request('GET', '/logs/?from_timestamp=0')).body) as { logs: { message: string }[] };
  return logs.logs.map((e) => e.message).find((m) => m.startsWith('Smart proxy has launched'));
}

test('one listener bound to 127.0.0.1 and ::1 answers on both', async () => {
  const port = await freeTcpPort();
  const p = await startTestProxy({ global: { bind_host: ['127.0.0.1', '::1'], http_port: port } });
  try {
    const addrs = p.proxy.listeners[0].addresses.map((a) => a.host).sort();
    assert.deepEqual(addrs, ['127.0.0.1', '::1']);
    assert.equal((await fetchUrl(`http://127.0.0.1:${port}/features`)).status, 200);
    assert.equal((await fetchUrl(`http://[::1]:${port}/features`)).status, 200);
  } finally {
    await p.close();
  }
});

test("bind_host '*' listens on every interface, IPv4 and IPv6", async () => {
  const port = await freeTcpPort();
  const p = await startTestProxy({ global: { bind_host: '*', http_port: port } });
  try {
    assert.equal((await fetchUrl(`http://127.0.0.1:${port}/version`)).status, 200);
    assert.equal((await fetchUrl(`http://[::1]:${port}/version`)).status, 200);
  } finally {
    await p.close();
  }
});

test('the readiness line counts listeners (HTTP, HTTPS) as the reference does, not bound addresses', async () => {
  const port = await freeTcpPort();
  const one = await startTestProxy({ global: { bind_host: ['127.0.0.1', '::1'], http_port: port } });
  try {
    assert.equal(one.proxy.listeners[0].servers.length, 2);
    assert.equal(await launchedLine(one), 'Smart proxy has launched on 1 socket(s), waiting for requests');
  } finally {
    await one.close();
  }
  const dir = await tempDir('sp-launch');
  try {
    const two = await startTestProxy({ global: { ...httpsSettings(await makePki(dir)), bind_host: ['127.0.0.1', '::1'], http_port: 0 } });
    try {
      assert.equal(two.proxy.listeners.length, 2);
      assert.equal(await launchedLine(two), 'Smart proxy has launched on 2 socket(s), waiting for requests');
    } finally {
      await two.close();
    }
  } finally {
    await removeDir(dir);
  }
});
