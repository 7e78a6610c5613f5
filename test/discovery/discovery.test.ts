// Discovery through the real proxy over HTTPS: the discovery image's fact upload relayed to a
// stand-in Foreman (which requires the proxy's client certificate), and Foreman's node calls
// relayed to a stand-in discovered node (an HTTPS server on 127.0.0.1 and ::1; the discovery image
// cannot boot here). Also the known problems of the reference (spec plugins.md §1.2, §1.4): it
// relayed to whatever `:ip` said, could not reach IPv6 nodes, and never verified nodes.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { header, startStandInForeman, type StandInForeman, type StandInReply, type RecordedRequest } from '../lib/standin-foreman.ts';
import { startNodeStandIn, type NodeStandIn } from '../lib/discovery-node-standin.ts';
import { tempDir, removeDir, freeTcpPort } from '../lib/procs.ts';
import { makePki, httpsSettings, type Pki } from '../lib/certs.ts';
import { fetchUrl, type TlsMaterial } from '../lib/https-client.ts';

const FACTS = JSON.stringify({ facts: { discovery_bootif: '52:54:00:12:34:56', ipaddress: '127.0.0.1', discovery_proxy_uri: 'https://proxy.example.test:8443', discovery_proxy_type: 'proxy' } });

function httpsOrigin(p: TestProxy): string {
  const listener = p.proxy.listeners.find((l) => l.spec.scheme === 'https');
  const addr = listener?.addresses[0];
  assert.ok(addr, 'the proxy has an HTTPS listener');
  return `https://127.0.0.1:${addr.port}`;
}

describe('discovery over HTTPS with stand-ins for Foreman and a discovered node', () => {
  let dir: string;
  let pki: Pki;
  let foreman: StandInForeman;
  let node: NodeStandIn;
  let proxy: TestProxy;
  let origin: string;
  let foremanTls: TlsMaterial;
  let reply: (r: RecordedRequest) => StandInReply = () => ({ status: 201, headers: { 'content-type': 'application/json' }, body: '{"id":1}' });

  before(async () => {
    dir = await tempDir('discovery');
    pki = await makePki(dir);
    const proxyClient = await pki.client('proxy.example.test');
    const foremanClient = await pki.client('foreman.example.test');
    foremanTls = { ca: pki.caCert, cert: foremanClient.cert, key: foremanClient.key };
    foreman = await startStandInForeman((r) => reply(r), { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert });
    node = await startNodeStandIn({ tls: { cert: pki.serverCert, key: pki.serverKey } });
    proxy = await startTestProxy({
      global: {
        ...httpsSettings(pki),
        trusted_hosts: ['foreman.example.test'],
        foreman_url: foreman.origin,
        foreman_ssl_ca: pki.caCert,
        foreman_ssl_cert: proxyClient.cert,
        foreman_ssl_key: proxyClient.key,
      },
      files: { discovery: { ':enabled': true, ':node_port': node.port } },
    });
    origin = httpsOrigin(proxy);
  });
  after(async () => {
    await proxy?.close();
    await node?.close();
    await foreman?.close();
    await removeDir(dir);
  });

  test('the module runs and is published as the Discovery feature', async () => {
    assert.equal(proxy.proxy.records.get('discovery')?.state, 'running');
    const res = await fetchUrl(`${origin}/features`, { tls: { ca: pki.caCert } });
    assert.ok((JSON.parse(res.body) as string[]).includes('discovery'));
  });

  test('the image uploads its facts without a certificate; Foreman receives them verbatim with the proxy certificate', async () => {
    const before = foreman.requests.length;
    const res = await fetchUrl(`${origin}/discovery/create`, { method: 'POST', tls: { ca: pki.caCert }, body: FACTS, headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, '');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(foreman.requests.length, before + 1);
    const rec = foreman.requests[foreman.requests.length - 1] as RecordedRequest;
    assert.equal(rec.method, 'POST');
    assert.equal(rec.path, '/api/v2/discovered_hosts/facts');
    assert.equal(rec.body.toString(), FACTS);
    assert.equal(header(rec, 'accept'), 'application/json,version=2');
    assert.equal(header(rec, 'content-type'), 'application/json');
    assert.equal(rec.clientCn, 'proxy.example.test');
  });

  test("Foreman's refusal of the facts is a 500 with its reason", async () => {
    reply = () => ({ status: 422, headers: { 'content-type': 'application/json' }, body: '{"message":"Validation failed: MAC is invalid"}' });
    try {
      const res = await fetchUrl(`${origin}/discovery/create`, { method: 'POST', tls: { ca: pki.caCert }, body: FACTS, headers: { 'content-type': 'application/json' } });
      assert.equal(res.status, 500);
      assert.equal(res.body, 'Discovery failed, code 422, reason: Validation failed: MAC is invalid');
    } finally {
      reply = () => ({ status: 201, headers: { 'content-type': 'application/json' }, body: '{"id":1}' });
    }
  });

  test("Foreman's refresh-facts, reboot and kexec calls reach the node and its answers come back verbatim", async () => {
    node.requests.length = 0;
    const facter = await fetchUrl(`${origin}/discovery/127.0.0.1/inventory/facter`, { tls: foremanTls });
    assert.equal(facter.status, 200, facter.body);
    assert.equal(facter.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(facter.body), node.facts);
    const reboot = await fetchUrl(`${origin}/discovery/127.0.0.1/power/reboot`, { method: 'PUT', tls: foremanTls });
    assert.equal(reboot.status, 200);
    assert.equal(reboot.body, '{"result":true}');
    const kexecBody = '{"kernel":"http://foreman.example.test/pub/vmlinuz","initram":"http://foreman.example.test/pub/initrd.img","append":"inst.ks=http://x/ks ip=dhcp","extra":[]}';
    const kexec = await fetchUrl(`${origin}/discovery/127.0.0.1/power/kexec`, { method: 'PUT', tls: foremanTls, body: kexecBody, headers: { 'content-type': 'application/json' } });
    assert.equal(kexec.status, 200);
    assert.equal(kexec.body, '{"result":true}');
    assert.deepEqual(
      node.requests.map((r) => `${r.method} ${r.path} ${r.localAddress}`),
      ['GET /inventory/facter 127.0.0.1', 'PUT /power/reboot 127.0.0.1', 'PUT /power/kexec 127.0.0.1'],
    );
    assert.equal(node.requests[2]?.body, kexecBody);
    // The reference's policy, kept and now explicit (node_verify_tls false): no client certificate.
    assert.equal(node.requests[0]?.clientCertificate, false);
  });

  test('known problem: an IPv6 node is reached (the reference built an unbracketed, invalid URL and answered 500)', async () => {
    node.requests.length = 0;
    const res = await fetchUrl(`${origin}/discovery/::1/power/reboot`, { method: 'PUT', tls: foremanTls });
    assert.equal(res.status, 200, res.body);
    assert.equal(res.body, '{"result":true}');
    assert.equal(node.requests.length, 1);
    assert.equal(node.requests[0]?.localAddress, '::1');
  });

  test('known problem: `:ip` must be an IP literal; the reference relayed to any host name, port or path it was given', async () => {
    node.requests.length = 0;
    for (const ip of ['localhost', 'localhost.', '127.0.0.1:22', '0.0.0.0']) {
      const res = await fetchUrl(`${origin}/discovery/${ip}/inventory/facter`, { tls: foremanTls });
      assert.equal(res.status, 400, `${ip}: ${res.body}`);
      assert.match(res.body, /^Invalid node address '.*' \(parameter ip\)/);
    }
    // The reference would have fetched https://localhost:<port>/inventory/facter from the stand-in.
    assert.equal(node.requests.length, 0);
  });

  test('node routes are for Foreman only: another certificate or none is refused; the upload stays open', async () => {
    const other = await pki.client('host.example.test');
    const untrusted = await fetchUrl(`${origin}/discovery/127.0.0.1/power/reboot`, { method: 'PUT', tls: { ca: pki.caCert, ...other } });
    assert.equal(untrusted.status, 403);
    assert.match(untrusted.body, /Untrusted client host\.example\.test/);
    const anonymous = await fetchUrl(`${origin}/discovery/127.0.0.1/power/reboot`, { method: 'PUT', tls: { ca: pki.caCert } });
    assert.equal(anonymous.status, 403);
    const upload = await fetchUrl(`${origin}/discovery/create`, { method: 'POST', tls: { ca: pki.caCert, ...other }, body: FACTS, headers: { 'content-type': 'application/json' } });
    assert.equal(upload.status, 200);
    // The open path does not open the node routes, however the path is spelled.
    const before = node.requests.length;
    for (const path of ['/discovery/create/../127.0.0.1/power/reboot', '/discovery/create/%2E%2E/127.0.0.1/power/reboot', '/discovery//create/../127.0.0.1/power/reboot']) {
      const res = await fetchUrl(`${origin}${path}`, { method: 'PUT', tls: { ca: pki.caCert } });
      assert.notEqual(res.status, 200, path);
    }
    assert.equal(node.requests.length, before);
  });

  test("a node's HTTP error keeps its status and its body", async () => {
    node.override = { status: 404, body: '{"message":"no such thing"}' };
    try {
      const res = await fetchUrl(`${origin}/discovery/127.0.0.1/inventory/facter`, { tls: foremanTls });
      assert.equal(res.status, 404);
      assert.equal(res.body, 'Proxy error HTTP 404 (Not Found): {"message":"no such thing"}');
    } finally {
      node.override = undefined;
    }
  });
});

describe('discovery: the TLS policy towards nodes and unreachable peers', () => {
  let dir: string;
  let pki: Pki;
  let node: NodeStandIn;
  const proxies: TestProxy[] = [];

  before(async () => {
    dir = await tempDir('discovery-tls');
    pki = await makePki(dir);
    node = await startNodeStandIn({ tls: { cert: pki.serverCert, key: pki.serverKey }, ipv6: false });
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await node?.close();
    await removeDir(dir);
  });

  const start = async (discovery: Record<string, unknown>, global: Record<string, unknown> = {}): Promise<TestProxy> => {
    const p = await startTestProxy({ global, files: { discovery: { ':enabled': true, ':node_port': node.port, ...discovery } } });
    proxies.push(p);
    return p;
  };

  test('node_verify_tls with the CA that signed the node certificate: verified and relayed', async () => {
    const p = await start({ ':node_verify_tls': true, ':node_ssl_ca': pki.caCert });
    const res = await p.request('PUT', '/discovery/127.0.0.1/power/reboot');
    assert.equal(res.status, 200, res.body);
  });

  test('node_verify_tls with another CA: a 502 naming the TLS failure, and the node gets no request', async () => {
    const other = await pki.otherCa();
    const p = await start({ ':node_verify_tls': true, ':node_ssl_ca': other.cert });
    const before = node.requests.length;
    const res = await p.request('PUT', '/discovery/127.0.0.1/power/reboot');
    assert.equal(res.status, 502);
    assert.match(res.body, /^TLS error talking to 127\.0\.0\.1:\d+/);
    assert.equal(node.requests.length, before);
  });

  test('a node that does not listen is a 502; a node that never answers is a 504; Foreman down is a 502', async () => {
    const closedPort = await freeTcpPort();
    const p = await start({ ':node_port': closedPort, ':node_timeout': 1 }, { foreman_url: `http://127.0.0.1:${closedPort}` });
    const refused = await p.request('PUT', '/discovery/127.0.0.1/power/reboot');
    assert.equal(refused.status, 502);
    assert.match(refused.body, /^Failed to open TCP connection to 127\.0\.0\.1:\d+/);
    const upload = await p.request('POST', '/discovery/create', { body: FACTS, headers: { 'content-type': 'application/json' } });
    assert.equal(upload.status, 502);

    const hanging = await start({ ':node_timeout': 0.5 });
    node.override = 'hang';
    try {
      const res = await hanging.request('GET', '/discovery/127.0.0.1/inventory/facter');
      assert.equal(res.status, 504);
      assert.match(res.body, /Timed out/);
    } finally {
      node.override = undefined;
    }
  });
});
