// /dns with dns_infoblox over real HTTPS against the Infoblox WAPI stand-in (an Infoblox grid
// cannot run here). The conformance suite checks Foreman's calls; the stand-in's own store is
// what the records are observed in. Then the faults: wrong credentials, a grid that is down,
// slow, or answering the wrong shape, each a clear error within the deadline while the proxy
// keeps answering other routes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { dnsConformance, type ConformanceRecordType } from '../lib/dns-conformance.ts';
import { startInfobloxStandIn, type InfobloxStandIn } from '../lib/infoblox-standin.ts';
import { freeTcpPort, removeDir, tempDir } from '../lib/procs.ts';

const ZONE = 'example.test';
const DATA: Record<ConformanceRecordType, { type: string; field: string }> = {
  A: { type: 'record:a', field: 'ipv4addr' },
  AAAA: { type: 'record:aaaa', field: 'ipv6addr' },
  CNAME: { type: 'record:cname', field: 'canonical' },
  PTR: { type: 'record:ptr', field: 'ptrdname' },
};

let dir: string;
let pki: Pki;
let wapi: InfobloxStandIn;
let proxy: TestProxy;

function proxyFor(settings: Record<string, unknown>): Promise<TestProxy> {
  return startTestProxy({
    files: {
      dns: { enabled: true, use_provider: 'dns_infoblox' },
      dns_infoblox: { dns_server: wapi.host, username: 'admin', password: 'infoblox', dns_view: 'internal', ssl_ca: pki.caCert, ...settings },
    },
  });
}

describe('/dns with dns_infoblox against the Infoblox WAPI stand-in', { timeout: 120_000 }, () => {
  before(async () => {
    dir = await tempDir('ib-dns');
    pki = await makePki(dir);
    wapi = await startInfobloxStandIn({ cert: pki.serverCert, key: pki.serverKey });
    proxy = await proxyFor({});
  });
  after(async () => {
    await proxy?.close();
    await wapi?.close();
    await removeDir(dir);
  });

  dnsConformance(() => ({
    request: (method, path, options) => proxy.request(method, path, options),
    zone: ZONE,
    reverseNet: '192.0.2',
    lookup: async (type, name) =>
      wapi
        .objects(DATA[type].type, (f) => f.view === 'internal' && String(f.name).toLowerCase() === name.toLowerCase())
        .map((o) => String(o[DATA[type].field])),
  }));

  test('stand-in: records carry the DNS view and no TTL; a PTR carries its address', async () => {
    const r = await proxy.request('POST', '/dns/', { body: { fqdn: `web9.${ZONE}`, value: '9.2.0.192.in-addr.arpa', type: 'PTR' } });
    assert.equal(r.status, 200, r.body);
    const [ptr] = wapi.objects('record:ptr', (f) => f.name === '9.2.0.192.in-addr.arpa');
    assert.equal(ptr?.view, 'internal');
    assert.equal(ptr?.ipv4addr, '192.0.2.9');
    assert.equal(ptr?.ttl, undefined);
    assert.equal((await proxy.request('DELETE', '/dns/9.2.0.192.in-addr.arpa/PTR')).status, 200);
  });

  test('stand-in: an A record next to an existing CNAME is a 409 from the grid', async () => {
    wapi.add('record:cname', { name: `alias7.${ZONE}`, canonical: `web7.${ZONE}`, view: 'internal' });
    const r = await proxy.request('POST', '/dns/', { body: { fqdn: `alias7.${ZONE}`, value: '192.0.2.7', type: 'A' } });
    assert.equal(r.status, 409, r.body);
  });

  test('stand-in: deleting follows WAPI pages and removes every match', async () => {
    wapi.pageSizeCap = 2;
    try {
      for (let i = 1; i <= 5; i++) wapi.add('record:a', { name: `multi.${ZONE}`, ipv4addr: `192.0.2.${100 + i}`, view: 'internal' });
      const before = wapi.requests.length;
      const r = await proxy.request('DELETE', `/dns/multi.${ZONE}/A`);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(wapi.objects('record:a', (f) => f.name === `multi.${ZONE}`), []);
      const paged = wapi.requests.slice(before).filter((q) => q.method === 'GET' && q.query._page_id !== undefined);
      assert.equal(paged.length, 2, 'five records in pages of two: two follow-up pages');
    } finally {
      wapi.pageSizeCap = 1000;
    }
  });

  test('stand-in: SRV is refused with the plugin\'s message', async () => {
    const r = await proxy.request('POST', '/dns/', { body: { fqdn: `_sip._tcp.${ZONE}`, value: `0 5 5060 sip.${ZONE}`, type: 'SRV' } });
    assert.equal(r.status, 400);
    assert.match(r.body, /Creation of SRV records not implemented/);
  });

  test('stand-in: wrong credentials give a clear 400 naming the user, and the password is not in the answer or the log', async () => {
    const bad = await proxyFor({ password: 'not-the-password-123' });
    try {
      const r = await bad.request('POST', '/dns/', { body: { fqdn: `cred.${ZONE}`, value: '192.0.2.40', type: 'A' } });
      assert.equal(r.status, 400);
      assert.match(r.body, /refused the credentials of user 'admin'/);
      assert.doesNotMatch(r.body, /not-the-password-123/);
      const log = await import('node:fs/promises').then((fs) => fs.readFile(`${bad.settingsDir}/proxy.log`, 'utf8'));
      assert.doesNotMatch(log, /not-the-password-123/);
      assert.deepEqual(wapi.objects('record:a', (f) => f.name === `cred.${ZONE}`), []);
    } finally {
      await bad.close();
    }
  });

  test('stand-in: a grid certificate from a CA the proxy does not trust is a clear 400', async () => {
    const untrusted = await proxyFor({ ssl_ca: undefined });
    try {
      const r = await untrusted.request('POST', '/dns/', { body: { fqdn: `tls.${ZONE}`, value: '192.0.2.44', type: 'A' } });
      assert.equal(r.status, 400);
      assert.match(r.body, /TLS failure with the Infoblox WAPI at 127\.0\.0\.1:\d+: .*ssl_ca/);
      assert.deepEqual(wapi.objects('record:a', (f) => f.name === `tls.${ZONE}`), []);
    } finally {
      await untrusted.close();
    }
  });

  test('stand-in: a grid that is down gives a clear 400', async () => {
    const down = await proxyFor({ dns_server: `127.0.0.1:${await freeTcpPort()}` });
    try {
      const r = await down.request('POST', '/dns/', { body: { fqdn: `down.${ZONE}`, value: '192.0.2.41', type: 'A' } });
      assert.equal(r.status, 400);
      assert.match(r.body, /dns_infoblox: create down\.example\.test A 192\.0\.2\.41 failed: cannot reach the Infoblox WAPI/);
    } finally {
      await down.close();
    }
  });

  test('stand-in: a slow grid fails within the timeout setting while other routes keep answering', async () => {
    const slow = await proxyFor({ timeout: 2 });
    wapi.fault = 'hang';
    try {
      const pending = slow.request('POST', '/dns/', { body: { fqdn: `slow.${ZONE}`, value: '192.0.2.42', type: 'A' } });
      // The proxy answers another route while the WAPI call hangs.
      await waitUntil(() => wapi.hanging > 0);
      const features = await slow.request('GET', '/features');
      assert.equal(features.status, 200);
      assert.equal(wapi.hanging, 1, 'the DNS request is still waiting for the grid');
      const r = await pending;
      assert.equal(r.status, 400);
      assert.match(r.body, /no answer from the Infoblox WAPI at 127\.0\.0\.1:\d+ within 2 s/);
    } finally {
      wapi.fault = 'none';
      await slow.close();
    }
  });

  test('stand-in: answers of the wrong shape give a clear 400', async () => {
    for (const [fault, why] of [
      ['wrong-shape', /unexpected answer from the Infoblox WAPI .* expected an object with a result list/],
      ['html', /unexpected answer from the Infoblox WAPI .* not JSON/],
    ] as const) {
      wapi.fault = fault;
      try {
        const r = await proxy.request('POST', '/dns/', { body: { fqdn: `shape.${ZONE}`, value: '192.0.2.43', type: 'A' } });
        assert.equal(r.status, 400);
        assert.match(r.body, why);
      } finally {
        wapi.fault = 'none';
      }
    }
  });
});

async function waitUntil(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}
