// /dns over real HTTP, through the real core, with the dns_nsupdate provider talking to a real
// BIND named. Every record is observed independently with dig.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { createNamed, REV6, ZONE, type Named } from './named.ts';

let named: Named;
let proxy: TestProxy;

const form = (fqdn: string, value: string, type: string): Record<string, string> => ({ fqdn, value, type });

async function startProxyFor(keyFile: string | undefined, extra: Record<string, unknown> = {}): Promise<TestProxy> {
  return startTestProxy({
    global: { dns_resolv_timeouts: [1, 2] },
    files: {
      dns: { enabled: true, use_provider: 'dns_nsupdate', dns_ttl: 300 },
      dns_nsupdate: { dns_server: `127.0.0.1:${named.port}`, ...(keyFile ? { dns_key: keyFile } : {}), ...extra },
    },
  });
}

describe('/dns with dns_nsupdate against a real named', { timeout: 180_000 }, () => {
  before(async () => {
    named = await createNamed();
    await named.start();
    proxy = await startProxyFor(named.keyFiles['hmac-sha256']);
  });
  after(async () => {
    await proxy?.close();
    await named?.cleanup();
  });

  test('the module runs and exposes use_provider', async () => {
    const r = await proxy.request('GET', '/v2/features');
    assert.equal(r.status, 200);
    const dns = JSON.parse(r.body).dns;
    assert.equal(dns.state, 'running');
    assert.deepEqual(dns.settings, { use_provider: 'dns_nsupdate' });
  });

  test('A: create, observe, idempotent repeat, conflict, delete, delete again → 404', async () => {
    const name = `web1.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(name, '192.0.2.10', 'A') });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, '');
    assert.equal(r.headers['content-type'], 'text/html;charset=utf-8');
    assert.deepEqual(await named.dig(name, 'A'), ['192.0.2.10']);
    r = await proxy.request('POST', '/dns/', { body: form(`${name}.`, '192.0.2.10', 'A') });
    assert.equal(r.status, 200, 'an absolute fqdn names the same record');
    r = await proxy.request('POST', '/dns', { body: form(name, '192.0.2.10', 'a') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(name, '192.0.2.11', 'A') });
    assert.equal(r.status, 409);
    assert.equal(r.body, `'${name} 'is already in use`);
    assert.deepEqual(await named.dig(name, 'A'), ['192.0.2.10']);
    r = await proxy.request('DELETE', `/dns/${name}/A`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(name, 'A'), []);
    r = await proxy.request('DELETE', `/dns/${name}`);
    assert.equal(r.status, 404);
    assert.match(r.body, /Cannot find DNS entry for web1\.example\.test/);
  });

  test('AAAA: value normalised, observed, conflict, delete', async () => {
    const name = `web6.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(name, '2001:0DB8:0:0:0:0:0:5', 'AAAA') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(name, 'AAAA'), ['2001:db8::5']);
    r = await proxy.request('POST', '/dns/', { body: form(name, '2001:db8::5', 'AAAA') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(name, '2001:db8::6', 'AAAA') });
    assert.equal(r.status, 409);
    r = await proxy.request('DELETE', `/dns/${name}/AAAA/`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(name, 'AAAA'), []);
  });

  test('PTR (IPv4): created at the reverse name, seen by dig -x, conflict names the reverse name, delete without type', async () => {
    const rev = '10.2.0.192.in-addr.arpa';
    let r = await proxy.request('POST', '/dns/', { body: form(`web1.${ZONE}`, rev, 'PTR') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig('192.0.2.10', '', ['-x']), [`web1.${ZONE}.`]);
    r = await proxy.request('POST', '/dns/', { body: form(`WEB1.${ZONE}`, rev, 'PTR') });
    assert.equal(r.status, 200, 'same name in other case is the same record');
    r = await proxy.request('POST', '/dns/', { body: form(`other.${ZONE}`, rev, 'PTR') });
    assert.equal(r.status, 409);
    assert.equal(r.body, `'${rev}' is already in use`);
    r = await proxy.request('DELETE', `/dns/${rev}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig('192.0.2.10', '', ['-x']), []);
    r = await proxy.request('DELETE', `/dns/${rev}`);
    assert.equal(r.status, 404);
  });

  test('PTR (IPv6): nibble name in the ip6.arpa zone', async () => {
    const rev = `5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.${REV6}`;
    let r = await proxy.request('POST', '/dns/', { body: form(`web6.${ZONE}`, rev, 'PTR') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig('2001:db8::5', '', ['-x']), [`web6.${ZONE}.`]);
    r = await proxy.request('POST', '/dns/', { body: form(`x.${ZONE}`, rev, 'PTR') });
    assert.equal(r.status, 409);
    r = await proxy.request('DELETE', `/dns/${rev}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig('2001:db8::5', '', ['-x']), []);
  });

  test('CNAME: create, identical (with or without trailing dot) → 200, other target → 409, a name with data → 409, delete', async () => {
    const alias = `www.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(alias, `web1.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(alias, 'CNAME'), [`web1.${ZONE}.`]);
    r = await proxy.request('POST', '/dns/', { body: form(alias, `web1.${ZONE}.`, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(alias, `web2.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 409);
    assert.equal(r.body, `'${alias} 'is already in use`);
    // an address at a CNAME's name would be dropped by BIND: refused as a conflict instead
    r = await proxy.request('POST', '/dns/', { body: form(alias, '192.0.2.31', 'A') });
    assert.equal(r.status, 409);
    assert.deepEqual(await named.dig(alias, 'CNAME'), [`web1.${ZONE}.`]);
    r = await proxy.request('DELETE', `/dns/${alias}/CNAME`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(alias, 'CNAME'), []);
    // a CNAME cannot share a name with other data: refused instead of silently dropped
    r = await proxy.request('POST', '/dns/', { body: form(`data.${ZONE}`, '192.0.2.30', 'A') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(`data.${ZONE}`, `web1.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 409);
    assert.deepEqual(await named.dig(`data.${ZONE}`, 'CNAME'), []);
  });

  test('SRV: always created (several at one name), observed, deleted as a set', async () => {
    const name = `_sip._tcp.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(name, '0 5 5060 sip1.example.test', 'SRV') });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: form(name, '10 5 5061 sip2.example.test.', 'SRV') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(name, 'SRV'), ['0 5 5060 sip1.example.test.', '10 5 5061 sip2.example.test.']);
    r = await proxy.request('DELETE', `/dns/${name}/SRV`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(name, 'SRV'), []);
  });

  test('racing creates of one name with different addresses: exactly one wins, the rest get 409', async () => {
    const name = `race.${ZONE}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => proxy.request('POST', '/dns/', { body: form(name, `192.0.2.${100 + i}`, 'A') })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    const winner = 100 + results.findIndex((r) => r.status === 200);
    assert.deepEqual(await named.dig(name, 'A'), [`192.0.2.${winner}`]);
  });

  test('validation errors use the reference texts', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [{ fqdn: 'a.example.test', value: '192.0.2.1' }, 400, "'create' requires fqdn, value, and type parameters"],
      [form('bad_name.example.test', '192.0.2.1', 'A'), 400, 'Invalid DNS name bad_name.example.test'],
      [form('-x.example.test', '192.0.2.1', 'A'), 400, 'Invalid DNS name -x.example.test'],
      [form('a.example.test', '192.0.2.01', 'A'), 400, 'invalid address: 192.0.2.01'],
      [form('a.example.test', '2001:db8::1', 'A'), 400, 'address family mismatch: 2001:db8::1'],
      [form('a.example.test', 'nope', 'AAAA'), 400, 'invalid address: nope'],
      [form('a.example.test', '1.2.0.192.in-addr', 'PTR'), 400, 'Invalid reverse DNS 1.2.0.192.in-addr'],
      [form('a.example.test', 'x y', 'CNAME'), 400, 'Invalid DNS name x y'],
      [form('_s._tcp.example.test', '1 2 0 t.example.test', 'SRV'), 400, 'Invalid DNS SRV value 1 2 0 t.example.test'],
      [form('a b', '1 2 3 t', 'SRV'), 400, 'Invalid DNS srv name a b'],
      [form('a.example.test', 'x', 'MX'), 400, "unrecognized 'type' parameter: MX"],
    ];
    for (const [body, status, text] of cases) {
      const r = await proxy.request('POST', '/dns/', { body });
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body, text);
    }
    let r = await proxy.request('DELETE', `/dns/web1.${ZONE}/a`);
    assert.equal(r.status, 400);
    assert.equal(r.body, "unrecognized 'type' parameter: a");
    r = await proxy.request('DELETE', '/dns/not_valid/A');
    assert.equal(r.body, 'Invalid DNS name not_valid');
    r = await proxy.request('DELETE', `/dns/web1.${ZONE}/PTR`);
    assert.equal(r.body, `Invalid reverse DNS web1.${ZONE}`);
    r = await proxy.request('DELETE', '/dns/');
    assert.equal(r.status, 404);
    assert.equal(r.body, 'Requested url was not found');
    r = await proxy.request('GET', '/dns/web1.example.test');
    assert.equal(r.status, 404);
  });

  test('a name outside every zone of the server is a clear 400', async () => {
    const r = await proxy.request('POST', '/dns/', { body: form('host.elsewhere.test', '192.0.2.1', 'A') });
    assert.equal(r.status, 400);
    assert.match(r.body, /not authoritative for a zone containing host\.elsewhere\.test|REFUSED/);
  });

  test('an update signed with a wrong key is refused by named and reported clearly', async () => {
    const bad = await startProxyFor(named.wrongSecretKeyFile);
    try {
      const r = await bad.request('POST', '/dns/', { body: form(`intruder.${ZONE}`, '192.0.2.66', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /rejected TSIG key 'foreman-hmac-sha256'.*BADSIG/);
      assert.deepEqual(await named.dig(`intruder.${ZONE}`, 'A'), []);
    } finally {
      await bad.close();
    }
    const unsigned = await startProxyFor(undefined);
    try {
      const r = await unsigned.request('POST', '/dns/', { body: form(`intruder.${ZONE}`, '192.0.2.66', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /REFUSED.*set dns_key/);
    } finally {
      await unsigned.close();
    }
  });

  test('a missing or malformed dns_key fails the module with the reason', async () => {
    const p = await startTestProxy({
      files: {
        dns: { enabled: true },
        dns_nsupdate: { dns_server: `127.0.0.1:${named.port}`, dns_key: named.dir + '/named.conf' },
      },
    });
    try {
      const r = await p.request('GET', '/v2/features');
      assert.equal(JSON.parse(r.body).dns.state, 'failed');
      const logs = await p.request('GET', '/logs/');
      assert.match(logs.body, /cannot use the TSIG key in .*named\.conf.*dns_key/);
    } finally {
      await p.close();
    }
  });

  test('server down: clear 400 within the deadline; server back: the next request works', async () => {
    await named.stop();
    try {
      const r = await proxy.request('POST', '/dns/', { body: form(`down.${ZONE}`, '192.0.2.40', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /DNS server 127\.0\.0\.1:\d+ unreachable: connection refused/);
    } finally {
      await named.start();
    }
    const r = await proxy.request('POST', '/dns/', { body: form(`down.${ZONE}`, '192.0.2.40', 'A') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await named.dig(`down.${ZONE}`, 'A'), ['192.0.2.40']);
  });

  test('a silent DNS server (stand-in: a UDP socket that never answers): clear 400 once dns_timeout is spent', async () => {
    const sink = createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    const p = await startTestProxy({
      global: { dns_resolv_timeouts: [1] },
      files: {
        dns: { enabled: true },
        dns_nsupdate: { dns_server: `127.0.0.1:${sink.address().port}`, dns_key: named.keyFiles['hmac-sha256'], dns_timeout: 2 },
      },
    });
    try {
      const r = await p.request('POST', '/dns/', { body: form(`slow.${ZONE}`, '192.0.2.41', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /no reply from DNS server 127\.0\.0\.1:\d+/);
    } finally {
      await p.close();
      sink.close();
    }
  });
});
