// dhcp_kea to a Kea Control Agent served over HTTPS that requires a client certificate
// (kea-ctrl-agent's trust-anchor / cert-file / key-file / cert-required), through the proxy's API.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { keaProxyFiles, startKeaLab, type KeaLab } from './harness.ts';

let lab: KeaLab;
const proxies: TestProxy[] = [];

before(async () => {
  lab = await startKeaLab({ tls: true });
});

after(async () => {
  for (const p of proxies) await p.close();
  await lab?.close();
});

async function proxyWith(extra: Record<string, unknown>): Promise<TestProxy> {
  const p = await startTestProxy({
    files: keaProxyFiles(lab, { ':timeout': 5, ...extra }),
  });
  proxies.push(p);
  return p;
}

test('HTTPS agent with a client certificate: subnets and a reservation round trip', async () => {
  const tls = lab.tlsFiles!;
  assert.match(lab.url, /^https:/);
  const p = await proxyWith({ ':ssl_ca': tls.ca, ':ssl_cert': tls.cert, ':ssl_key': tls.key });
  const subnets = await p.request('GET', '/dhcp');
  assert.equal(subnets.status, 200, subnets.body);
  assert.equal((JSON.parse(subnets.body) as Array<{ network: string }>)[0].network, '192.168.122.0');
  const mac = '52:54:00:aa:dd:01';
  const created = await p.request('POST', '/dhcp/192.168.122.0', { body: { hostname: 'tls1', ip: '192.168.122.71', mac } });
  assert.equal(created.status, 200, created.body);
  const offer = await lab.dhcpClient(mac);
  assert.equal(offer.ip, '192.168.122.71', offer.output);
});

test('HTTPS agent: an unknown server CA or a refused client certificate is a clear error', async () => {
  const tls = lab.tlsFiles!;
  const noCa = await proxyWith({ ':ssl_cert': tls.cert, ':ssl_key': tls.key });
  const r1 = await noCa.request('GET', '/dhcp');
  assert.equal(r1.status, 400, r1.body);
  assert.match(r1.body, /^dhcp\/kea: cannot read the configuration: Kea Control Agent unreachable: cannot reach https:\/\/127\.0\.0\.1:\d+\/ for 'config-get': .*(self-signed|unable to (get|verify))/i);

  const stranger = await proxyWith({ ':ssl_ca': tls.ca, ':ssl_cert': tls.otherCert, ':ssl_key': tls.otherKey });
  const r2 = await stranger.request('GET', '/dhcp');
  assert.equal(r2.status, 400, r2.body);
  assert.match(r2.body, /^dhcp\/kea: cannot read the configuration: Kea Control Agent unreachable: /);
});
