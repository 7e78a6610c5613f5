// Registration relay (spec registration.md) against a stand-in Foreman (Foreman itself cannot run
// here): every forwarded header, parameter and body byte is recorded and checked, over HTTP and
// over HTTPS with a required client certificate; a burst is served in turn under the cap.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as undiciRequest, Agent } from 'undici';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { header, startGatedForeman, startStandInForeman, type StandInForeman, type StandInReply, type RecordedRequest } from '../lib/standin-foreman.ts';
import { tempDir, removeDir, freeTcpPort } from '../lib/procs.ts';
import { makePki, type Pki } from '../lib/certs.ts';

const SNIPPET = 'echo "Internal Server Error"\nexit 1\n';
const HTML = 'text/html;charset=utf-8';
const enabled = { templates: { ':enabled': true, ':template_url': 'http://proxy.example.com:8000' } };

describe('registration relay to a stand-in Foreman over HTTP', () => {
  let foreman: StandInForeman;
  let proxy: TestProxy;
  let reply: (r: RecordedRequest) => StandInReply;
  const last = (): RecordedRequest => foreman.requests[foreman.requests.length - 1];

  before(async () => {
    foreman = await startStandInForeman((r) => reply(r));
    proxy = await startTestProxy({
      global: { foreman_url: `${foreman.origin}/foreman/` },
      files: { ...enabled, registration: { ':enabled': true } },
    });
  });
  after(async () => {
    await proxy?.close();
    await foreman?.close();
  });

  test('the module runs and exposes registration_url (null when unset)', async () => {
    assert.equal(proxy.proxy.records.get('registration')?.state, 'running');
    const res = await proxy.request('GET', '/v2/features');
    const features = JSON.parse(res.body) as Record<string, { settings: Record<string, unknown>; state: string }>;
    assert.deepEqual(features['registration'].settings, { registration_url: null });
    assert.equal(features['registration'].state, 'running');
  });

  test('GET /register relays the query, url from the Host header, and the Bearer token', async () => {
    reply = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: '#!/bin/sh\necho registering\n' });
    const res = await proxy.request('GET', '/register?activation_keys=ak1&location_id=2&url=http://evil&bare', {
      headers: {
        host: 'proxy.example.com:8443',
        authorization: 'Bearer eyJhbGciOi.jwt',
        'user-agent': 'curl/7.76.1',
        accept: '*/*',
        'x-forwarded-for': '10.2.2.2',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], HTML);
    assert.equal(res.body, '#!/bin/sh\necho registering\n');
    const rec = last();
    assert.equal(rec.method, 'GET');
    // the absolute /register drops foreman_url's /foreman prefix (reference quirk)
    assert.equal(rec.path, '/register');
    assert.equal(rec.rawQuery, 'activation_keys=ak1&location_id=2&url=http%3A%2F%2Fproxy.example.com%3A8443');
    assert.equal(header(rec, 'authorization'), 'Bearer eyJhbGciOi.jwt');
    assert.equal(header(rec, 'user-agent'), 'curl/7.76.1');
    assert.equal(header(rec, 'accept'), '*/*, application/json,version=2, */*');
    assert.equal(header(rec, 'content-type'), 'application/json');
    // no X-Forwarded-For of its own: the host's header is relayed like any other
    assert.equal(header(rec, 'x-forwarded-for'), '10.2.2.2');
    assert.equal(header(rec, 'host'), new URL(foreman.origin).host);
    assert.equal(rec.body.length, 0);
  });

  test('/register/ is the same route; a Host without port gives a url without port', async () => {
    reply = () => ({ status: 200, body: 'script' });
    const res = await proxy.request('GET', '/register/?x=1', { headers: { host: 'proxy.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(last().rawQuery, 'x=1&url=http%3A%2F%2Fproxy.example.com');
  });

  test('X-Forwarded-Host and X-Forwarded-Proto shape the url', async () => {
    reply = () => ({ status: 200, body: 'script' });
    await proxy.request('GET', '/register', {
      headers: { host: 'internal:8000', 'x-forwarded-host': 'lb.example.com:9443', 'x-forwarded-proto': 'https' },
    });
    assert.equal(last().rawQuery, 'url=https%3A%2F%2Flb.example.com%3A9443');
  });

  test('POST with JSON: body verbatim, labelled JSON, query params plus url', async () => {
    reply = () => ({ status: 201, headers: { 'content-type': 'text/plain' }, body: 'host script' });
    const json = '{"host":{"name":"h1.example.com","interfaces_attributes":[{"mac":"aa:bb:cc:dd:ee:ff"}]}}';
    const res = await proxy.request('POST', '/register?setup_insights=false', {
      body: json,
      headers: { 'content-type': 'application/json', host: 'proxy.example.com:8000', authorization: 'Bearer j' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'host script');
    const rec = last();
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/register');
    assert.equal(rec.rawQuery, 'setup_insights=false&url=http%3A%2F%2Fproxy.example.com%3A8000');
    assert.equal(header(rec, 'content-type'), 'application/json');
    assert.equal(header(rec, 'authorization'), 'Bearer j');
    assert.equal(rec.body.toString(), json);
  });

  test('POST with an exact form content type: body verbatim, form type kept, only url in the query', async () => {
    reply = () => ({ status: 200, body: 'host script' });
    const form = 'host%5Bname%5D=h1&host%5Bbuild%5D=true&uuid=abc';
    const res = await proxy.request('POST', '/register?dropped=1', {
      body: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: 'proxy.example.com:8000' },
    });
    assert.equal(res.status, 200);
    const rec = last();
    assert.equal(rec.rawQuery, 'url=http%3A%2F%2Fproxy.example.com%3A8000');
    assert.equal(header(rec, 'content-type'), 'application/x-www-form-urlencoded');
    assert.equal(rec.body.toString(), form);
  });

  test('POST form with a charset takes the JSON branch (reference quirk)', async () => {
    reply = () => ({ status: 200, body: 'host script' });
    const res = await proxy.request('POST', '/register?q=1', {
      body: 'uuid=abc&name=h1',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8', host: 'p:1' },
    });
    assert.equal(res.status, 200);
    const rec = last();
    assert.equal(header(rec, 'content-type'), 'application/json');
    assert.equal(rec.body.toString(), 'uuid=abc&name=h1');
    assert.equal(rec.rawQuery, 'q=1&uuid=abc&name=h1&url=http%3A%2F%2Fp%3A1');
  });

  test('error statuses: text/plain bodies pass through, others become the shell snippet', async () => {
    reply = () => ({ status: 401, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'echo "Unauthorized"\nexit 1\n' });
    let res = await proxy.request('GET', '/register');
    assert.equal(res.status, 401);
    assert.equal(res.headers['content-type'], HTML);
    assert.equal(res.body, 'echo "Unauthorized"\nexit 1\n');

    reply = () => ({ status: 422, headers: { 'content-type': 'text/html' }, body: '<html>bad</html>' });
    res = await proxy.request('POST', '/register', { body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 422);
    assert.equal(res.headers['content-type'], HTML);
    assert.equal(res.body, SNIPPET);

    reply = () => ({ status: 500, headers: { 'content-type': 'application/json' }, body: '{"error":1}' });
    res = await proxy.request('GET', '/register');
    assert.equal(res.status, 500);
    assert.equal(res.body, SNIPPET);

    reply = () => ({ status: 404, headers: {}, body: '' });
    res = await proxy.request('GET', '/register');
    assert.equal(res.status, 500);
    assert.equal(res.body, SNIPPET);
  });

  test('list params cannot be relayed: 500 with the shell snippet, Foreman not called', async () => {
    const before = foreman.requests.length;
    const res = await proxy.request('GET', '/register?a[]=1');
    assert.equal(res.status, 500);
    assert.equal(res.body, SNIPPET);
    assert.equal(foreman.requests.length, before);
  });
});

describe('registration relay: settings and failures with a stand-in Foreman', () => {
  test('registration_url (trailing / removed) is sent as url and exposed', async () => {
    const foreman = await startStandInForeman(() => ({ status: 200, body: 'ok' }));
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin },
      files: { ...enabled, registration: { ':enabled': true, ':registration_url': 'https://lb.example.com/' } },
    });
    try {
      const res = await proxy.request('GET', '/register?o=1', { headers: { host: 'ignored:1' } });
      assert.equal(res.status, 200);
      assert.equal(foreman.requests[0].rawQuery, 'o=1&url=https%3A%2F%2Flb.example.com');
      const features = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, { settings: unknown }>;
      assert.deepEqual(features['registration'].settings, { registration_url: 'https://lb.example.com' });
    } finally {
      await proxy.close();
      await foreman.close();
    }
  });

  test('an invalid registration_url fails the module', async () => {
    const proxy = await startTestProxy({
      global: { foreman_url: 'http://127.0.0.1:1' },
      files: { ...enabled, registration: { ':enabled': true, ':registration_url': 'lb.example.com' } },
    });
    try {
      assert.equal(proxy.proxy.records.get('registration')?.state, 'failed');
      assert.match(proxy.proxy.failedModules['registration'] ?? '', /Setting 'registration_url' is missing a scheme/);
    } finally {
      await proxy.close();
    }
  });

  test('without templates the module fails with the dependency message', async () => {
    const proxy = await startTestProxy({ global: { foreman_url: 'http://127.0.0.1:1' }, files: { registration: { ':enabled': true } } });
    try {
      assert.equal(proxy.proxy.records.get('registration')?.state, 'failed');
      assert.match(proxy.proxy.failedModules['registration'] ?? '', /'templates' required by 'registration' could not be found\./);
    } finally {
      await proxy.close();
    }
  });

  test('connection refused and a hung stand-in give 500 with the shell snippet', async () => {
    const port = await freeTcpPort();
    const refused = await startTestProxy({ global: { foreman_url: `http://127.0.0.1:${port}` }, files: { ...enabled, registration: { ':enabled': true } } });
    const hung = await startStandInForeman(() => ({ hang: true }));
    const slow = await startTestProxy({
      global: { foreman_url: hung.origin },
      files: { ...enabled, registration: { ':enabled': true, ':upstream_timeout': 0.3 } },
    });
    try {
      for (const p of [refused, slow]) {
        const res = await p.request('POST', '/register', { body: '{}', headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 500);
        assert.equal(res.headers['content-type'], HTML);
        assert.equal(res.body, SNIPPET);
      }
    } finally {
      await refused.close();
      await slow.close();
      await hung.close();
    }
  });

  test('a burst is served in turn: never more than the cap at the stand-in, every host answered', async () => {
    const foreman = await startStandInForeman(() => ({ status: 200, body: 'script', delayMs: 20 }));
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin },
      files: { ...enabled, registration: { ':enabled': true, ':upstream_concurrency': 3, ':upstream_queue': 100 } },
    });
    const agent = new Agent({ connections: 50 });
    try {
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const res = await undiciRequest(`${proxy.baseUrl}/register?n=${i}`, { dispatcher: agent });
          return { status: res.statusCode, body: await res.body.text() };
        }),
      );
      assert.equal(results.filter((r) => r.status === 200 && r.body === 'script').length, 40);
      assert.equal(foreman.requests.length, 40);
      assert.ok(foreman.maxInFlight <= 3, `max in flight ${foreman.maxInFlight}`);
      assert.ok(foreman.maxInFlight >= 2, `the burst should have overlapped (max ${foreman.maxInFlight})`);
    } finally {
      await agent.close();
      await proxy.close();
      await foreman.close();
    }
  });

  test('a full queue answers 503 with Retry-After and a script that exits 1', async () => {
    const { foreman, release, received } = await startGatedForeman({ status: 200, body: 'late' });
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin },
      files: { ...enabled, registration: { ':enabled': true, ':upstream_concurrency': 1, ':upstream_queue': 1 } },
    });
    try {
      const first = proxy.request('GET', '/register?n=1');
      await received(1);
      // the slot is taken; of two more, one waits in the queue (size 1) and one is refused
      const pending = [proxy.request('GET', '/register?n=2'), proxy.request('GET', '/register?n=3')];
      const refused = await Promise.race(pending.map((p) => p.then((r) => (r.status === 503 ? r : new Promise<never>(() => undefined)))));
      assert.equal(refused.status, 503);
      assert.equal(refused.headers['retry-after'], '5');
      assert.equal(refused.headers['content-type'], HTML);
      assert.match(refused.body, /^echo ".*try again later"\nexit 1\n$/);
      release();
      const statuses = (await Promise.all([first, ...pending])).map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 503]);
    } finally {
      release();
      await proxy.close();
      await foreman.close();
    }
  });
});

describe('registration relay to a stand-in Foreman over HTTPS with client certificates', () => {
  let dir: string;
  let pki: Pki;
  let proxyCert: { cert: string; key: string };
  before(async () => {
    dir = await tempDir('reg-tls');
    pki = await makePki(dir);
    proxyCert = await pki.client('proxy.test');
  });
  after(async () => {
    await removeDir(dir);
  });

  test('client certificate presented, CA verified; on the proxy TLS listener the url is https', async () => {
    const foreman = await startStandInForeman(() => ({ status: 200, body: 'secure script' }), {
      cert: pki.serverCert,
      key: pki.serverKey,
      clientCa: pki.caCert,
    });
    const proxy = await startTestProxy({
      global: {
        foreman_url: foreman.origin,
        ssl_ca_file: pki.caCert,
        ssl_certificate: pki.serverCert,
        ssl_private_key: pki.serverKey,
        foreman_ssl_cert: proxyCert.cert,
        foreman_ssl_key: proxyCert.key,
        https_port: 0,
      },
      files: { ...enabled, registration: { ':enabled': true } },
    });
    const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
    const agent = new Agent({ connect: { ca: readFileSync(pki.caCert) } });
    try {
      assert.ok(https, 'the proxy has an https listener');
      const port = https.addresses[0].port;
      const res = await undiciRequest(`https://127.0.0.1:${port}/register?x=1`, {
        dispatcher: agent,
        headers: { host: `localhost:${port}`, authorization: 'Bearer z' },
      });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'secure script');
      const rec = foreman.requests[0];
      assert.equal(rec.clientCn, 'proxy.test');
      assert.equal(rec.rawQuery, `x=1&url=https%3A%2F%2Flocalhost%3A${port}`);
      assert.equal(rec.headers['authorization'], 'Bearer z');
    } finally {
      await agent.close();
      await proxy.close();
      await foreman.close();
    }
  });
});
