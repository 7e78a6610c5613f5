// /dns over real HTTP, through the real core, with the dns_powerdns provider driving a real
// PowerDNS (gsqlite3) through its HTTP API. Every record is observed independently with dig
// against PowerDNS's DNS port.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { createPdns, type Pdns } from './pdns.ts';

const ZONE = 'example.test';
const REV4 = '2.0.192.in-addr.arpa';
const REV6 = '8.b.d.0.1.0.0.2.ip6.arpa';

let pdns: Pdns;
let proxy: TestProxy;

const form = (fqdn: string, value: string, type: string): Record<string, string> => ({ fqdn, value, type });

function startProxyFor(apiKey: string, timeout = 30): Promise<TestProxy> {
  return startTestProxy({
    files: {
      dns: { enabled: true, use_provider: 'dns_powerdns', dns_ttl: 300 },
      dns_powerdns: { powerdns_rest_url: pdns.apiUrl, powerdns_rest_api_key: apiKey, powerdns_timeout: timeout },
    },
  });
}

describe('/dns with dns_powerdns against a real PowerDNS', { timeout: 180_000 }, () => {
  before(async () => {
    pdns = await createPdns();
    await pdns.start();
    for (const z of [ZONE, REV4, REV6]) await pdns.createZone(z);
    proxy = await startProxyFor(pdns.apiKey);
  });
  after(async () => {
    await proxy?.close();
    await pdns?.cleanup();
  });

  test('the module runs with use_provider dns_powerdns', async () => {
    const r = await proxy.request('GET', '/v2/features');
    const dns = JSON.parse(r.body).dns;
    assert.equal(dns.state, 'running');
    assert.deepEqual(dns.settings, { use_provider: 'dns_powerdns' });
  });

  test('A and AAAA: create, observe, repeat, conflict, delete, delete again → 404', async () => {
    for (const [type, name, v1, v1norm, v2] of [
      ['A', `web1.${ZONE}`, '192.0.2.10', '192.0.2.10', '192.0.2.11'],
      ['AAAA', `web6.${ZONE}`, '2001:0db8::0:5', '2001:db8::5', '2001:db8::6'],
    ] as const) {
      let r = await proxy.request('POST', '/dns/', { body: form(name, v1, type) });
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(await pdns.dig(name, type), [v1norm]);
      r = await proxy.request('POST', '/dns/', { body: form(name, v1norm, type) });
      assert.equal(r.status, 200, r.body);
      r = await proxy.request('POST', '/dns/', { body: form(name, v2, type) });
      assert.equal(r.status, 409);
      assert.equal(r.body, `'${name} 'is already in use`);
      assert.deepEqual(await pdns.dig(name, type), [v1norm]);
      r = await proxy.request('DELETE', `/dns/${name}/${type}`);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(await pdns.dig(name, type), []);
      r = await proxy.request('DELETE', `/dns/${name}/${type}`);
      assert.equal(r.status, 404);
    }
  });

  test('PTR v4 and v6: created at the reverse name, dig -x sees them, conflict, delete by arpa name alone', async () => {
    const cases = [
      ['10.2.0.192.in-addr.arpa', '192.0.2.10'],
      [`5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.${REV6}`, '2001:db8::5'],
    ];
    for (const [rev, ip] of cases) {
      let r = await proxy.request('POST', '/dns/', { body: form(`web1.${ZONE}`, rev, 'PTR') });
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(await pdns.dig(ip, '', ['-x']), [`web1.${ZONE}.`]);
      r = await proxy.request('POST', '/dns/', { body: form(`web1.${ZONE}`, rev, 'PTR') });
      assert.equal(r.status, 200, r.body);
      r = await proxy.request('POST', '/dns/', { body: form(`other.${ZONE}`, rev, 'PTR') });
      assert.equal(r.status, 409);
      assert.equal(r.body, `'${rev}' is already in use`);
      r = await proxy.request('DELETE', `/dns/${rev}`);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(await pdns.dig(ip, '', ['-x']), []);
      r = await proxy.request('DELETE', `/dns/${rev}/`);
      assert.equal(r.status, 404);
    }
  });

  test('CNAME: create, identical → 200, other target → 409, name with other data → 409, delete', async () => {
    const alias = `www.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(alias, `web1.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await pdns.dig(alias, 'CNAME'), [`web1.${ZONE}.`]);
    r = await proxy.request('POST', '/dns/', { body: form(alias, `web1.${ZONE}.`, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(alias, `web2.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 409);
    r = await proxy.request('DELETE', `/dns/${alias}/CNAME`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await pdns.dig(alias, 'CNAME'), []);
    r = await proxy.request('POST', '/dns/', { body: form(`data.${ZONE}`, '192.0.2.30', 'A') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(`data.${ZONE}`, `web1.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 409, r.body);
  });

  test('SRV: several at one name, observed, deleted as a set', async () => {
    const name = `_sip._tcp.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(name, '0 5 5060 sip1.example.test', 'SRV') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(name, '10 5 5061 sip2.example.test.', 'SRV') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(name, '10 5 5061 sip2.example.test', 'SRV') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await pdns.dig(name, 'SRV'), ['0 5 5060 sip1.example.test.', '10 5 5061 sip2.example.test.']);
    r = await proxy.request('DELETE', `/dns/${name}/SRV`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await pdns.dig(name, 'SRV'), []);
  });

  test('a name in no PowerDNS zone: 400 on create, 404 on delete', async () => {
    let r = await proxy.request('POST', '/dns/', { body: form('h.nowhere.test', '192.0.2.1', 'A') });
    assert.equal(r.status, 400);
    assert.match(r.body, /no zone in PowerDNS contains h\.nowhere\.test/);
    r = await proxy.request('DELETE', '/dns/h.nowhere.test');
    assert.equal(r.status, 404);
  });

  test('a wrong API key is refused by PowerDNS and reported clearly', async () => {
    const bad = await startProxyFor('not-the-key');
    try {
      const r = await bad.request('POST', '/dns/', { body: form(`x.${ZONE}`, '192.0.2.1', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /rejected the API key \(powerdns_rest_api_key\)/);
    } finally {
      await bad.close();
    }
  });

  test('PowerDNS down: clear 400 within the deadline; back up: the next request works', async () => {
    await pdns.stop();
    try {
      const r = await proxy.request('POST', '/dns/', { body: form(`down.${ZONE}`, '192.0.2.40', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /cannot reach the PowerDNS API at .*connection refused/);
    } finally {
      await pdns.start();
    }
    const r = await proxy.request('POST', '/dns/', { body: form(`down.${ZONE}`, '192.0.2.40', 'A') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await pdns.dig(`down.${ZONE}`, 'A'), ['192.0.2.40']);
  });

  test('a hung API (stand-in: a TCP server that never answers): clear 400 once powerdns_timeout is spent', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const addr = hung.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    const p = await startTestProxy({
      files: {
        dns: { enabled: true, use_provider: 'dns_powerdns' },
        dns_powerdns: { powerdns_rest_url: `http://127.0.0.1:${port}/api/v1/servers/localhost`, powerdns_rest_api_key: 'k', powerdns_timeout: 1 },
      },
    });
    try {
      const r = await p.request('POST', '/dns/', { body: form(`slow.${ZONE}`, '192.0.2.41', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /cannot reach the PowerDNS API at .*no answer within 1 s/);
    } finally {
      await p.close();
      for (const s of sockets) s.destroy();
      hung.close();
    }
  });
});
