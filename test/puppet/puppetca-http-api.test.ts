// Deadlines and the bulkhead of the Puppet CA client, against a local HTTP server that accepts
// connections and never answers (a hung CA). The real CA is exercised in puppet.test.ts.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { Bulkhead } from '../../src/core/bulkhead.ts';
import { ProxyError } from '../../src/core/errors.ts';
import { createPuppetServerClient, type PuppetServerClient } from '../../src/lib/puppet/server-client.ts';
import { puppetCaHttpApi } from '../../src/modules/puppetca/providers/puppetca_http_api/provider.ts';

let server: Server;
let client: PuppetServerClient;
const held: ServerResponse[] = [];
const seen: string[] = [];

before(async () => {
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    held.push(res); // never answered
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  client = await createPuppetServerClient({ puppet_url: `http://127.0.0.1:${port}/prefix/` }, { timeoutMs: 60_000, connections: 4 });
});

after(async () => {
  for (const r of held) r.destroy();
  await client.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

test('a hung CA fails the operation at its deadline, with the reason', async () => {
  const ca = puppetCaHttpApi(client, new Bulkhead({ name: 'puppetca', limit: 4, queue: 10 }), 300);
  await assert.rejects(ca.list(), /Timed out after \d+ ms waiting for http:\/\/127\.0\.0\.1:\d+\/prefix\/puppet-ca\/v1\/certificate_statuses\/foreman/);
  await assert.rejects(ca.clean('h.example.test'), /Timed out/);
  assert.ok(seen.includes('PUT /prefix/puppet-ca/v1/certificate_status/h.example.test'), 'the path prefix of puppet_url is kept');
});

test('when every slot is taken and the queue is full, callers get 503 at once', async () => {
  const ca = puppetCaHttpApi(client, new Bulkhead({ name: 'puppetca', limit: 1, queue: 0 }), 500);
  const first = ca.sign('a.example.test');
  await assert.rejects(ca.sign('b.example.test'), (err: unknown) => err instanceof ProxyError && err.status === 503 && err.headers['retry-after'] !== undefined);
  await assert.rejects(first, /Timed out/);
});
