// bind_host with IPv4 and IPv6 addresses, and `*` (every interface, dual-stack).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy } from '../../src/core/testing.ts';
import { freeTcpPort } from '../lib/procs.ts';
import { fetchUrl } from '../lib/https-client.ts';

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
