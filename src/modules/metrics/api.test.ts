// /metrics, /status and /status.json in-process (fastify inject): the exposition format and the
// request counts the core records, the status answers and their headers, and the module's own
// authorization (listed addresses pass, everyone else goes through trusted_hosts as on any
// module). The page with real modules, listeners and a browser is in test/metrics/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountModule } from '../../core/inject.ts';
import metrics from './module.ts';
import type { StatusData } from './status-page.ts';

test('GET /metrics: text exposition with the exact request counts by module, route pattern, method and status', async (t) => {
  const { app } = await mountModule(metrics, {}, t);
  for (let i = 0; i < 3; i++) assert.equal((await app.inject({ url: '/status.json' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/no/such/path/123' })).statusCode, 404);
  assert.equal((await app.inject({ url: '/no/such/path/456' })).statusCode, 404);
  assert.equal((await app.inject({ url: '/features' })).statusCode, 200);

  const res = await app.inject({ url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(res.body, /^smart_proxy_http_requests_total\{module="metrics",route="\/status.json",method="GET",status="200"\} 3$/m);
  // Unknown paths share one label value: the raw URL never becomes a label.
  assert.match(res.body, /^smart_proxy_http_requests_total\{module="none",route="unmatched",method="GET",status="404"\} 2$/m);
  assert.doesNotMatch(res.body, /no\/such\/path/);
  assert.match(res.body, /^smart_proxy_http_requests_total\{module="core",route="\/features",method="GET",status="200"\} 1$/m);
  assert.match(res.body, /^smart_proxy_http_request_duration_seconds_count\{module="metrics",route="\/status.json",method="GET"\} 3$/m);
  // The scrape itself is recorded when its answer is written, after the body was rendered.
  assert.doesNotMatch(res.body, /route="\/metrics"/);
  // Process metrics of the proxy's own registry.
  assert.match(res.body, /^# TYPE smart_proxy_process_cpu_seconds_total counter$/m);
  assert.match(res.body, /^# TYPE smart_proxy_nodejs_eventloop_lag_seconds gauge$/m);
  assert.match(res.body, /^# TYPE smart_proxy_bulkhead_rejected_total counter$/m);
});

test('GET /status: server-rendered HTML with no script allowed, never cached', async (t) => {
  const { app } = await mountModule(metrics, { settings: { status_refresh: 7 } }, t);
  const res = await app.inject({ url: '/status' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
  assert.match(res.body, /^<!DOCTYPE html>/);
  assert.match(res.body, /<meta http-equiv="refresh" content="7">/);
  for (const section of ['modules', 'listeners', 'requests', 'bulkheads', 'errors']) assert.match(res.body, new RegExp(`<section id="${section}">`));
  assert.doesNotMatch(res.body, /<script/i);
});

test('GET /status.json: the page as data', async (t) => {
  const { app } = await mountModule(metrics, {}, t);
  await app.inject({ url: '/features' });
  const res = await app.inject({ url: '/status.json' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  const data = JSON.parse(res.body) as StatusData;
  assert.deepEqual(Object.keys(data).sort(), ['bulkheads', 'generated_at', 'listeners', 'modules', 'recent_errors', 'requests', 'uptime_seconds']);
  const core = data.requests.find((r) => r.module === 'core');
  assert.equal(core?.requests_total, 1);
  assert.equal(core?.server_errors_total, 0);
});

test('authorization: listed scrapers read /metrics only; others go through trusted_hosts like any module', async (t) => {
  const { app } = await mountModule(
    metrics,
    { global: { trusted_hosts: ['foreman.example.com'] }, settings: { scrape_addresses: ['192.0.2.0/24', '2001:db8::7'], status_addresses: ['198.51.100.9'] } },
    t,
  );
  assert.equal((await app.inject({ url: '/metrics', remoteAddress: '192.0.2.15' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/metrics', remoteAddress: '::ffff:192.0.2.16' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/metrics', remoteAddress: '2001:db8::7' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/status', remoteAddress: '198.51.100.9' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/status.json', remoteAddress: '198.51.100.9' })).statusCode, 200);

  // A scraper's address does not open the status page, nor a viewer's the metrics.
  const page = await app.inject({ url: '/status', remoteAddress: '192.0.2.15' });
  assert.equal(page.statusCode, 403);
  const scrape = await app.inject({ url: '/metrics', remoteAddress: '198.51.100.9' });
  assert.equal(scrape.statusCode, 403);
  // Anyone else: the core's trusted_hosts check (127.0.0.1 resolves to localhost, not trusted).
  const local = await app.inject({ url: '/metrics', remoteAddress: '127.0.0.1' });
  assert.equal(local.statusCode, 403);
  assert.equal(local.body, 'Untrusted client localhost attempted to access . Check :trusted_hosts: in settings.yml');
  // A spelling the router decodes reaches the same route and its guard.
  assert.equal((await app.inject({ url: '/%6detrics', remoteAddress: '127.0.0.1' })).statusCode, 403);
});

test('without trusted_hosts over HTTP, every peer may read the module, as every other module', async (t) => {
  const { app } = await mountModule(metrics, {}, t);
  assert.equal((await app.inject({ url: '/metrics', remoteAddress: '203.0.113.5' })).statusCode, 200);
});

test('settings: an entry that is not an address or a subnet is refused, naming the key and the entry', () => {
  const base = { status_refresh: 10, status_recent_errors: 20 };
  assert.deepEqual(metrics.validate?.({ ...base, scrape_addresses: ['192.0.2.1', 'prometheus.example.com'], status_addresses: [] }), {
    key: 'scrape_addresses[1]',
    message: "metrics.yml: scrape_addresses[1]: expected an IP address or a subnet (address/prefix), got 'prometheus.example.com'",
  });
  assert.deepEqual(metrics.validate?.({ ...base, scrape_addresses: [], status_addresses: ['192.0.2.0/33'] }), {
    key: 'status_addresses[0]',
    message: "metrics.yml: status_addresses[0]: prefix length must be 0 to 32, got '192.0.2.0/33'",
  });
  assert.equal(metrics.validate?.({ ...base, scrape_addresses: ['10.0.0.0/8', '::1', 'fd00::/8'], status_addresses: [] }), undefined);
});
