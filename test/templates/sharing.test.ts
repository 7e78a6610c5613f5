// Shared template answers (coalescing and the optional cache) through the real proxy, against a
// stand-in Foreman (Foreman itself cannot run here) that counts what reaches it. The stand-in holds
// its answers until the test has seen every request arrive at the proxy, so "concurrent" is
// certain, not a matter of timing.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import type { TemplatesExports } from '../../src/modules/templates/api.ts';
import { header, startStandInForeman, type StandInForeman, type StandInReply, type RecordedRequest } from '../lib/standin-foreman.ts';

const TEMPLATE_URL = 'http://proxy.example.com:8000';
const ENC_TEMPLATE_URL = 'http%3A%2F%2Fproxy.example.com%3A8000';
// an intermediate script of realistic size, larger than one TCP segment
const SCRIPT = `#!ipxe\n${Array.from({ length: 2000 }, (_, i) => `echo line ${i} of the intermediate script`).join('\n')}\n`;
// 1000 connections from 127.0.0.1: above the default per-peer limit of 64
const LIMITS = { max_connections: 4096, max_connections_per_peer: 2048, reserved_connections: 0 };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request on its own connection, optionally from another loopback address, abortable. */
function get(base: string, path: string, options: { localAddress?: string; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Answer> {
  const u = new URL(base);
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path,
        method: 'GET',
        agent: new Agent({ keepAlive: false }),
        headers: options.headers ?? {},
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** A stand-in whose answers wait for `open()`; `reply` says what each answer is. */
async function gatedForeman(): Promise<{
  foreman: StandInForeman;
  setReply(fn: (r: RecordedRequest) => StandInReply): void;
  close(): void;
  open(): void;
}> {
  let reply: (r: RecordedRequest) => StandInReply = () => ({ status: 200, body: SCRIPT });
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => undefined;
  const foreman = await startStandInForeman(async (r) => {
    await gate;
    return reply(r);
  });
  return {
    foreman,
    setReply: (fn) => (reply = fn),
    close: () => {
      gate = new Promise<void>((r) => (open = r));
    },
    open: () => open(),
  };
}

function stats(proxy: TestProxy): TemplatesExports['sharedStats'] {
  const exports = proxy.proxy.records.get('templates')?.instance?.exports as TemplatesExports | undefined;
  assert.ok(exports, 'templates exports');
  return () => exports.sharedStats();
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 3000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), `timed out waiting for ${what}`);
}

describe('shared template answers through the proxy (stand-in Foreman)', () => {
  let stand: Awaited<ReturnType<typeof gatedForeman>>;
  let proxy: TestProxy;
  let sharedStats: TemplatesExports['sharedStats'];

  before(async () => {
    stand = await gatedForeman();
    proxy = await startTestProxy({
      global: { foreman_url: stand.foreman.origin, limits: LIMITS, log_level: 'ERROR' },
      files: { templates: { ':enabled': true, ':template_url': TEMPLATE_URL, ':shared_cache_ttl': 30 } },
    });
    sharedStats = stats(proxy);
  });
  after(async () => {
    stand?.open();
    await proxy?.close();
    await stand?.foreman.close();
  });

  test('1000 concurrent identical iPXE bootstrap requests reach the stand-in Foreman as one, and all get the full body', async () => {
    stand.close();
    stand.setReply(() => ({ status: 200, headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' }, body: SCRIPT }));
    const seen = stand.foreman.requests.length;
    const before = sharedStats();
    const answers = Array.from({ length: 1000 }, () => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=1'));
    await until('999 requests joining the first', () => sharedStats().coalesced - before.coalesced === 999);
    stand.open();
    const results = await Promise.all(answers);
    assert.equal(stand.foreman.requests.length - seen, 1);
    assert.ok(results.every((r) => r.status === 200 && r.body === SCRIPT), 'every host got the whole script');
    assert.equal(results[0].headers['content-type'], 'text/html;charset=utf-8');
    const rec = stand.foreman.requests[seen];
    assert.equal(rec.url, `/unattended/iPXE?bootstrap=1&url=${ENC_TEMPLATE_URL}`);
    // by default Foreman may choose by address, so only hosts of one address share, and it travels
    assert.equal(header(rec, 'x-forwarded-for'), '127.0.0.1');
    assert.equal(sharedStats().upstream - before.upstream, 1);
  });

  test('host-specific concurrent requests all reach the stand-in Foreman', async () => {
    stand.close();
    stand.setReply((r) => ({ status: 200, body: `for ${r.rawQuery}` }));
    const seen = stand.foreman.requests.length;
    const paths = [
      ...Array.from({ length: 10 }, () => '/unattended/provision?token=abc'),
      ...Array.from({ length: 10 }, () => '/unattended/iPXE?bootstrap=1&mac=aa:bb:cc:dd:ee:ff'),
      ...Array.from({ length: 10 }, () => '/unattended/iPXE'),
    ];
    const answers = [
      ...paths.map((p) => get(proxy.baseUrl, p)),
      // the bootstrap itself, with credentials or a MAC header
      ...Array.from({ length: 10 }, () => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=1', { headers: { authorization: 'Bearer t' } })),
      ...Array.from({ length: 10 }, () => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=1', { headers: { 'X-RHN-Provisioning-MAC-0': 'eth0 aa:bb:cc:dd:ee:ff' } })),
    ];
    await until('all 50 at the stand-in', () => stand.foreman.requests.length - seen === 50);
    stand.open();
    const results = await Promise.all(answers);
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(stand.foreman.requests.length - seen, 50);
  });

  test('requests from different addresses do not share by default', async () => {
    stand.close();
    stand.setReply((r) => ({ status: 200, headers: { 'cache-control': 'no-store' }, body: `for ${String(r.headers['x-forwarded-for'])}` }));
    const seen = stand.foreman.requests.length;
    const a = get(proxy.baseUrl, '/unattended/gPXE?bootstrap=1', { localAddress: '127.0.0.2' });
    const b = get(proxy.baseUrl, '/unattended/gPXE?bootstrap=1', { localAddress: '127.0.0.3' });
    await until('both at the stand-in', () => stand.foreman.requests.length - seen === 2);
    stand.open();
    assert.deepEqual([(await a).body, (await b).body], ['for 127.0.0.2', 'for 127.0.0.3']);
  });

  test('a cached answer is reused within its TTL and fetched again after it', async () => {
    stand.setReply(() => ({ status: 200, headers: { 'cache-control': 'public, max-age=30' }, body: 'hostgroup template v1' }));
    const seen = stand.foreman.requests.length;
    const first = await get(proxy.baseUrl, '/unattended/template/Kickstart%20default/base');
    stand.setReply(() => ({ status: 200, body: 'hostgroup template v2' }));
    const second = await get(proxy.baseUrl, '/unattended/template/Kickstart%20default/base');
    assert.equal(first.body, 'hostgroup template v1');
    assert.equal(second.body, 'hostgroup template v1');
    assert.equal(stand.foreman.requests.length - seen, 1);
    // a client asking for a fresh answer is not served from the cache
    const fresh = await get(proxy.baseUrl, '/unattended/template/Kickstart%20default/base', { headers: { 'cache-control': 'no-cache' } });
    assert.equal(fresh.body, 'hostgroup template v2');

    // Foreman allows 1 s for this one: after it, Foreman is asked again
    stand.setReply(() => ({ status: 200, headers: { 'cache-control': 's-maxage=1' }, body: 'short v1' }));
    const seenShort = stand.foreman.requests.length;
    assert.equal((await get(proxy.baseUrl, '/unattended/template/short/base')).body, 'short v1');
    stand.setReply(() => ({ status: 200, headers: { 'cache-control': 's-maxage=1' }, body: 'short v2' }));
    assert.equal((await get(proxy.baseUrl, '/unattended/template/short/base')).body, 'short v1');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await get(proxy.baseUrl, '/unattended/template/short/base')).body, 'short v2');
    assert.equal(stand.foreman.requests.length - seenShort, 2);
    assert.ok(sharedStats().cacheHits >= 2);
  });

  test('Cache-Control no-store or private is never cached', async () => {
    for (const cc of ['no-store', 'max-age=0, private, must-revalidate']) {
      const seen = stand.foreman.requests.length;
      stand.setReply(() => ({ status: 200, headers: { 'cache-control': cc }, body: 'not for keeping' }));
      await get(proxy.baseUrl, `/unattended/template/${cc.length}/hg`);
      await get(proxy.baseUrl, `/unattended/template/${cc.length}/hg`);
      assert.equal(stand.foreman.requests.length - seen, 2, cc);
    }
  });

  test("a Foreman error reaches every waiting host with Foreman's status, from one request", async () => {
    stand.close();
    stand.setReply(() => ({ status: 404, headers: { 'content-type': 'text/plain' }, body: "iPXE intermediate script 'x' not found" }));
    const seen = stand.foreman.requests.length;
    const before = sharedStats();
    const answers = Array.from({ length: 50 }, () => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=2'));
    await until('49 joining', () => sharedStats().coalesced - before.coalesced === 49);
    stand.open();
    const results = await Promise.all(answers);
    assert.equal(stand.foreman.requests.length - seen, 1);
    assert.ok(results.every((r) => r.status === 404));
    assert.match(results[0].body, /^Failed to proxy \/iPXE for .*Net::HTTPNotFound: 404 /);
    // errors are not cached: the next request asks Foreman again
    stand.setReply(() => ({ status: 200, body: 'back' }));
    assert.equal((await get(proxy.baseUrl, '/unattended/iPXE?bootstrap=2')).body, 'back');
    assert.equal(stand.foreman.requests.length - seen, 2);
  });

  test('a host that hangs up does not cancel the request for the others', async () => {
    stand.close();
    stand.setReply(() => ({ status: 200, headers: { 'cache-control': 'no-store' }, body: SCRIPT }));
    const seen = stand.foreman.requests.length;
    const before = sharedStats();
    const leaving = new AbortController();
    const first = get(proxy.baseUrl, '/unattended/iPXE?bootstrap=3', { signal: leaving.signal });
    await until('the first at the stand-in', () => stand.foreman.requests.length - seen === 1);
    const others = Array.from({ length: 9 }, () => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=3'));
    await until('9 joining', () => sharedStats().coalesced - before.coalesced === 9);
    leaving.abort();
    await assert.rejects(first);
    stand.open();
    const results = await Promise.all(others);
    assert.ok(results.every((r) => r.status === 200 && r.body === SCRIPT));
    assert.equal(stand.foreman.requests.length - seen, 1);
  });
});

describe('shared template answers across hosts and large answers (stand-in Foreman)', () => {
  let stand: Awaited<ReturnType<typeof gatedForeman>>;
  let proxy: TestProxy;
  let sharedStats: TemplatesExports['sharedStats'];

  before(async () => {
    stand = await gatedForeman();
    proxy = await startTestProxy({
      global: { foreman_url: stand.foreman.origin, log_level: 'ERROR' },
      files: {
        templates: { ':enabled': true, ':template_url': TEMPLATE_URL, ':shared_across_hosts': true, ':shared_body_limit': 4096 },
      },
    });
    sharedStats = stats(proxy);
  });
  after(async () => {
    stand?.open();
    await proxy?.close();
    await stand?.foreman.close();
  });

  test('with shared_across_hosts, hosts of different addresses share one request sent without X-Forwarded-For', async () => {
    stand.close();
    stand.setReply(() => ({ status: 200, body: 'intermediate' }));
    const seen = stand.foreman.requests.length;
    const before = sharedStats();
    const answers = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((a) => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=1', { localAddress: a }));
    await until('2 joining', () => sharedStats().coalesced - before.coalesced === 2);
    stand.open();
    assert.deepEqual((await Promise.all(answers)).map((r) => r.body), ['intermediate', 'intermediate', 'intermediate']);
    assert.equal(stand.foreman.requests.length - seen, 1);
    assert.equal(header(stand.foreman.requests[seen], 'x-forwarded-for'), undefined);
    // host-specific requests still carry the address
    await get(proxy.baseUrl, '/unattended/provision?token=abc', { localAddress: '127.0.0.5' });
    assert.equal(header(stand.foreman.requests[stand.foreman.requests.length - 1], 'x-forwarded-for'), '127.0.0.5');
  });

  test('an answer above shared_body_limit is streamed to the first host; the others are relayed on their own', async () => {
    stand.close();
    stand.setReply(() => ({ status: 200, body: SCRIPT }));
    const seen = stand.foreman.requests.length;
    const before = sharedStats();
    const answers = Array.from({ length: 5 }, () => get(proxy.baseUrl, '/unattended/iPXE?bootstrap=big'));
    await until('4 joining', () => sharedStats().coalesced - before.coalesced === 4);
    stand.open();
    const results = await Promise.all(answers);
    assert.ok(SCRIPT.length > 4096);
    assert.ok(results.every((r) => r.status === 200 && r.body === SCRIPT), 'every host got the whole script');
    assert.equal(stand.foreman.requests.length - seen, 5);
    // the shared request went without an address, each host's own relay with its own
    const sent = stand.foreman.requests.slice(seen).map((r) => header(r, 'x-forwarded-for'));
    assert.deepEqual(sent, [undefined, '127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1']);
  });
});
