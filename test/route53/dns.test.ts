// /dns with dns_route53 over real HTTPS against the Route 53 API stand-in (AWS cannot be reached
// from tests). The stand-in recomputes every request's Signature Version 4 with aws4 and the
// known secret, so a signing bug fails here. The conformance suite checks Foreman's calls, the
// stand-in's zones are where records are observed; then zone choice, paging, change batches,
// INSYNC waiting, and the faults (wrong keys, endpoint down, slow, wrong-shape answers).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { dnsConformance } from '../lib/dns-conformance.ts';
import { startRoute53StandIn, type Route53StandIn } from '../lib/route53-standin.ts';
import { freeTcpPort, removeDir, tempDir } from '../lib/procs.ts';

const ZONE = 'example.test';

let dir: string;
let pki: Pki;
let aws: Route53StandIn;
let proxy: TestProxy;
let zoneId: string;
let subZoneId: string;

function proxyFor(settings: Record<string, unknown>): Promise<TestProxy> {
  return startTestProxy({
    files: {
      dns: { enabled: true, use_provider: 'dns_route53', dns_ttl: 300 },
      dns_route53: { aws_access_key: aws.accessKeyId, aws_secret_key: aws.secretAccessKey, endpoint: aws.endpoint, ssl_ca: pki.caCert, ...settings },
    },
  });
}

const form = (fqdn: string, value: string, type: string): Record<string, string> => ({ fqdn, value, type });

describe('/dns with dns_route53 against the Route 53 API stand-in', { timeout: 120_000 }, () => {
  before(async () => {
    dir = await tempDir('r53');
    pki = await makePki(dir);
    aws = await startRoute53StandIn({ cert: pki.serverCert, key: pki.serverKey });
    // Several zones, so the zone listing takes more than one page below.
    for (const z of ['example.org', 'example.net', 'corp.example']) aws.addZone(z);
    zoneId = aws.addZone(ZONE);
    subZoneId = aws.addZone(`lab.${ZONE}`);
    aws.addZone('2.0.192.in-addr.arpa');
    aws.addZone('8.b.d.0.1.0.0.2.ip6.arpa');
    proxy = await proxyFor({});
  });
  after(async () => {
    await proxy?.close();
    await aws?.close();
    await removeDir(dir);
  });

  dnsConformance(() => ({
    request: (method, path, options) => proxy.request(method, path, options),
    zone: ZONE,
    reverseNet: '192.0.2',
    lookup: async (_type, name) => aws.values(name, _type),
  }));

  test('stand-in: every request carried a valid SigV4 signature', () => {
    assert.ok(aws.requests.length > 0);
    assert.deepEqual(aws.requests.filter((r) => r.signature !== 'valid'), []);
  });

  test('stand-in: a record goes to the longest zone containing it, with dns_ttl, values absolute', async () => {
    let r = await proxy.request('POST', '/dns/', { body: form(`db.lab.${ZONE}`, '192.0.2.50', 'A') });
    assert.equal(r.status, 200, r.body);
    const set = aws.recordSets(subZoneId).find((s) => s.Name === `db.lab.${ZONE}.`);
    assert.equal(set?.TTL, '300');
    assert.equal(aws.recordSets(zoneId).some((s) => s.Name === `db.lab.${ZONE}.`), false);
    r = await proxy.request('POST', '/dns/', { body: form(`www.lab.${ZONE}`, `db.lab.${ZONE}`, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(aws.values(`www.lab.${ZONE}`, 'CNAME'), [`db.lab.${ZONE}.`]);
    for (const [n, t] of [[`www.lab.${ZONE}`, 'CNAME'], [`db.lab.${ZONE}`, 'A']]) assert.equal((await proxy.request('DELETE', `/dns/${n}/${t}`)).status, 200);
  });

  test('stand-in: an A record where a CNAME exists is a 409 from Route 53\'s InvalidChangeBatch', async () => {
    aws.recordSets(zoneId).push({ Name: `alias9.${ZONE}.`, Type: 'CNAME', TTL: '300', ResourceRecords: { ResourceRecord: [{ Value: `web9.${ZONE}.` }] } });
    const r = await proxy.request('POST', '/dns/', { body: form(`alias9.${ZONE}`, '192.0.2.9', 'A') });
    assert.equal(r.status, 409, r.body);
    assert.deepEqual(aws.values(`alias9.${ZONE}`, 'A'), []);
  });

  test('stand-in: a name in no hosted zone is a 400 naming it', async () => {
    const r = await proxy.request('POST', '/dns/', { body: form('host.nowhere.invalid', '192.0.2.51', 'A') });
    assert.equal(r.status, 400);
    assert.match(r.body, /Could not find zone 'host\.nowhere\.invalid\.'/);
    assert.equal((await proxy.request('DELETE', '/dns/host.nowhere.invalid/A')).status, 404);
  });

  test('stand-in: the zone listing and record-set listing follow pages; a weighted set is deleted whole', async () => {
    aws.pageSizeCap = 2;
    const fresh = await proxyFor({});
    try {
      const before = aws.requests.length;
      // Three weighted sets share name and type: Route 53 pages within them.
      for (const [id, ip] of [['a', '192.0.2.61'], ['b', '192.0.2.62'], ['c', '192.0.2.63']]) {
        aws.recordSets(zoneId).push({ Name: `weighted.${ZONE}.`, Type: 'A', SetIdentifier: id, Weight: '10', TTL: '60', ResourceRecords: { ResourceRecord: [{ Value: ip }] } });
      }
      const r = await fresh.request('DELETE', `/dns/weighted.${ZONE}/A`);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(aws.values(`weighted.${ZONE}`, 'A'), []);
      const listed = aws.requests.slice(before).filter((q) => q.method === 'GET' && q.path.endsWith('/hostedzone'));
      assert.ok(listed.length >= 4, `seven zones in pages of two: ${listed.length} zone pages`);
      const rrsetPages = aws.requests.slice(before).filter((q) => q.method === 'GET' && q.path.endsWith('/rrset'));
      assert.ok(rrsetPages.length >= 2, `three sets in pages of two: ${rrsetPages.length} pages`);
    } finally {
      aws.pageSizeCap = 1000;
      await fresh.close();
    }
  });

  test('stand-in: wait_for_sync answers only after GetChange reports INSYNC', async () => {
    const waiting = await proxyFor({ wait_for_sync: true });
    try {
      aws.pollsUntilInsync = 2;
      const r = await waiting.request('POST', '/dns/', { body: form(`sync.${ZONE}`, '192.0.2.70', 'A') });
      assert.equal(r.status, 200, r.body);
      const last = [...aws.changes.values()].at(-1);
      assert.equal(last?.status, 'INSYNC');
      assert.equal(last?.polls, 2);
      // Without the setting the change is left PENDING.
      const r2 = await proxy.request('DELETE', `/dns/sync.${ZONE}/A`);
      assert.equal(r2.status, 200);
      assert.equal([...aws.changes.values()].at(-1)?.status, 'PENDING');
    } finally {
      await waiting.close();
    }
  });

  test('stand-in: a throttled request is retried', async () => {
    aws.fault = 'throttle-once';
    try {
      const r = await proxy.request('POST', '/dns/', { body: form(`throttle.${ZONE}`, '192.0.2.71', 'A') });
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(aws.values(`throttle.${ZONE}`, 'A'), ['192.0.2.71']);
    } finally {
      aws.fault = 'none';
    }
  });

  test('stand-in: a wrong secret is refused by the signature check with a clear 400; no key in answer or log', async () => {
    const bad = await proxyFor({ aws_secret_key: 'WRONGwrongWRONGwrong/secret+key' });
    try {
      const r = await bad.request('POST', '/dns/', { body: form(`cred.${ZONE}`, '192.0.2.72', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /dns_route53: .*AWS Response Error: SignatureDoesNotMatch: The request signature we calculated does not match .*\(check aws_access_key and aws_secret_key\)/);
      assert.doesNotMatch(r.body, /WRONGwrong/);
      const log = await readFile(`${bad.settingsDir}/proxy.log`, 'utf8');
      assert.doesNotMatch(log, /WRONGwrong/);
      assert.doesNotMatch(log, new RegExp(aws.secretAccessKey.replace(/[/+]/g, '.')));
      assert.equal(aws.requests.at(-1)?.signature, 'invalid');
    } finally {
      await bad.close();
    }
    const unknown = await proxyFor({ aws_access_key: 'AKIDUNKNOWN000000000' });
    try {
      const r = await unknown.request('DELETE', `/dns/cred.${ZONE}/A`);
      assert.equal(r.status, 400);
      assert.match(r.body, /InvalidClientTokenId: The security token included in the request is invalid/);
    } finally {
      await unknown.close();
    }
  });

  test('stand-in: an endpoint that is down gives a clear 400', async () => {
    const down = await proxyFor({ endpoint: `https://127.0.0.1:${await freeTcpPort()}` });
    try {
      const r = await down.request('POST', '/dns/', { body: form(`down.${ZONE}`, '192.0.2.73', 'A') });
      assert.equal(r.status, 400);
      assert.match(r.body, /dns_route53: create down\.example\.test\. A 192\.0\.2\.73 failed: cannot reach the Route 53 API at 127\.0\.0\.1:\d+/);
    } finally {
      await down.close();
    }
  });

  test('stand-in: a slow endpoint fails within the timeout while other routes keep answering', async () => {
    const slow = await proxyFor({ timeout: 2 });
    aws.fault = 'hang';
    try {
      const pending = slow.request('POST', '/dns/', { body: form(`slow.${ZONE}`, '192.0.2.74', 'A') });
      const until = Date.now() + 10_000;
      while (aws.hanging === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(aws.hanging, 1);
      assert.equal((await slow.request('GET', '/features')).status, 200);
      const r = await pending;
      assert.equal(r.status, 400);
      assert.match(r.body, /no answer from the Route 53 API at 127\.0\.0\.1:\d+ within 2 s/);
    } finally {
      aws.fault = 'none';
      await slow.close();
    }
  });

  test('stand-in: answers of the wrong shape give a clear 400', async () => {
    const fresh = await proxyFor({});
    try {
      for (const [fault, why] of [
        ['wrong-shape', /unexpected answer from the Route 53 API at 127\.0\.0\.1:\d+ to ListHostedZones: expected <ListHostedZonesResponse>, got <DescribeInstancesResponse>/],
        ['html', /unexpected answer from the Route 53 API .* not XML/],
      ] as const) {
        aws.fault = fault;
        try {
          const r = await fresh.request('POST', '/dns/', { body: form(`shape.${ZONE}`, '192.0.2.75', 'A') });
          assert.equal(r.status, 400);
          assert.match(r.body, why);
        } finally {
          aws.fault = 'none';
        }
      }
    } finally {
      await fresh.close();
    }
  });
});
