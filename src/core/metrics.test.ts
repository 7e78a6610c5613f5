// ProxyMetrics units: request series and their labels, the bulkhead collector, and
// instrumentProvider (timing and error counting of a provider's async methods).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics, errorLabel, instrumentProvider } from './metrics.ts';
import { Bulkhead } from './bulkhead.ts';
import { ProxyError } from './errors.ts';
import { HttpClientError } from '../lib/http/client.ts';

async function sampleValue(metrics: ProxyMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const base = name.replace(/_(count|sum|bucket)$/, '');
  const metric = metrics.registry.getSingleMetric(base);
  assert.ok(metric, `metric ${base} is registered`);
  const values = (await metric.get()).values as { metricName?: string; labels: Record<string, string | number>; value: number }[];
  const match = values.find((v) => (v.metricName ?? base) === name && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
  return match?.value;
}

test('recordRequest: module by route pattern, unmatched requests under one label value', async () => {
  const m = new ProxyMetrics();
  m.setRouteModule('/dns/:value', 'dns');
  m.recordRequest('/dns/:value', 'DELETE', 200, 0.002);
  m.recordRequest('/dns/:value', 'DELETE', 200, 0.004);
  m.recordRequest('/dns/:value', 'DELETE', 404, 0.001);
  m.recordRequest(undefined, 'GET', 404, 0.0001);
  m.recordRequest('/features', 'GET', 200, 0.0001);
  assert.equal(await sampleValue(m, 'smart_proxy_http_requests_total', { module: 'dns', route: '/dns/:value', method: 'DELETE', status: '200' }), 2);
  assert.equal(await sampleValue(m, 'smart_proxy_http_requests_total', { module: 'dns', route: '/dns/:value', method: 'DELETE', status: '404' }), 1);
  assert.equal(await sampleValue(m, 'smart_proxy_http_requests_total', { module: 'none', route: 'unmatched', method: 'GET', status: '404' }), 1);
  assert.equal(await sampleValue(m, 'smart_proxy_http_requests_total', { module: 'core', route: '/features' }), 1);
  assert.equal(await sampleValue(m, 'smart_proxy_http_request_duration_seconds_count', { module: 'dns', route: '/dns/:value', method: 'DELETE' }), 3);
  const sum = await sampleValue(m, 'smart_proxy_http_request_duration_seconds_sum', { module: 'dns', route: '/dns/:value', method: 'DELETE' });
  assert.ok(sum !== undefined && Math.abs(sum - 0.007) < 1e-9);
  assert.deepEqual(
    m.moduleRequestTotals().map((t) => [t.module, t.requests]),
    [
      ['core', 1],
      ['dns', 3],
      ['none', 1],
    ],
  );
});

test('request latency histogram: cumulative buckets (value <= le), +Inf equal to the count', async () => {
  const m = new ProxyMetrics();
  for (const seconds of [0.0004, 0.001, 0.003, 0.2, 45]) m.recordRequest('/version', 'GET', 200, seconds);
  const text = await m.registry.metrics();
  const bucket = (le: string) =>
    Number(new RegExp(`^smart_proxy_http_request_duration_seconds_bucket\\{module="core",route="/version",method="GET",le="${le.replace(/[.+]/g, '\\$&')}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  assert.equal(bucket('0.0005'), 1);
  assert.equal(bucket('0.001'), 2, 'a value equal to a bound is in that bucket');
  assert.equal(bucket('0.005'), 3);
  assert.equal(bucket('0.25'), 4);
  assert.equal(bucket('30'), 4);
  assert.equal(bucket('+Inf'), 5);
  assert.match(text, /^smart_proxy_http_request_duration_seconds_count\{module="core",route="\/version",method="GET"\} 5$/m);
});

test('startRecordingRequests: counted, so a restarted module instance may start before the old one stops', () => {
  const m = new ProxyMetrics();
  assert.equal(m.recordingRequests, false);
  const stopOld = m.startRecordingRequests();
  const stopNew = m.startRecordingRequests();
  stopOld();
  stopOld(); // twice is harmless
  assert.equal(m.recordingRequests, true);
  stopNew();
  assert.equal(m.recordingRequests, false);
});

test('registries are per proxy: two ProxyMetrics never share request counts', async () => {
  const a = new ProxyMetrics();
  const b = new ProxyMetrics();
  a.recordRequest('/version', 'GET', 200, 0.001);
  assert.equal(await sampleValue(a, 'smart_proxy_http_requests_total', { route: '/version' }), 1);
  assert.equal(await sampleValue(b, 'smart_proxy_http_requests_total', { route: '/version' }), undefined);
});

test('bulkhead gauges and rejections by name and reason, read at scrape time', async () => {
  const m = new ProxyMetrics();
  const name = `unit-${process.pid}-bh`;
  const bulkhead = new Bulkhead({ name, limit: 2, queue: 1, queueTimeoutMs: 50 });
  const releases: (() => void)[] = [];
  const hold = () => bulkhead.run(() => new Promise<void>((resolve) => releases.push(resolve)));
  const running = [hold(), hold()];
  const queued = hold();
  await assert.rejects(hold(), (err: ProxyError) => err.status === 503 && err.code === 'bulkhead.full');
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_in_flight', { bulkhead: name }), 2);
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_queued', { bulkhead: name }), 1);
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_limit', { bulkhead: name }), 2);
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_rejected_total', { bulkhead: name, reason: 'queue_full' }), 1);
  // The queued call waits longer than queueTimeoutMs: refused as a timeout.
  await assert.rejects(queued, (err: ProxyError) => err.status === 503);
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_rejected_total', { bulkhead: name, reason: 'queue_timeout' }), 1);
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_queued', { bulkhead: name }), 0);
  for (const release of releases) release();
  await Promise.all(running);
  assert.equal(await sampleValue(m, 'smart_proxy_bulkhead_in_flight', { bulkhead: name }), 0);
});

test('errorLabel: a stable code, kind or class name, never a message', () => {
  assert.equal(errorLabel(new ProxyError(409, "'a.example.com' is already in use", 'dns.conflict')), 'dns.conflict');
  assert.equal(errorLabel(new HttpClientError('timeout', 'http://x/', 'no answer within 5 s')), 'HttpClientError:timeout');
  assert.equal(errorLabel(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7911'), { code: 'ECONNREFUSED' })), 'Error:ECONNREFUSED');
  assert.equal(errorLabel(new TypeError('x is not a function')), 'TypeError');
  assert.equal(errorLabel('a string'), 'non_error');
});

class FakeDnsProvider {
  #records = new Map<string, string>();
  readonly kind = 'fake';
  failures = 0;

  async create(name: string, value: string): Promise<void> {
    if (this.#records.has(name)) throw new ProxyError(409, `'${name}' is already in use`, 'dns.conflict');
    this.#records.set(name, value);
  }

  async lookup(name: string): Promise<string | undefined> {
    return this.#records.get(name);
  }

  fetchTimesOut(): Promise<void> {
    this.failures++;
    return Promise.reject(new HttpClientError('timeout', 'http://dns.example/', 'no answer'));
  }

  describe(): string {
    return `fake with ${this.#records.size} records`;
  }

  async close(): Promise<void> {}
}

test('instrumentProvider: times every async call and counts failures by error label; the provider behaves the same', async () => {
  const m = new ProxyMetrics();
  const original = new FakeDnsProvider();
  const provider = instrumentProvider('dns', 'dns_fake', original, m);

  await provider.create('a.example.com', '192.0.2.1');
  await assert.rejects(provider.create('a.example.com', '192.0.2.2'), (err: ProxyError) => err.code === 'dns.conflict');
  assert.equal(await provider.lookup('a.example.com'), '192.0.2.1');
  await assert.rejects(provider.fetchTimesOut(), HttpClientError);
  // Private fields, plain properties and synchronous methods work through the wrapper.
  assert.equal(provider.describe(), 'fake with 1 records');
  assert.equal(provider.kind, 'fake');
  assert.equal(provider.failures, 1);
  assert.ok(provider instanceof FakeDnsProvider);
  // The same function every time (callers may compare or cache methods).
  assert.equal(provider.lookup, provider.lookup);
  // An instrumented provider is not a thenable: awaiting it yields the provider.
  assert.equal(await Promise.resolve(provider), provider);
  await provider.close();

  const count = (method: string) => sampleValue(m, 'smart_proxy_backend_call_duration_seconds_count', { module: 'dns', provider: 'dns_fake', method });
  assert.equal(await count('create'), 2);
  assert.equal(await count('lookup'), 1);
  assert.equal(await count('fetchTimesOut'), 1);
  assert.equal(await count('describe'), undefined, 'synchronous methods are not backend calls');
  assert.equal(await count('close'), undefined, 'close is lifecycle, not a backend call');
  assert.equal(await sampleValue(m, 'smart_proxy_backend_call_errors_total', { module: 'dns', provider: 'dns_fake', method: 'create', error: 'dns.conflict' }), 1);
  assert.equal(
    await sampleValue(m, 'smart_proxy_backend_call_errors_total', { module: 'dns', provider: 'dns_fake', method: 'fetchTimesOut', error: 'HttpClientError:timeout' }),
    1,
  );
  assert.equal(await sampleValue(m, 'smart_proxy_backend_call_errors_total', { method: 'lookup' }), undefined);
});

test('instrumentProvider: a getter reading a #private field works through the wrapper', async () => {
  class Backend {
    #calls = 0;
    get calls(): number {
      return this.#calls;
    }
    async ping(): Promise<string> {
      this.#calls++;
      return 'pong';
    }
  }
  const wrapped = instrumentProvider('dns', 'dns_test', new Backend(), new ProxyMetrics());
  assert.equal(await wrapped.ping(), 'pong');
  assert.equal(wrapped.calls, 1);
});
