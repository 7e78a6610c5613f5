import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClassesCache, type ClassesFetchResult } from './classes-cache.ts';
import { EnvironmentNotFoundError, PuppetTimeoutError } from '../../provider.ts';

/** A fetcher whose answers the test releases by hand. */
function controlled() {
  const calls: { env: string; etag: string | undefined; resolve: (r: ClassesFetchResult | 'not-modified') => void; reject: (e: unknown) => void }[] = [];
  const fetch = (env: string, etag: string | undefined) =>
    new Promise<ClassesFetchResult | 'not-modified'>((resolve, reject) => calls.push({ env, etag, resolve, reject }));
  return { calls, fetch };
}

const tick = () => new Promise((r) => setImmediate(r));

test('concurrent callers share one Puppet request per environment', async () => {
  const f = controlled();
  const cache = new ClassesCache({ fetch: f.fetch, warmWaitMs: 10_000, coldWaitMs: 10_000 });
  const a = cache.get('production');
  const b = cache.get('production');
  const c = cache.get('development');
  await tick();
  assert.equal(f.calls.length, 2);
  f.calls[0].resolve({ body: { files: [1] }, etag: 'e1' });
  f.calls[1].resolve({ body: { files: [2] }, etag: undefined });
  assert.deepEqual(await a, { files: [1] });
  assert.deepEqual(await b, { files: [1] });
  assert.deepEqual(await c, { files: [2] });
});

test('the cached ETag is sent, and a 304 serves the cached body', async () => {
  const f = controlled();
  const cache = new ClassesCache({ fetch: f.fetch, warmWaitMs: 10_000, coldWaitMs: 10_000 });
  const first = cache.get('production');
  await tick();
  f.calls[0].resolve({ body: { v: 1 }, etag: 'abc' });
  await first;
  const second = cache.get('production');
  await tick();
  assert.equal(f.calls[1].etag, 'abc');
  f.calls[1].resolve('not-modified');
  assert.deepEqual(await second, { v: 1 });
});

test('a slow Puppet gives a timeout error while the request goes on and fills the cache', async () => {
  const f = controlled();
  const cache = new ClassesCache({ fetch: f.fetch, warmWaitMs: 10_000, coldWaitMs: 20 });
  await assert.rejects(cache.get('production'), PuppetTimeoutError);
  assert.equal(f.calls.length, 1);
  const waiting = cache.get('production'); // joins the same request
  await tick();
  assert.equal(f.calls.length, 1);
  f.calls[0].resolve({ body: { late: true }, etag: 'x' });
  assert.deepEqual(await waiting, { late: true });
  assert.equal(cache.size, 1);
});

test('errors are not cached; not-found is reported as such', async () => {
  const f = controlled();
  const errors: unknown[] = [];
  const cache = new ClassesCache({ fetch: f.fetch, warmWaitMs: 10_000, coldWaitMs: 10_000, onBackgroundError: (_e, err) => errors.push(err) });
  const a = cache.get('nosuch');
  await tick();
  f.calls[0].reject(new EnvironmentNotFoundError('nosuch'));
  await assert.rejects(a, EnvironmentNotFoundError);
  const b = cache.get('production');
  await tick();
  f.calls[1].reject(new Error('500 boom'));
  await assert.rejects(b, /500 boom/);
  const c = cache.get('production');
  await tick();
  assert.equal(f.calls.length, 3, 'the failure was not cached');
  f.calls[2].resolve({ body: 1, etag: undefined });
  assert.equal(await c, 1);
  assert.equal(errors.length, 1, 'only the real failure is logged');
});

test('the cache is bounded', async () => {
  let n = 0;
  const cache = new ClassesCache({ fetch: async () => ({ body: n++, etag: 'e' }), warmWaitMs: 1000, coldWaitMs: 1000, maxEntries: 3 });
  for (const env of ['a', 'b', 'c', 'd']) await cache.get(env);
  assert.equal(cache.size, 3);
});
