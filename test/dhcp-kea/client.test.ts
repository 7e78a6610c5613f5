// The Control Agent client's handling of what can come back over HTTP. The real agent is driven by
// the other tests here; in this file a loopback HTTP server stands in for it so the odd cases
// (garbage, huge replies, silence, trickling bodies) can be produced on demand.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeaClient, KeaError } from '../../src/lib/kea/client.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
let handler: Handler = (_req, _body, res) => res.end('[]');
const seen: Array<{ body: string; auth: string | undefined }> = [];
const sockets = new Set<import('node:net').Socket>();

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    seen.push({ body, auth: req.headers.authorization });
    handler(req, body, res);
  });
});
server.on('connection', (s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

function client(timeoutMs = 2000, extra: Partial<ConstructorParameters<typeof KeaClient>[0]> = {}): KeaClient {
  return new KeaClient({ url, timeoutMs, ...extra });
}

async function kind(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof KeaError, String(err));
    return `${err.kind}:${err.message}`;
  }
}

test('stand-in agent: sends command, service and arguments as JSON with basic auth, returns the first reply', async () => {
  handler = (_req, _body, res) => res.end('[ { "result": 0, "text": "ok", "arguments": { "x": 1 } } ]');
  const c = client(2000, { user: 'foreman', password: 'pw' });
  const reply = await c.command<{ x: number }>('config-get', { a: 1 }, { service: 'dhcp4' });
  assert.deepEqual(reply, { result: 0, text: 'ok', arguments: { x: 1 } });
  const last = seen.at(-1)!;
  assert.deepEqual(JSON.parse(last.body), { command: 'config-get', service: ['dhcp4'], arguments: { a: 1 } });
  assert.equal(last.auth, `Basic ${Buffer.from('foreman:pw').toString('base64')}`);
  await c.close();
});

test('stand-in agent: result codes other than success are errors, "empty" only when allowed', async () => {
  const c = client();
  handler = (_req, _body, res) => res.end('[ { "result": 3, "text": "0 IPv4 lease(s) found.", "arguments": { "leases": [] } } ]');
  assert.equal((await c.command('lease4-get-all', {}, { service: 'dhcp4', allowEmpty: true })).result, 3);
  assert.match(await kind(c.command('lease4-get-all', {}, { service: 'dhcp4' })), /^command:'lease4-get-all' failed \(result 3\): 0 IPv4/);
  handler = (_req, _body, res) => res.end('[ { "result": 2, "text": "\'reservation-add\' command not supported." } ]');
  const err = await c.command('reservation-add').catch((e: unknown) => e);
  assert.ok(err instanceof KeaError);
  assert.equal(err.code, 2);
  await c.close();
});

test('stand-in agent: HTTP errors, non-JSON, shapeless and oversized replies are protocol errors', async () => {
  const c = client(2000, { maxReplyBytes: 1000 });
  handler = (_req, _body, res) => {
    res.statusCode = 401;
    res.end('{ "result": 401, "text": "Unauthorized" }');
  };
  assert.match(await kind(c.command('list-commands')), /^http:HTTP 401 for 'list-commands': authentication failed/);
  handler = (_req, _body, res) => {
    res.statusCode = 500;
    res.end('boom');
  };
  assert.match(await kind(c.command('list-commands')), /^http:HTTP 500 for 'list-commands': boom/);
  handler = (_req, _body, res) => res.end('<html>proxy error</html>');
  assert.match(await kind(c.command('list-commands')), /^protocol:reply to 'list-commands' is not JSON/);
  handler = (_req, _body, res) => res.end('[ { "text": "no result" } ]');
  assert.match(await kind(c.command('list-commands')), /^protocol:reply to 'list-commands' has no result code/);
  handler = (_req, _body, res) => res.end(`[ { "result": 0, "text": "${'x'.repeat(5000)}" } ]`);
  assert.match(await kind(c.command('config-get')), /^protocol:reply to 'config-get' exceeds 1000 bytes/);
  await c.close();
});

test('stand-in agent: silence and a trickling body both end at the deadline', async () => {
  const c = client(300, { failFastMs: 0 });
  handler = () => undefined; // never answers
  assert.match(await kind(c.command('config-get')), /^timeout:no reply to 'config-get' from .* within 300 ms/);
  handler = (_req, _body, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('[');
    const t = setInterval(() => {
      if (res.destroyed) clearInterval(t);
      else res.write(' ');
    }, 50);
    res.on('close', () => clearInterval(t));
  };
  assert.match(await kind(c.command('config-get')), /^timeout:/);
  await c.close();
});

test('stand-in agent: after a timeout, commands fail fast until the agent answers again', async () => {
  const c = client(200, { failFastMs: 60_000 });
  handler = () => undefined;
  assert.match(await kind(c.command('config-get')), /^timeout:no reply to 'config-get' .* within 200 ms$/);
  const before = seen.length;
  assert.match(
    await kind(c.command('lease4-get')),
    /^timeout:no reply to 'config-get' .* within 200 ms; 'lease4-get' not sent, Kea is not asked again for 60 s$/,
  );
  assert.equal(seen.length, before); // nothing was sent
  await c.close();
  // Window over (failFastMs 1): the next command is sent, and an answer closes the breaker.
  const d = client(200, { failFastMs: 1 });
  assert.match(await kind(d.command('config-get')), /^timeout:/);
  await new Promise((r) => setTimeout(r, 5));
  handler = (_req, _body, res) => res.end('[ { "result": 0 } ]');
  assert.equal((await d.command('config-get')).result, 0);
  await d.close();
});

test('nothing listening: unreachable', async () => {
  const c = new KeaClient({ url: 'http://127.0.0.1:1/', timeoutMs: 1000 });
  assert.match(await kind(c.command('list-commands')), /^unreachable:cannot reach http:\/\/127\.0\.0\.1:1\/ for 'list-commands': .*ECONNREFUSED/);
  await c.close();
});
