import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Coalescer, type Fetched } from './coalesce.ts';
import { cacheTtlMs, clientWantsFresh, credentialHeader, normalisedQuery, parseCacheControl, sharingKey } from './coalesce-policy.ts';

/** A fetch the test settles by hand, counting its calls and seeing its abort signal. */
function manualFetch<T>() {
  const calls: { signal: AbortSignal; resolve: (v: Fetched<T>) => void; reject: (e: Error) => void }[] = [];
  const fetch = (signal: AbortSignal): Promise<Fetched<T>> =>
    new Promise<Fetched<T>>((resolve, reject) => {
      calls.push({ signal, resolve, reject });
    });
  return { calls, fetch };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Coalescer', () => {
  test('identical concurrent gets share one fetch and all get its value', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 0, maxEntries: 10 });
    const f = manualFetch<string>();
    const gets = Array.from({ length: 50 }, () => c.get('k', f.fetch));
    await tick();
    assert.equal(f.calls.length, 1);
    f.calls[0].resolve({ value: 'body', ttlMs: 0 });
    const results = await Promise.all(gets);
    assert.deepEqual(new Set(results.map((r) => r.value)), new Set(['body']));
    assert.equal(results.filter((r) => r.source === 'upstream').length, 1);
    assert.equal(results.filter((r) => r.source === 'coalesced').length, 49);
    assert.deepEqual(c.stats(), { upstream: 1, coalesced: 49, cacheHits: 0, cached: 0, inFlight: 0 });
  });

  test('different keys do not share', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 0, maxEntries: 10 });
    const f = manualFetch<string>();
    const a = c.get('a', f.fetch);
    const b = c.get('b', f.fetch);
    await tick();
    assert.equal(f.calls.length, 2);
    f.calls[0].resolve({ value: 'A', ttlMs: 0 });
    f.calls[1].resolve({ value: 'B', ttlMs: 0 });
    assert.equal((await a).value, 'A');
    assert.equal((await b).value, 'B');
  });

  test('a failure reaches every waiter once, and the next get fetches again (no retry on their behalf)', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 60_000, maxEntries: 10 });
    const f = manualFetch<string>();
    const gets = Array.from({ length: 5 }, () => c.get('k', f.fetch));
    await tick();
    f.calls[0].reject(new Error('Foreman down'));
    const settled = await Promise.allSettled(gets);
    assert.ok(settled.every((s) => s.status === 'rejected' && (s.reason as Error).message === 'Foreman down'));
    assert.equal(f.calls.length, 1);
    const again = c.get('k', f.fetch);
    await tick();
    assert.equal(f.calls.length, 2);
    f.calls[1].resolve({ value: 'ok', ttlMs: 0 });
    assert.equal((await again).value, 'ok');
  });

  test('a waiter that gives up does not cancel the fetch for the others', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 0, maxEntries: 10 });
    const f = manualFetch<string>();
    const gone = new AbortController();
    const first = c.get('k', f.fetch, { signal: gone.signal });
    const second = c.get('k', f.fetch);
    await tick();
    gone.abort(new Error('client went away'));
    await assert.rejects(first, /client went away/);
    assert.equal(f.calls[0].signal.aborted, false);
    f.calls[0].resolve({ value: 'body', ttlMs: 0 });
    assert.equal((await second).value, 'body');
  });

  test('when every waiter has gone the fetch is aborted and a later get starts afresh', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 0, maxEntries: 10 });
    const f = manualFetch<string>();
    const a = new AbortController();
    const b = new AbortController();
    const first = c.get('k', f.fetch, { signal: a.signal });
    const second = c.get('k', f.fetch, { signal: b.signal });
    await tick();
    a.abort();
    b.abort();
    await Promise.allSettled([first, second]);
    assert.equal(f.calls[0].signal.aborted, true);
    f.calls[0].reject(new Error('aborted'));
    const third = c.get('k', f.fetch);
    await tick();
    assert.equal(f.calls.length, 2);
    f.calls[1].resolve({ value: 'new', ttlMs: 0 });
    assert.equal((await third).value, 'new');
  });

  test('cached within the TTL (bounded by maxTtlMs), fetched again after it', async () => {
    let now = 1_000;
    const c = new Coalescer<string>({ maxTtlMs: 5_000, maxEntries: 10, now: () => now });
    const f = manualFetch<string>();
    const first = c.get('k', f.fetch);
    await tick();
    f.calls[0].resolve({ value: 'v1', ttlMs: 60_000 }); // Foreman would allow a minute; our bound is 5 s
    assert.equal((await first).source, 'upstream');
    now += 4_999;
    const hit = await c.get('k', f.fetch);
    assert.deepEqual(hit, { value: 'v1', source: 'cache' });
    now += 1;
    const miss = c.get('k', f.fetch);
    await tick();
    assert.equal(f.calls.length, 2);
    f.calls[1].resolve({ value: 'v2', ttlMs: 0 });
    assert.equal((await miss).value, 'v2');
    assert.equal(c.stats().cacheHits, 1);
  });

  test('a zero TTL (no-store, or the cache off) is never kept', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 5_000, maxEntries: 10 });
    const f = manualFetch<string>();
    const first = c.get('k', f.fetch);
    await tick();
    f.calls[0].resolve({ value: 'v', ttlMs: 0 });
    await first;
    const second = c.get('k', f.fetch);
    await tick();
    assert.equal(f.calls.length, 2);
    f.calls[1].resolve({ value: 'v', ttlMs: 0 });
    await second;
    assert.equal(c.stats().cached, 0);
  });

  test('bypassCache skips a cached answer', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 5_000, maxEntries: 10 });
    const f = manualFetch<string>();
    const first = c.get('k', f.fetch);
    await tick();
    f.calls[0].resolve({ value: 'v1', ttlMs: 5_000 });
    await first;
    const fresh = c.get('k', f.fetch, { bypassCache: true });
    await tick();
    assert.equal(f.calls.length, 2);
    f.calls[1].resolve({ value: 'v2', ttlMs: 5_000 });
    assert.equal((await fresh).value, 'v2');
  });

  test('the cache holds at most maxEntries, dropping the least recently used', async () => {
    const c = new Coalescer<string>({ maxTtlMs: 60_000, maxEntries: 2 });
    const put = async (key: string): Promise<void> => {
      await c.get(key, () => Promise.resolve({ value: key, ttlMs: 60_000 }));
    };
    await put('a');
    await put('b');
    assert.equal((await c.get('a', () => Promise.reject(new Error('should be cached')))).source, 'cache'); // a is now newest
    await put('c'); // evicts b
    assert.equal(c.stats().cached, 2);
    assert.equal((await c.get('a', () => Promise.reject(new Error('should be cached')))).source, 'cache');
    assert.equal((await c.get('b', () => Promise.resolve({ value: 'b2', ttlMs: 0 }))).source, 'upstream');
  });
});

describe('Cache-Control and the sharing key', () => {
  test('no-store, private and no-cache are never kept; s-maxage wins over max-age; our maximum bounds all', () => {
    assert.equal(cacheTtlMs('no-store', 30_000), 0);
    assert.equal(cacheTtlMs('private, max-age=60', 30_000), 0);
    assert.equal(cacheTtlMs('no-cache', 30_000), 0);
    assert.equal(cacheTtlMs('max-age=0, private, must-revalidate', 30_000), 0); // stock Rails/Foreman
    assert.equal(cacheTtlMs('max-age=10', 30_000), 10_000);
    assert.equal(cacheTtlMs('max-age=10, s-maxage=20', 30_000), 20_000);
    assert.equal(cacheTtlMs('public, max-age=600', 30_000), 30_000);
    assert.equal(cacheTtlMs(undefined, 30_000), 30_000);
    assert.equal(cacheTtlMs('max-age=soon', 30_000), 0);
    assert.equal(cacheTtlMs('max-age=60', 0), 0); // cache off: coalescing only
    assert.equal(cacheTtlMs(['public', 'No-Store'], 30_000), 0);
  });

  test('parseCacheControl reads quoted values with commas', () => {
    const cc = parseCacheControl('private="set-cookie, x-a", max-age=5');
    assert.equal(cc.get('private'), 'set-cookie, x-a');
    assert.equal(cc.get('max-age'), '5');
  });

  test('credentials are found in any case', () => {
    assert.equal(credentialHeader({ Authorization: 'Bearer x' }), 'authorization');
    assert.equal(credentialHeader({ cookie: 'a=b' }), 'cookie');
    assert.equal(credentialHeader({ 'proxy-authorization': 'Basic x' }), 'proxy-authorization');
    assert.equal(credentialHeader({ accept: '*/*' }), undefined);
  });

  test('a client asking for a fresh answer bypasses the cache', () => {
    assert.equal(clientWantsFresh({ 'cache-control': 'no-cache' }), true);
    assert.equal(clientWantsFresh({ 'cache-control': 'max-age=0' }), true);
    assert.equal(clientWantsFresh({ pragma: 'no-cache' }), true);
    assert.equal(clientWantsFresh({ 'cache-control': 'max-age=60' }), false);
    assert.equal(clientWantsFresh({}), false);
  });

  test('the key ignores param order and user agents, but not paths, values, addresses or other headers', () => {
    const base = { method: 'GET', path: 'unattended/iPXE', query: 'bootstrap=1&url=x', headers: { accept: '*/*', 'user-agent': 'iPXE/1.21' } };
    const key = sharingKey(base);
    assert.equal(normalisedQuery('b=2&a=1'), 'a=1&b=2');
    assert.equal(sharingKey({ ...base, query: 'url=x&bootstrap=1' }), key);
    assert.equal(sharingKey({ ...base, headers: { accept: '*/*', 'user-agent': 'iPXE/1.0' } }), key);
    assert.equal(sharingKey({ ...base, headers: { ...base.headers, 'x-forwarded-for': '10.0.0.9' } }), key);
    assert.notEqual(sharingKey({ ...base, path: 'unattended/gPXE' }), key);
    assert.notEqual(sharingKey({ ...base, query: 'bootstrap=2&url=x' }), key);
    assert.notEqual(sharingKey({ ...base, address: '10.0.0.1' }), key);
    assert.notEqual(sharingKey({ ...base, address: '10.0.0.1' }), sharingKey({ ...base, address: '10.0.0.2' }));
    assert.notEqual(sharingKey({ ...base, headers: { ...base.headers, 'accept-language': 'de' } }), key);
    assert.notEqual(sharingKey({ ...base, method: 'HEAD' }), key);
  });
});
