// The capsule front end on the proxy's host-facing listeners, over real sockets: real HTTPS
// clients with client certificates, a stand-in Katello over HTTPS that requires the proxy's
// client certificate and records every header (Katello cannot run here), and a stand-in for Pulp's
// content app (a node HTTP server serving a directory, on a unix socket and on TCP).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startTestProxy, writeSettingsDir, type TestProxy } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { removeDir, tempDir } from '../lib/procs.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { header, startStandInForeman, type RecordedRequest, type StandInForeman, type StandInReply } from '../lib/standin-foreman.ts';
import { startContentOrigin, type ContentOriginStandIn } from './content-origin.ts';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface ClientOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** PEM files of the host's client certificate. */
  cert?: { cert: string; key: string };
  ca?: string;
}

/** One request with a fresh connection, as subscription-manager or dnf would make it. */
function call(url: string, o: ClientOptions = {}): Promise<Answer> {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)(
      u,
      {
        method: o.method ?? 'GET',
        headers: o.headers,
        agent: false,
        timeout: 30_000,
        ...(https ? { ca: o.ca ? readFileSync(o.ca) : undefined, cert: o.cert ? readFileSync(o.cert.cert) : undefined, key: o.cert ? readFileSync(o.cert.key) : undefined } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** What Apache's mod_headers makes of a PEM file: its lines joined by spaces. */
function apacheForm(pemFile: string): string {
  return readFileSync(pemFile, 'utf8').trim().split('\n').join(' ');
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function listenerUrl(proxy: TestProxy, name: string, scheme: 'http' | 'https'): string {
  const l = proxy.proxy.listeners.find((x) => x.spec.name === name);
  if (!l) throw new Error(`no listener ${name}`);
  return `${scheme}://127.0.0.1:${l.addresses[0].port}`;
}

describe('capsule front end: real HTTPS clients, stand-in Katello, content app stand-in on a unix socket', () => {
  let dir: string;
  let pki: Pki;
  let host: { cert: string; key: string };
  let capsuleCert: { cert: string; key: string };
  let katello: StandInForeman;
  let reply: (r: RecordedRequest) => StandInReply = () => ({ status: 200, body: '{}' });
  let origin: ContentOriginStandIn;
  let proxy: TestProxy;
  let https: string;
  let http: string;
  let iso: Buffer;
  const last = (): RecordedRequest => katello.requests[katello.requests.length - 1];

  before(async () => {
    dir = await tempDir('capsule');
    pki = await makePki(dir);
    host = await pki.client('4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b');
    capsuleCert = await pki.client('capsule.example.com');
    katello = await startStandInForeman((r) => reply(r), { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert });

    const content = join(dir, 'origin');
    await mkdir(join(content, 'content/ACME/Library/custom/prod/iso'), { recursive: true });
    await mkdir(join(content, 'container/acme/prod/repo/blobs'), { recursive: true });
    iso = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(join(content, 'content/ACME/Library/custom/prod/iso/disk.iso'), iso);
    await writeFile(join(content, 'container/acme/prod/repo/blobs/sha256:abc'), 'layer-bytes');
    origin = await startContentOrigin(content, join(dir, 'content.sock'));

    const pub = join(dir, 'pub');
    await mkdir(pub);
    await writeFile(join(pub, 'katello-server-ca.crt'), await readFile(pki.caCert));
    await writeFile(join(pub, 'katello-ca-consumer-capsule.example.com-1.0-1.noarch.rpm'), 'RPM');
    await symlink('katello-ca-consumer-capsule.example.com-1.0-1.noarch.rpm', join(pub, 'katello-ca-consumer-latest.noarch.rpm'));

    proxy = await startTestProxy({
      global: {
        bind_host: ['127.0.0.1'],
        ssl_certificate: pki.serverCert,
        ssl_private_key: pki.serverKey,
        ssl_ca_file: pki.caCert,
        foreman_url: katello.origin,
        foreman_ssl_ca: pki.caCert,
        foreman_ssl_cert: capsuleCert.cert,
        foreman_ssl_key: capsuleCert.key,
        // The listener's own timeouts are far shorter than the waits the routes allow: a slow
        // Katello answer must still get through (the socket idle timeout is twice these, 2 s).
        limits: { header_timeout: 1, request_timeout: 1 },
        listeners: [
          { name: 'control', scheme: 'http', bind: ['127.0.0.1'], port: 0, audience: 'foreman' },
          { name: 'clients', scheme: 'https', bind: ['127.0.0.1'], port: 0, audience: 'client', client_cert: 'request' },
          { name: 'clients-http', scheme: 'http', bind: ['127.0.0.1'], port: 0, audience: 'client' },
        ],
      },
      files: {
        capsule: { ':enabled': true, ':pulp_content_url': origin.url, ':pub_dir': pub, ':rhsm_timeout': 6, ':insights_timeout': 1 },
      },
    });
    assert.equal(proxy.proxy.records.get('capsule')?.state, 'running', proxy.proxy.records.get('capsule')?.failure);
    https = listenerUrl(proxy, 'clients', 'https');
    http = listenerUrl(proxy, 'clients-http', 'http');
  });
  after(async () => {
    await proxy?.close();
    await katello?.close();
    await origin?.close();
    await removeDir(dir);
  });

  test('the front end is not a Foreman feature', async () => {
    const features = await call(`${listenerUrl(proxy, 'control', 'http')}/features`);
    assert.equal(features.status, 200);
    assert.ok(!(JSON.parse(features.body.toString()) as string[]).includes('capsule'));
  });

  test('/rhsm with a host certificate: Katello gets it in X-RHSM-SSL-Client-Cert and the proxy certificate on TLS', async () => {
    reply = () => ({ status: 200, headers: { 'content-type': 'application/json', 'x-candlepin-version': 'katello/4.19' }, body: '{"uuid":"4f1e"}' });
    const res = await call(`${https}/rhsm/consumers/4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b/certificates/serials`, {
      ca: pki.caCert,
      cert: host,
      headers: { 'X-RHSM-SSL-Client-Cert': 'forged by the host', accept: 'application/json', 'user-agent': 'RHSM/1.0 (cmd=subscription-manager)' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), '{"uuid":"4f1e"}');
    assert.equal(res.headers['x-candlepin-version'], 'katello/4.19');
    const rec = last();
    assert.equal(rec.path, '/rhsm/consumers/4f1e7a2c-0d3b-4a8e-9c55-1b2d3e4f5a6b/certificates/serials');
    assert.equal(header(rec, 'x-rhsm-ssl-client-cert'), apacheForm(host.cert), 'the verified host certificate, not the forged one');
    assert.equal(rec.clientCn, 'capsule.example.com', "the proxy's own client certificate on the hop to Katello");
    assert.equal(header(rec, 'x-forwarded-proto'), 'https');
    assert.equal(header(rec, 'user-agent'), 'RHSM/1.0 (cmd=subscription-manager)');
  });

  test('/rhsm without a certificate: the forged header is replaced by (null); Basic auth passes', async () => {
    reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '[{"key":"ACME"}]' });
    for (const base of [https, http]) {
      const res = await call(`${base}/rhsm/users/admin/owners`, {
        ca: pki.caCert,
        headers: { 'x-rhsm-ssl-client-cert': apacheForm(host.cert), X_RHSM_SSL_CLIENT_CERT: 'forged', authorization: 'Basic YWRtaW46Y2hhbmdlbWU=' },
      });
      assert.equal(res.status, 200);
      const rec = last();
      assert.equal(header(rec, 'x-rhsm-ssl-client-cert'), '(null)');
      assert.ok(!rec.rawHeaders.some(([n]) => n.toLowerCase() === 'x_rhsm_ssl_client_cert'));
      assert.equal(header(rec, 'authorization'), 'Basic YWRtaW46Y2hhbmdlbWU=');
    }
  });

  test('a registration body is streamed to Katello byte for byte', async () => {
    reply = (r) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ received: sha256(r.body) }) });
    const facts = JSON.stringify({ facts: Object.fromEntries(Array.from({ length: 20000 }, (_, i) => [`fact.${i}`, `value ${i} ${'x'.repeat(50)}`])) });
    const res = await call(`${https}/rhsm/consumers?owner=ACME&activation_keys=ak1`, {
      method: 'POST',
      ca: pki.caCert,
      headers: { 'content-type': 'application/json', authorization: 'Basic YWRtaW46Y2hhbmdlbWU=' },
      body: facts,
    });
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body.toString()) as { received: string }).received, sha256(facts));
    assert.equal(last().rawQuery, 'owner=ACME&activation_keys=ak1');
    assert.equal(header(last(), 'content-type'), 'application/json');
  });

  test('a slow Katello answer within the route timeout is relayed, although the listener timeouts are shorter', async () => {
    reply = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"slow":true}', delayMs: 3000 });
    const res = await call(`${https}/rhsm/consumers/4f1e/compliance`, { ca: pki.caCert, cert: host });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.body.toString(), '{"slow":true}');
  });

  test('past the route timeout the host gets 504 with a displayMessage, never a 502', async () => {
    reply = () => ({ status: 200, body: 'too late', delayMs: 3000 });
    const res = await call(`${https}/redhat_access/r/insights/platform/module-update-router/v1/channel`, { ca: pki.caCert, cert: host });
    assert.equal(res.status, 504);
    const body = JSON.parse(res.body.toString()) as { displayMessage: string; status: string };
    assert.equal(body.status, '504');
    assert.match(body.displayMessage, /Timed out/);
  });

  test('dot segments sent raw are refused and never reach Katello', async () => {
    const before = katello.requests.length;
    const port = new URL(http).port;
    for (const target of ['/rhsm/../api/v2/hosts', '/rhsm/%2e%2e/api/v2/hosts', '/api/lightspeed/..%2f..%2fapi/v2/settings']) {
      const statusLine = await new Promise<string>((resolve, reject) => {
        const s = connect(Number(port), '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: capsule\r\nConnection: close\r\n\r\n`));
        let data = '';
        s.on('data', (c: Buffer) => (data += c.toString()));
        s.on('end', () => resolve(data.split('\r\n')[0]));
        s.on('error', reject);
      });
      assert.match(statusLine, /^HTTP\/1\.1 (400|404) /, target);
    }
    assert.equal(katello.requests.length, before);
  });

  test('/pulp/content over HTTPS with a host certificate: X-CLIENT-CERT is the URL-encoded certificate, Range works', async () => {
    const whole = await call(`${https}/pulp/content/ACME/Library/custom/prod/iso/disk.iso`, { ca: pki.caCert, cert: host, headers: { 'x-client-cert': 'forged' } });
    assert.equal(whole.status, 200);
    assert.equal(sha256(whole.body), sha256(iso));
    const rec = origin.requests[origin.requests.length - 1];
    assert.equal(rec.path, '/pulp/content/ACME/Library/custom/prod/iso/disk.iso');
    assert.equal(decodeURIComponent(String(rec.headers['x-client-cert'])), readFileSync(host.cert, 'utf8'));
    assert.equal(rec.headers['x-forwarded-proto'], 'https');

    const part = await call(`${https}/pulp/isos/ACME/Library/custom/prod/iso/disk.iso`, { ca: pki.caCert, cert: host, headers: { range: 'bytes=1048576-1048675' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 1048576-1048675/${iso.length}`);
    assert.deepEqual(part.body, iso.subarray(1048576, 1048676));
    assert.equal(origin.requests[origin.requests.length - 1].path, '/pulp/content/ACME/Library/custom/prod/iso/disk.iso');
  });

  test('content without a certificate carries no X-CLIENT-CERT, not even a forged one; /pulp/container never', async () => {
    const plain = await call(`${http}/pulp/repos/ACME/Library/custom/prod/iso/disk.iso`, { method: 'HEAD', headers: { 'x-client-cert': 'forged', 'X_CLIENT_CERT': 'forged' } });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-length'], String(iso.length));
    let rec = origin.requests[origin.requests.length - 1];
    assert.equal(rec.method, 'HEAD');
    assert.equal(rec.headers['x-client-cert'], undefined);
    assert.equal(rec.headers['x_client_cert'], undefined);

    const blob = await call(`${https}/pulp/container/acme/prod/repo/blobs/sha256:abc?validate_token=abc123`, { ca: pki.caCert, cert: host });
    assert.equal(blob.status, 200);
    assert.equal(blob.body.toString(), 'layer-bytes');
    rec = origin.requests[origin.requests.length - 1];
    assert.equal(rec.path, '/pulp/container/acme/prod/repo/blobs/sha256:abc?validate_token=abc123');
    assert.equal(rec.headers['x-client-cert'], undefined);

    const missing = await call(`${http}/pulp/deb/ACME/nothing`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), '404: Not Found');
  });

  test('/pub over HTTP and HTTPS: the listing, the CA certificate, the latest RPM symlink', async () => {
    for (const base of [http, https]) {
      const listing = await call(`${base}/pub/`, { ca: pki.caCert });
      assert.equal(listing.status, 200);
      assert.match(listing.headers['content-type'] ?? '', /^text\/html/);
      assert.match(listing.body.toString(), /href="katello-server-ca.crt"/);
      assert.match(listing.body.toString(), /href="katello-ca-consumer-latest.noarch.rpm"/);
      const ca = await call(`${base}/pub/katello-server-ca.crt`, { ca: pki.caCert });
      assert.equal(ca.status, 200);
      assert.equal(ca.body.toString(), readFileSync(pki.caCert, 'utf8'));
      const rpm = await call(`${base}/pub/katello-ca-consumer-latest.noarch.rpm`, { ca: pki.caCert });
      assert.equal(rpm.body.toString(), 'RPM');
    }
    const redirect = await call(`${http}/pub`);
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers['location'], '/pub/');
  });
});

function vmHwmMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

describe('capsule front end streams a large file with bounded memory (proxy as its own process)', () => {
  let dir: string;
  let origin: ContentOriginStandIn;
  let proxy: ProxyProcess;
  const SIZE = 768 * 1024 * 1024;

  before(async () => {
    dir = await tempDir('capsule-big');
    await mkdir(join(dir, 'origin/content/big'), { recursive: true });
    const file = join(dir, 'origin/content/big/large.iso');
    await writeFile(file, '');
    await truncate(file, SIZE); // sparse: the disk is not the bottleneck
    origin = await startContentOrigin(join(dir, 'origin'));
    await writeSettingsDir(
      join(dir, 'settings'),
      {
        bind_host: ['127.0.0.1'],
        foreman_url: 'http://127.0.0.1:1',
        log_file: join(dir, 'proxy.log'),
        listeners: [{ name: 'clients', scheme: 'http', bind: ['127.0.0.1'], port: 0, audience: 'client' }],
      },
      { capsule: { ':enabled': true, ':pulp_content_url': origin.url, ':pub_dir': join(dir, 'pub') } },
    );
    proxy = await startProxyProcess(['--settings', join(dir, 'settings')]);
  });
  after(async () => {
    await proxy?.stop();
    await origin?.close();
    await removeDir(dir);
  });

  test('768 MiB through /pulp/isos with a reader that stalls: every byte arrives, peak RSS stays far below the file', async () => {
    const port = portOf(proxy, 'clients');
    const received = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/pulp/isos/big/large.iso', agent: false }, (res) => {
        assert.equal(res.statusCode, 200);
        let bytes = 0;
        let stalled = false;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (!stalled && bytes > 64 * 1024 * 1024) {
            // a slow host: the origin keeps wanting to send; only backpressure keeps it in check
            stalled = true;
            res.pause();
            setTimeout(() => res.resume(), 1500);
          }
        });
        res.on('end', () => resolve(bytes));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(received, SIZE);
    const peak = vmHwmMb(proxy.pid);
    assert.ok(peak < 256, `proxy peak RSS ${peak.toFixed(0)} MiB for a ${SIZE / 1024 / 1024} MiB file`);
  });
});
