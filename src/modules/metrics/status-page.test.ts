// The status page renderer: every value escaped, states as badges, failures shown, empty tables
// say so; and the request rates over the sampling window.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyMetrics } from '../../core/metrics.ts';
import { RequestRates, escapeHtml, renderStatusPage, type StatusData } from './status-page.ts';

const data: StatusData = {
  generated_at: '2026-01-01T00:00:00.000Z',
  uptime_seconds: 3725,
  modules: [
    { name: 'dns', state: 'failed', enabled: 'true', published: true, prefixes: ['/dns'], failure: "provider <b>'x'</b> & co" },
    { name: 'logs', state: 'running', enabled: 'true', published: true, prefixes: ['/logs'], failure: null },
  ],
  listeners: [{ name: 'ops"><script>', scheme: 'http', audience: 'foreman', addresses: ['127.0.0.1:9090'], modules: ['metrics'] }],
  requests: [{ module: 'logs', requests_total: 4, server_errors_total: 1, rate_per_second: 0.5, mean_latency_seconds: 0.00125, window_seconds: 8 }],
  bulkheads: [],
  recent_errors: [{ time: '2026-01-01T00:00:00.000Z', level: 'ERROR', message: '<img src=x onerror=alert(1)>', request_id: 'abc' }],
};

test('renderStatusPage escapes every value and shows states, failures, listeners, rates and errors', () => {
  const html = renderStatusPage(data, 10);
  assert.doesNotMatch(html, /<script>|<img|<b>/);
  assert.match(html, /<td class="failure">provider &lt;b&gt;&#39;x&#39;&lt;\/b&gt; &amp; co<\/td>/);
  assert.match(html, /<tr data-module="dns" data-state="failed">.*<span class="badge state-failed">failed<\/span>/);
  assert.match(html, /<tr data-module="logs" data-state="running">/);
  assert.match(html, /data-listener="ops&quot;&gt;&lt;script&gt;"/);
  assert.match(html, /&lt;img src=x onerror=alert\(1\)&gt;/);
  assert.match(html, /<td class="num">0\.50<\/td><td class="num">1\.25<\/td>/);
  assert.match(html, /up 1h 2m/);
  assert.match(html, /<meta http-equiv="refresh" content="10">/);
  assert.match(html, /<td colspan="4" class="empty">No bulkheads<\/td>/);
  assert.doesNotMatch(renderStatusPage(data, 0), /http-equiv="refresh"/);
});

test('escapeHtml covers the five characters that matter in content and quoted attributes', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('RequestRates: rate and mean latency over the window; none until a sample is a second old', () => {
  const metrics = new ProxyMetrics();
  let now = 1_000_000;
  const rates = new RequestRates(metrics, () => now);
  metrics.setRouteModule('/logs', 'logs');
  metrics.recordRequest('/logs', 'GET', 200, 0.5); // before the first sample: not in the window
  rates.sample();
  assert.equal(rates.rows()[0].rate_per_second, null);
  now += 10_000;
  metrics.recordRequest('/logs', 'GET', 200, 0.002);
  metrics.recordRequest('/logs', 'GET', 500, 0.004);
  const [row] = rates.rows();
  assert.equal(row.module, 'logs');
  assert.equal(row.requests_total, 3);
  assert.equal(row.server_errors_total, 1);
  assert.equal(row.window_seconds, 10);
  assert.equal(row.rate_per_second, 0.2);
  assert.ok(row.mean_latency_seconds !== null && Math.abs(row.mean_latency_seconds - 0.003) < 1e-12);
  // Samples older than the window are dropped; the oldest one inside it is the base.
  for (let i = 0; i < 20; i++) {
    now += 5_000;
    rates.sample();
  }
  assert.equal(rates.rows()[0].rate_per_second, 0);
  assert.equal(rates.rows()[0].window_seconds, 60);
});
