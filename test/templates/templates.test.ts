// Templates relay (spec templates.md) against a stand-in Foreman (Foreman itself cannot run
// here): the stand-in records every forwarded header, parameter and body byte, over plain HTTP
// and over HTTPS with a required client certificate.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { header, startGatedForeman, startStandInForeman, type StandInForeman, type StandInReply, type RecordedRequest } from '../lib/standin-foreman.ts';
import { tempDir, removeDir, freeTcpPort } from '../lib/procs.ts';
import { makePki, type Pki } from '../lib/certs.ts';

const TEMPLATE_URL = 'http://proxy.example.com:8000';
const ENC_TEMPLATE_URL = 'http%3A%2F%2Fproxy.example.com%3A8000';

function templatesFile(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ':enabled': true, ':template_url': TEMPLATE_URL, ...extra };
}

/** A request with the path sent byte for byte (undici would normalise `%2E%2E`). */
function rawRequest(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const u = new URL(base);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('templates relay to a stand-in Foreman over HTTP', () => {
  let foreman: StandInForeman;
  let proxy: TestProxy;
  let reply: (r: RecordedRequest) => StandInReply;

  before(async () => {
    foreman = await startStandInForeman((r) => reply(r));
    proxy = await startTestProxy({
      global: { foreman_url: `${foreman.origin}/foreman` },
      files: { templates: templatesFile() },
    });
  });
  after(async () => {
    await proxy?.close();
    await foreman?.close();
  });
  const last = (): RecordedRequest => foreman.requests[foreman.requests.length - 1];

  test('the module is running and templateServer answers locally', async () => {
    assert.equal(proxy.proxy.records.get('templates')?.state, 'running');
    assert.equal(proxy.proxy.failedModules['templates'], undefined);
    const before = foreman.requests.length;
    const res = await proxy.request('GET', '/unattended/templateServer');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(res.body), { templateServer: TEMPLATE_URL });
    assert.equal(foreman.requests.length, before);
  });

  test('GET /unattended/:kind relays path, params, headers and the host address', async () => {
    reply = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: '#kickstart\nreboot\n' });
    const res = await proxy.request('GET', '/unattended/provision?token=abc&mac=aa:bb&url=http://evil.example.com&bare', {
      headers: {
        'User-Agent': 'anaconda/34',
        'X-RHN-Provisioning-MAC-0': 'eth0 aa:bb:cc:dd:ee:ff',
        Authorization: 'Bearer t0k3n',
        accept: 'text/plain',
        'X-Forwarded-For': '10.9.9.9',
        'X-Custom-Thing': 'kept',
      },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body, '#kickstart\nreboot\n');
    assert.equal(res.headers['content-type'], 'text/html;charset=utf-8');
    const rec = last();
    assert.equal(rec.method, 'GET');
    assert.equal(rec.path, '/foreman/unattended/provision');
    // order kept, `:` encoded, the client's url replaced and appended last, the bare key dropped
    assert.equal(rec.rawQuery, `token=abc&mac=aa%3Abb&url=${ENC_TEMPLATE_URL}`);
    assert.equal(header(rec, 'x-forwarded-for'), '127.0.0.1');
    assert.equal(header(rec, 'accept'), '*/*, application/json,version=2, text/plain');
    assert.equal(header(rec, 'content-type'), 'application/json');
    assert.equal(header(rec, 'user-agent'), 'anaconda/34');
    assert.equal(header(rec, 'x-rhn-provisioning-mac-0'), 'eth0 aa:bb:cc:dd:ee:ff');
    assert.equal(header(rec, 'authorization'), 'Bearer t0k3n');
    assert.equal(header(rec, 'x-custom-thing'), 'kept');
    assert.equal(header(rec, 'host'), new URL(foreman.origin).host);
    assert.equal(header(rec, 'version'), undefined);
    assert.equal(header(rec, 'accept-encoding'), undefined);
    assert.equal(rec.rawHeaders.filter(([n]) => n.toLowerCase() === 'x-forwarded-for').length, 1);
    assert.equal(rec.body.length, 0);
  });

  test('Foreman 201 (built) becomes 200 with its body', async () => {
    reply = () => ({ status: 201, headers: { 'content-type': 'application/json' }, body: 'Host built' });
    const res = await proxy.request('GET', '/unattended/built?token=abc');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'Host built');
    assert.equal(res.headers['content-type'], 'text/html;charset=utf-8');
    assert.equal(last().rawQuery, `token=abc&url=${ENC_TEMPLATE_URL}`);
  });

  test('hostgroup route form-encodes each segment and keeps the foreman_url prefix', async () => {
    reply = () => ({ status: 200, body: 'hg template' });
    const res = await proxy.request('GET', '/unattended/kind%20x/tmpl/hg%20y');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'hg template');
    assert.equal(last().path, '/foreman/unattended/kind+x/tmpl/hg+y');
    assert.equal(last().rawQuery, `url=${ENC_TEMPLATE_URL}`);
  });

  test('POST relays the body verbatim, labelled text/plain, with the Content-Type pseudo-param', async () => {
    reply = () => ({ status: 200, body: 'ok' });
    const log = 'line 1\nline 2 with ünïcode & = signs\n';
    const res = await proxy.request('POST', '/unattended/failed?token=abc', { body: log, headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200);
    const rec = last();
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/foreman/unattended/failed');
    assert.equal(rec.rawQuery, `token=abc&Content-Type=text%2Fplain&url=${ENC_TEMPLATE_URL}`);
    assert.equal(header(rec, 'content-type'), 'text/plain');
    assert.equal(rec.body.toString(), log);
    assert.equal(header(rec, 'content-length'), String(Buffer.byteLength(log)));
    assert.equal(header(rec, 'x-forwarded-for'), '127.0.0.1');
  });

  test('POST of a form body (curl -d) keeps the bytes and adds the fields to the query', async () => {
    reply = () => ({ status: 200, body: 'ok' });
    const res = await proxy.request('POST', '/unattended/failed?token=abc', {
      body: 'message=disk%20full&step=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 200);
    const rec = last();
    assert.equal(rec.body.toString(), 'message=disk%20full&step=2');
    assert.equal(rec.rawQuery, `token=abc&message=disk+full&step=2&Content-Type=text%2Fplain&url=${ENC_TEMPLATE_URL}`);
  });

  test("Foreman's error status passes through with the reference's message", async () => {
    reply = () => ({ status: 404, headers: { 'content-type': 'text/html' }, body: '<h1>not found</h1>' });
    const res = await proxy.request('GET', '/unattended/provision?token=abc');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(
      res.body,
      `Failed to proxy /provision for {"token"=>"abc", "kind"=>"provision"}: Error retrieving unattended/provision for {"token"=>"abc", "url"=>"${TEMPLATE_URL}"} from 127.0.0.1: Net::HTTPNotFound: 404 `,
    );
    reply = () => ({ status: 500, body: 'boom' });
    const hg = await proxy.request('GET', '/unattended/a/b/c', { headers: { accept: 'text/plain' } });
    assert.equal(hg.status, 500);
    assert.equal(hg.headers['content-type'], 'text/html;charset=utf-8');
    assert.ok(hg.body.startsWith('Failed to retrieve a hostgroup template for {"kind"=>"a", "template"=>"b", "hostgroup"=>"c"}: Error retrieving unattended/a/b/c'), hg.body);
    const post = await proxy.request('POST', '/unattended/failed', { body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(post.status, 500);
    assert.ok(post.body.startsWith('Failed to proxy /failed for {"kind"=>"failed"}: Error retrieving unattended/failed for {"Content-Type"=>"text/plain", "url"=>'), post.body);
  });

  test('GET /userdata/:kind relays with X-Forwarded-For; every failure is a 500', async () => {
    reply = () => ({ status: 200, body: '#cloud-config\n' });
    const ok = await proxy.request('GET', '/userdata/user-data', { headers: { 'X-Forwarded-For': '10.1.1.1' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '#cloud-config\n');
    const rec = last();
    assert.equal(rec.path, '/foreman/userdata/user-data');
    assert.equal(rec.rawQuery, `url=${ENC_TEMPLATE_URL}`);
    assert.equal(header(rec, 'x-forwarded-for'), '127.0.0.1');
    assert.equal(header(rec, 'accept'), '*/*, application/json,version=2, application/json');
    reply = () => ({ status: 404, body: 'unknown host' });
    const nf = await proxy.request('GET', '/userdata/meta-data');
    assert.equal(nf.status, 500);
    assert.ok(nf.body.startsWith('Failed to retrieve meta-data userdata template for {"kind"=>"meta-data"}: Error retrieving userdata/meta-data'), nf.body);
  });

  test('list or map params are refused naming the field, without calling Foreman', async () => {
    const before = foreman.requests.length;
    const res = await proxy.request('GET', '/unattended/provision?a[]=1&a[]=2');
    assert.equal(res.status, 400);
    assert.ok(res.body.endsWith("parameter 'a' must be a single value, not a list"), res.body);
    const ud = await proxy.request('GET', '/userdata/user-data?h[k]=v');
    assert.equal(ud.status, 500);
    assert.ok(ud.body.endsWith("parameter 'h' must be a single value, not a map"), ud.body);
    assert.equal(foreman.requests.length, before);
  });

  test('dot segments cannot climb out of unattended/', async () => {
    const before = foreman.requests.length;
    const res = await rawRequest(proxy.baseUrl, 'GET', '/unattended/%2E%2E');
    assert.equal(res.status, 400);
    assert.match(res.body, /'\.\.' is not a valid path segment$/);
    const hg = await rawRequest(proxy.baseUrl, 'GET', '/unattended/x/%2e%2e/%2e%2e');
    assert.equal(hg.status, 400);
    assert.equal(foreman.requests.length, before);
  });

  test('two-segment and four-segment paths are unknown routes', async () => {
    for (const path of ['/unattended/a/b', '/unattended/a/b/c/d', '/userdata/a/b']) {
      const res = await proxy.request('GET', path);
      assert.equal(res.status, 404, path);
      assert.equal(res.body, 'Requested url was not found');
    }
  });

  test('HEAD is answered like GET without a body', async () => {
    reply = () => ({ status: 200, body: 'abc' });
    const res = await rawRequest(proxy.baseUrl, 'HEAD', '/unattended/provision');
    assert.equal(res.status, 200);
    assert.equal(res.body, '');
  });
});

describe('templates relay: failures reaching the stand-in Foreman', () => {
  test('connection refused gives 400 (userdata 500) with the prefix', async () => {
    const port = await freeTcpPort();
    const proxy = await startTestProxy({ global: { foreman_url: `http://127.0.0.1:${port}` }, files: { templates: templatesFile() } });
    try {
      const res = await proxy.request('GET', '/unattended/provision?token=abc');
      assert.equal(res.status, 400);
      assert.ok(
        res.body.startsWith(`Failed to proxy /provision for {"token"=>"abc", "kind"=>"provision"}: Failed to open TCP connection to 127.0.0.1:${port}`),
        res.body,
      );
      const ud = await proxy.request('GET', '/userdata/user-data');
      assert.equal(ud.status, 500);
    } finally {
      await proxy.close();
    }
  });

  test('a stand-in Foreman that hangs hits the deadline', async () => {
    const foreman = await startStandInForeman(() => ({ hang: true }));
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin },
      files: { templates: templatesFile({ ':upstream_timeout': 0.3 }) },
    });
    try {
      const res = await proxy.request('GET', '/unattended/provision');
      assert.equal(res.status, 400);
      assert.match(res.body, /^Failed to proxy \/provision for \{"kind"=>"provision"\}: Timed out after 300 ms waiting for http:\/\/127\.0\.0\.1:\d+\/unattended\/provision\?url=/);
    } finally {
      await proxy.close();
      await foreman.close();
    }
  });

  test('a full queue answers 503 with Retry-After instead of waiting', async () => {
    const { foreman, release, received } = await startGatedForeman({ status: 200, body: 'late' });
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin },
      files: { templates: templatesFile({ ':upstream_concurrency': 1, ':upstream_queue': 0 }) },
    });
    try {
      const first = proxy.request('GET', '/unattended/provision?n=1');
      // wait until the first request is really at the stand-in
      await received(1);
      const second = await proxy.request('GET', '/unattended/provision?n=2');
      assert.equal(second.status, 503);
      assert.equal(second.headers['retry-after'], '5');
      assert.match(second.body, /too many concurrent requests/);
      release();
      const firstRes = await first;
      assert.equal(firstRes.status, 200);
      assert.equal(firstRes.body, 'late');
      assert.equal(foreman.requests.length, 1);
    } finally {
      release();
      await proxy.close();
      await foreman.close();
    }
  });

  test('without foreman_url the module runs, reports the legacy failure and relays fail', async () => {
    const proxy = await startTestProxy({ files: { templates: templatesFile() } });
    try {
      assert.equal(proxy.proxy.records.get('templates')?.state, 'running');
      assert.equal(proxy.proxy.failedModules['templates'], 'missing :foreman_url: from configuration.');
      const features = await proxy.request('GET', '/features');
      assert.ok((JSON.parse(features.body) as string[]).includes('templates'));
      const ts = await proxy.request('GET', '/unattended/templateServer');
      assert.equal(ts.status, 200);
      const res = await proxy.request('GET', '/unattended/provision');
      assert.equal(res.status, 400);
      assert.equal(res.body, 'Failed to proxy /provision for {"kind"=>"provision"}: missing :foreman_url: from configuration.');
    } finally {
      await proxy.close();
    }
  });

  test('a template_url without a scheme fails the module with the reference message', async () => {
    const proxy = await startTestProxy({ global: { foreman_url: 'http://127.0.0.1:1' }, files: { templates: templatesFile({ ':template_url': 'proxy.example.com' }) } });
    try {
      assert.equal(proxy.proxy.records.get('templates')?.state, 'failed');
      assert.match(proxy.proxy.failedModules['templates'] ?? '', /Setting 'template_url' is missing a scheme/);
    } finally {
      await proxy.close();
    }
  });
});

describe('templates relay to a stand-in Foreman over HTTPS with client certificates', () => {
  let dir: string;
  let pki: Pki;
  let proxyCert: { cert: string; key: string };
  let otherCa: { cert: string; key: string };
  let foreman: StandInForeman;
  before(async () => {
    dir = await tempDir('tmpl-tls');
    pki = await makePki(dir);
    proxyCert = await pki.client('proxy.test');
    otherCa = await pki.otherCa();
    foreman = await startStandInForeman(() => ({ status: 200, body: 'secure template' }), {
      cert: pki.serverCert,
      key: pki.serverKey,
      clientCa: pki.caCert,
    });
  });
  after(async () => {
    await foreman?.close();
    await removeDir(dir);
  });

  test('foreman_ssl_* verify the stand-in and present the client certificate', async () => {
    const proxy = await startTestProxy({
      global: {
        foreman_url: `${foreman.origin}/`,
        foreman_ssl_ca: pki.caCert,
        foreman_ssl_cert: proxyCert.cert,
        foreman_ssl_key: proxyCert.key,
      },
      files: { templates: templatesFile() },
    });
    try {
      const res = await proxy.request('GET', '/unattended/provision?token=abc');
      assert.equal(res.status, 200);
      assert.equal(res.body, 'secure template');
      const rec = foreman.requests[foreman.requests.length - 1];
      assert.equal(rec.clientCn, 'proxy.test');
      assert.equal(rec.rawQuery, `token=abc&url=${ENC_TEMPLATE_URL}`);
      assert.equal(rec.headers['x-forwarded-for'], '127.0.0.1');
    } finally {
      await proxy.close();
    }
  });

  test('ssl_* are the fallback for foreman_ssl_*', async () => {
    const proxy = await startTestProxy({
      global: {
        foreman_url: foreman.origin,
        ssl_ca_file: pki.caCert,
        ssl_certificate: proxyCert.cert,
        ssl_private_key: proxyCert.key,
        https_port: 0,
      },
      files: { templates: templatesFile() },
    });
    try {
      const res = await proxy.request('GET', '/unattended/provision');
      assert.equal(res.status, 200);
      assert.equal(foreman.requests[foreman.requests.length - 1].clientCn, 'proxy.test');
    } finally {
      await proxy.close();
    }
  });

  test('a CA that did not sign the stand-in fails the relay with a TLS error', async () => {
    const proxy = await startTestProxy({
      global: {
        foreman_url: foreman.origin,
        foreman_ssl_ca: otherCa.cert,
        foreman_ssl_cert: proxyCert.cert,
        foreman_ssl_key: proxyCert.key,
      },
      files: { templates: templatesFile() },
    });
    try {
      const res = await proxy.request('GET', '/unattended/provision');
      assert.equal(res.status, 400);
      assert.match(res.body, /^Failed to proxy \/provision for \{"kind"=>"provision"\}: TLS error talking to 127\.0\.0\.1:\d+: /);
    } finally {
      await proxy.close();
    }
  });

  test('without a client certificate the stand-in refuses the handshake', async () => {
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin, foreman_ssl_ca: pki.caCert },
      files: { templates: templatesFile() },
    });
    try {
      const res = await proxy.request('GET', '/unattended/provision');
      assert.equal(res.status, 400);
      assert.match(res.body, /^Failed to proxy \/provision for \{"kind"=>"provision"\}: /);
    } finally {
      await proxy.close();
    }
  });

  test('no CA configured means no verification (reference behaviour)', async () => {
    const plain = await startStandInForeman(() => ({ status: 200, body: 'unverified' }), { cert: pki.serverCert, key: pki.serverKey });
    const proxy = await startTestProxy({ global: { foreman_url: plain.origin }, files: { templates: templatesFile() } });
    try {
      const res = await proxy.request('GET', '/unattended/provision');
      assert.equal(res.status, 200);
      assert.equal(res.body, 'unverified');
    } finally {
      await proxy.close();
      await plain.close();
    }
  });

  test('an unreadable foreman_ssl_ca fails the module naming the setting', async () => {
    const proxy = await startTestProxy({
      global: { foreman_url: foreman.origin, foreman_ssl_ca: `${dir}/missing-ca.pem` },
      files: { templates: templatesFile() },
    });
    try {
      assert.equal(proxy.proxy.records.get('templates')?.state, 'failed');
      assert.match(proxy.proxy.failedModules['templates'] ?? '', /cannot read foreman_ssl_ca '.*missing-ca\.pem' for connections to Foreman/);
    } finally {
      await proxy.close();
    }
  });
});

describe('templates behind a trusted front end (settings.yml trusted_proxies), stand-in Foreman', () => {
  let foreman: StandInForeman;
  let proxy: TestProxy;

  before(async () => {
    foreman = await startStandInForeman(() => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' }));
    proxy = await startTestProxy({
      global: { foreman_url: `${foreman.origin}/foreman`, trusted_proxies: ['127.0.0.1'] },
      files: { templates: templatesFile() },
    });
  });
  after(async () => {
    await proxy?.close();
    await foreman?.close();
  });

  test("Foreman is sent the host's address from the front end's X-Forwarded-For, not a spoofed entry left of it", async () => {
    const res = await proxy.request('GET', '/unattended/iPXE', { headers: { 'X-Forwarded-For': '203.0.113.9, 198.51.100.20' } });
    assert.equal(res.status, 200, res.body);
    const rec = foreman.requests[foreman.requests.length - 1];
    assert.equal(header(rec, 'x-forwarded-for'), '198.51.100.20');
  });
});
