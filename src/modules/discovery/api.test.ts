// /discovery in-process (fastify inject) with fake transports standing in for Foreman and the
// discovered nodes: what is relayed where (URL, method, headers, body), the answers, the address
// checks (IP literals only, IPv6 bracketed) and the error statuses. The real relay over sockets
// and TLS is tested in test/discovery/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import { defineModule } from '../../core/module.ts';
import { HttpClientError } from '../../lib/http/client.ts';
import discovery from './module.ts';
import { discoveryModule, FACTS_PATH, type RelayAnswer, type RelayRequest, type Transport } from './api.ts';

const JSON_TYPE = 'application/json';
const FACTS = '{"facts":{"discovery_bootif":"52:54:00:12:34:56","ipaddress":"192.168.100.23"}}';

interface Fake {
  calls: RelayRequest[];
  transport: Transport;
  answer: (r: RelayRequest) => RelayAnswer | Promise<RelayAnswer>;
}

function fake(answer: Fake['answer']): Fake {
  const f: Fake = {
    calls: [],
    answer,
    transport: async (r) => {
      f.calls.push(r);
      return f.answer(r);
    },
  };
  return f;
}

async function mount(t: import('node:test').TestContext, settings: Record<string, unknown> = {}, node?: Fake, foreman?: Fake) {
  const def = defineModule({
    ...discovery,
    create: (ctx) => discoveryModule(ctx.settings, ctx.global, ctx.log, { ...(node ? { node: node.transport } : {}), ...(foreman ? { foreman: foreman.transport } : {}) }),
  });
  return mountModule(def, { settings }, t);
}

test('the fact upload is relayed byte for byte to Foreman and answered 200 with an empty JSON body', async (t) => {
  const foreman = fake(() => ({ status: 201, body: '{"id":5,"name":"mac525400123456"}' }));
  const { app } = await mount(t, {}, undefined, foreman);
  const res = await app.inject({ method: 'POST', url: '/discovery/create', payload: FACTS, headers: { 'content-type': JSON_TYPE } });
  assertAnswer(res, 200, '', JSON_TYPE);
  assert.equal(foreman.calls.length, 1);
  const call = foreman.calls[0];
  assert.equal(call?.method, 'POST');
  assert.equal(call?.url, FACTS_PATH);
  assert.equal(call?.headers['accept'], 'application/json,version=2');
  assert.equal(call?.headers['content-type'], JSON_TYPE);
  assert.equal(Buffer.from(call?.body ?? '').toString(), FACTS);
});

test("Foreman's refusal is a 500 naming its status and message (N/A when it has none)", async (t) => {
  const foreman = fake(() => ({ status: 422, body: '{"message":"Validation failed: Name has already been taken"}' }));
  const { app } = await mount(t, {}, undefined, foreman);
  const post = () => app.inject({ method: 'POST', url: '/discovery/create', payload: FACTS, headers: { 'content-type': JSON_TYPE } });
  assertAnswer(await post(), 500, 'Discovery failed, code 422, reason: Validation failed: Name has already been taken');
  foreman.answer = () => ({ status: 500, body: '<h1>oops</h1>' });
  assertAnswer(await post(), 500, 'Discovery failed, code 500, reason: N/A');
  foreman.answer = () => ({ status: 404, body: '{"error":{"message":"Resource discovered_host not found"}}' });
  assertAnswer(await post(), 500, 'Discovery failed, code 404, reason: Resource discovered_host not found');
});

test('an upload that is not a facts document is refused with 400 and not relayed', async (t) => {
  const foreman = fake(() => ({ status: 200, body: '' }));
  const { app } = await mount(t, {}, undefined, foreman);
  for (const payload of ['not json', '[]', '{"facts":[]}', '{"nofacts":{}}', '{"facts":"x"}']) {
    const res = await app.inject({ method: 'POST', url: '/discovery/create', payload, headers: { 'content-type': JSON_TYPE } });
    assert.equal(res.statusCode, 400, payload);
    assert.match(res.body, /^Invalid discovery upload: /);
  }
  assert.equal(foreman.calls.length, 0);
});

test('without foreman_url the upload fails with the reference message', async (t) => {
  const { app } = await mountModule(discovery, {}, t);
  const res = await app.inject({ method: 'POST', url: '/discovery/create', payload: FACTS, headers: { 'content-type': JSON_TYPE } });
  assertAnswer(res, 500, 'missing :foreman_url: from configuration.');
});

test("Foreman's node calls reach <node_scheme>://<ip>:<node_port> with the right method and body", async (t) => {
  const node = fake((r) => ({ status: 200, body: r.url.endsWith('/inventory/facter') ? '{"hostname":"mac52"}' : '{"result":true}' }));
  const { app } = await mount(t, {}, node);

  assertAnswer(await app.inject({ method: 'GET', url: '/discovery/192.168.100.23/inventory/facter' }), 200, '{"hostname":"mac52"}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'GET', url: '/discovery/192.168.100.23/facts' }), 200, '{"result":true}', JSON_TYPE);
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/reboot' }), 200, '{"result":true}', JSON_TYPE);
  const kexec = '{"kernel":"http://example.com/vmlinuz","initram":"http://example.com/initrd.img","append":"ks=x","extra":[]}';
  assertAnswer(
    await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/kexec', payload: kexec, headers: { 'content-type': JSON_TYPE } }),
    200,
    '{"result":true}',
  );
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/reboot' }), 200, '{"result":true}');

  assert.deepEqual(
    node.calls.map((c) => `${c.method} ${c.url}`),
    [
      'GET https://192.168.100.23:8443/inventory/facter',
      'GET https://192.168.100.23:8443/facts',
      'PUT https://192.168.100.23:8443/power/reboot',
      'PUT https://192.168.100.23:8443/power/kexec',
      'PUT http://192.168.100.23:8443/bmc/192.168.100.23/chassis/power/cycle',
    ],
  );
  assert.equal(Buffer.from(node.calls[3]?.body ?? '').toString(), kexec);
  assert.equal(node.calls[3]?.headers['content-type'], JSON_TYPE);
  assert.equal(node.calls[2]?.body, '');
  assert.equal(node.calls[0]?.body, undefined);
});

test('IPv6 nodes are bracketed in the URL (given with or without brackets); node_scheme and node_port apply', async (t) => {
  const node = fake(() => ({ status: 200, body: '{}' }));
  const { app } = await mount(t, { node_scheme: 'http', node_port: 9090 }, node);
  assert.equal((await app.inject({ method: 'GET', url: '/discovery/2001:db8::23/inventory/facter' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'PUT', url: '/discovery/[2001:db8::24]/power/reboot' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'PUT', url: '/discovery/2001%3Adb8%3A%3A25/power/reboot' })).statusCode, 200);
  assert.deepEqual(
    node.calls.map((c) => c.url),
    ['http://[2001:db8::23]:9090/inventory/facter', 'http://[2001:db8::24]:9090/power/reboot', 'http://[2001:db8::25]:9090/power/reboot'],
  );
});

test('anything but a unicast IP literal is refused with 400 naming the parameter, and nothing is called', async (t) => {
  const node = fake(() => ({ status: 200, body: '{}' }));
  const { app } = await mount(t, {}, node);
  const bad = [
    'node.example.com',
    '192.168.100.23:22',
    '192.168.100.23%2F..%2Fadmin',
    'user@192.168.100.23',
    '192.168.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    'ff02::1',
    'fe80::1%25eth0',
    '169.254.169.254.example.com',
  ];
  for (const ip of bad) {
    const res = await app.inject({ method: 'PUT', url: `/discovery/${ip}/power/reboot` });
    assert.equal(res.statusCode, 400, `${ip}: ${res.body}`);
    assert.match(res.body, /^Invalid node address '.*' \(parameter ip\): /);
  }
  assert.equal(node.calls.length, 0);
});

test('node_networks limits the nodes relayed to (403 outside)', async (t) => {
  const node = fake(() => ({ status: 200, body: '{}' }));
  const { app } = await mount(t, { node_networks: ['192.168.100.0/24', '2001:db8:100::/64'] }, node);
  assert.equal((await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/reboot' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'PUT', url: '/discovery/2001:db8:100::5/power/reboot' })).statusCode, 200);
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/10.0.0.5/power/reboot' }), 403, 'Node address 10.0.0.5 is outside :node_networks: of discovery.yml');
  assert.equal((await app.inject({ method: 'PUT', url: '/discovery/2001:db8:200::5/power/reboot' })).statusCode, 403);
  assert.equal(node.calls.length, 2);
});

test('settings rules: node_networks entries must be networks; node_ssl_ca needs node_verify_tls', () => {
  const base = { node_scheme: 'https', node_port: 8443, node_verify_tls: false, node_timeout: 18, node_concurrency: 1, node_queue: 1 } as const;
  const validate = discovery.validate;
  assert.ok(validate);
  const settings = (extra: Record<string, unknown>) => ({ ...base, upstream_timeout: 1, upstream_concurrency: 1, upstream_queue: 1, upstream_queue_timeout: 1, ...extra }) as Parameters<typeof validate>[0];
  assert.equal(validate(settings({ node_networks: ['10.0.0.0/8'] })), undefined);
  assert.equal(validate(settings({ node_networks: ['10.0.0.0/33'] }))?.key, 'node_networks');
  assert.equal(validate(settings({ node_networks: ['lab.example.com'] }))?.key, 'node_networks');
  assert.equal(validate(settings({ node_ssl_ca: '/etc/ca.pem' }))?.key, 'node_ssl_ca');
  assert.equal(validate(settings({ node_ssl_ca: '/etc/ca.pem', node_verify_tls: true })), undefined);
});

test("a node's HTTP error passes its status on with the reference's message; other non-2xx answers are 502", async (t) => {
  const node = fake(() => ({ status: 404, body: 'Not found here' }));
  const { app } = await mount(t, {}, node);
  assertAnswer(await app.inject({ method: 'GET', url: '/discovery/192.168.100.23/inventory/facter' }), 404, 'Proxy error HTTP 404 (Not Found): Not found here');
  node.answer = () => ({ status: 500, body: '{"result":false}' });
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/kexec', payload: '{}' }), 500, 'Proxy error HTTP 500 (Internal Server Error): {"result":false}');
  node.answer = () => ({ status: 302, body: '' });
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/reboot' }), 502, 'Proxy error HTTP 302 (Found): ');
});

test('an unreachable node is a 502 and a node past its deadline a 504, with the reason', async (t) => {
  const node = fake((r) => {
    throw new HttpClientError('connect', r.url, 'Failed to open TCP connection to 192.168.100.23:8443 (connect ECONNREFUSED)');
  });
  const { app } = await mount(t, {}, node);
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/reboot' }), 502, /^Failed to open TCP connection to 192\.168\.100\.23:8443/);
  node.answer = (r) => {
    throw new HttpClientError('timeout', r.url, 'Timed out after 18000 ms waiting for the response headers');
  };
  assertAnswer(await app.inject({ method: 'PUT', url: '/discovery/192.168.100.23/power/reboot' }), 504, /^Timed out after 18000 ms/);
});

test('node calls beyond node_concurrency + node_queue are refused with 503 and Retry-After', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const node = fake(async () => {
    await gate;
    return { status: 200, body: '{"result":true}' };
  });
  const { app } = await mount(t, { node_concurrency: 1, node_queue: 1 }, node);
  const first = app.inject({ method: 'PUT', url: '/discovery/192.168.100.1/power/reboot' });
  const second = app.inject({ method: 'PUT', url: '/discovery/192.168.100.2/power/reboot' });
  // Let both reach the bulkhead before the third arrives.
  while (node.calls.length < 1) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  const third = await app.inject({ method: 'PUT', url: '/discovery/192.168.100.3/power/reboot' });
  assert.equal(third.statusCode, 503);
  assert.equal(third.headers['retry-after'], '5');
  release();
  assert.equal((await first).statusCode, 200);
  assert.equal((await second).statusCode, 200);
});
