// The operator status page: what the proxy runs (modules and their states, listeners), how busy
// it is (request rate and latency per module, bulkheads) and what went wrong lately (ERROR lines of
// the log buffer). Gathered once per request into plain data (status.json), rendered as small
// server-side HTML with inline CSS and no script; every value is escaped.

import type { ProxyIntrospection } from '../../core/module.ts';
import type { ModuleRequestTotals, ProxyMetrics } from '../../core/metrics.ts';
import { liveBulkheads } from '../../core/bulkhead.ts';
import { LEVEL_NUMBER } from '../../core/log-buffer.ts';

/** Request rates are measured over this window (the page's "last minute"). */
const RATE_WINDOW_MS = 60_000;
/** How often request totals are sampled for the rates. */
const SAMPLE_EVERY_MS = 5_000;

export interface ModuleRow {
  name: string;
  state: 'running' | 'disabled' | 'failed';
  enabled: string;
  published: boolean;
  prefixes: string[];
  /** The group's failure (failed), or a soft failure of a running module. */
  failure: string | null;
}

export interface ListenerRow {
  name: string;
  scheme: string;
  audience: string;
  addresses: string[];
  modules: string[];
}

export interface RequestRow {
  module: string;
  requests_total: number;
  server_errors_total: number;
  /** Requests per second over the window; null until a sample as old as a few seconds exists. */
  rate_per_second: number | null;
  /** Mean latency over the window; null without requests in it. */
  mean_latency_seconds: number | null;
  window_seconds: number | null;
}

export interface BulkheadRow {
  name: string;
  in_flight: number;
  queued: number;
  limit: number;
}

export interface ErrorRow {
  time: string;
  level: string;
  message: string;
  request_id: string | null;
}

export interface StatusData {
  generated_at: string;
  uptime_seconds: number;
  modules: ModuleRow[];
  listeners: ListenerRow[];
  requests: RequestRow[];
  bulkheads: BulkheadRow[];
  recent_errors: ErrorRow[];
}

interface Sample {
  at: number;
  totals: ReadonlyMap<string, ModuleRequestTotals>;
}

/** Samples the per-module request totals so the page can show rates over the last minute. */
export class RequestRates {
  private readonly metrics: ProxyMetrics;
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(metrics: ProxyMetrics, now: () => number = Date.now) {
    this.metrics = metrics;
    this.now = now;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): void {
    const at = this.now();
    const totals = new Map(this.metrics.moduleRequestTotals().map((t) => [t.module, t]));
    this.samples.push({ at, totals });
    while (this.samples.length > 1 && this.samples[0].at < at - RATE_WINDOW_MS) this.samples.shift();
  }

  rows(): RequestRow[] {
    const now = this.now();
    const current = this.metrics.moduleRequestTotals();
    // The oldest sample inside the window; none younger than a second (a rate of noise).
    const oldest = this.samples.find((s) => s.at >= now - RATE_WINDOW_MS);
    const base = oldest && now - oldest.at >= 1000 ? oldest : undefined;
    return current.map((t) => {
      const row: RequestRow = {
        module: t.module,
        requests_total: t.requests,
        server_errors_total: t.serverErrors,
        rate_per_second: null,
        mean_latency_seconds: null,
        window_seconds: null,
      };
      if (base) {
        const before = base.totals.get(t.module) ?? { requests: 0, seconds: 0 };
        const seconds = (now - base.at) / 1000;
        const requests = t.requests - before.requests;
        row.window_seconds = Math.round(seconds);
        row.rate_per_second = requests / seconds;
        row.mean_latency_seconds = requests > 0 ? (t.seconds - before.seconds) / requests : null;
      }
      return row;
    });
  }
}

/** Everything the page shows, as plain data (also served as /status.json). */
export function gatherStatus(proxy: ProxyIntrospection, rates: RequestRates, recentErrors: number): StatusData {
  const modules: ModuleRow[] = [...proxy.modules().values()]
    .map((r) => ({
      name: r.def.name,
      state: r.state,
      enabled: String(r.enabled),
      published: r.def.published !== false,
      prefixes: [...r.def.prefixes],
      failure: r.failure ?? null,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const listeners: ListenerRow[] = proxy.listeners().map((l) => ({
    name: l.spec.name,
    scheme: l.spec.scheme,
    audience: l.spec.audience,
    addresses: [...l.addresses],
    modules: [...l.modules],
  }));
  const bulkheads = new Map<string, BulkheadRow>();
  for (const b of liveBulkheads()) {
    const row = bulkheads.get(b.options.name) ?? { name: b.options.name, in_flight: 0, queued: 0, limit: 0 };
    row.in_flight += b.running;
    row.queued += b.waiting;
    row.limit += b.options.limit;
    bulkheads.set(b.options.name, row);
  }
  const errors = recentErrors === 0 ? [] : proxy.logBuffer.entries().filter((e) => LEVEL_NUMBER[e.level] >= LEVEL_NUMBER.ERROR);
  return {
    generated_at: new Date().toISOString(),
    uptime_seconds: Math.round(process.uptime()),
    modules,
    listeners,
    requests: rates.rows(),
    bulkheads: [...bulkheads.values()].sort((a, b) => a.name.localeCompare(b.name)),
    recent_errors: errors
      .slice(-recentErrors)
      .reverse()
      .map((e) => ({ time: new Date(e.timestamp * 1000).toISOString(), level: e.level, message: e.message, request_id: e.request_id ?? null })),
  };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function fixed(value: number | null, digits: number, scale = 1): string {
  return value === null ? '—' : (value * scale).toFixed(digits);
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return d > 0 ? `${d}d ${h}h ${m}m` : h > 0 ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`;
}

function table(id: string, title: string, head: string[], rows: string[], empty: string): string {
  const body = rows.length > 0 ? rows.join('\n') : `<tr><td colspan="${head.length}" class="empty">${escapeHtml(empty)}</td></tr>`;
  return `<section id="${id}"><h2>${escapeHtml(title)}</h2>
<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead>
<tbody>
${body}
</tbody></table></section>`;
}

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:12px 24px}
header h1{font-size:18px;margin:0}
header p{margin:4px 0 0;color:#d0d7de;font-size:12px}
main{padding:8px 24px 24px}
h2{font-size:15px;margin:20px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #d8dee4;vertical-align:top}
th{background:#eaeef2;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.empty{color:#57606a;font-style:italic}
.badge{display:inline-block;min-width:64px;text-align:center;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
.state-running{background:#1a7f37}
.state-failed{background:#cf222e}
.state-disabled{background:#6e7781}
.failure{color:#cf222e;white-space:pre-wrap}
.level-ERROR,.level-FATAL,.level-UNKNOWN{color:#cf222e;font-weight:600}
code{font-size:12px}
`;

/** The page. `refreshSeconds` 0: no automatic reload. */
export function renderStatusPage(data: StatusData, refreshSeconds: number): string {
  const modules = data.modules.map(
    (m) =>
      `<tr data-module="${escapeHtml(m.name)}" data-state="${escapeHtml(m.state)}"><td><code>${escapeHtml(m.name)}</code></td>` +
      `<td><span class="badge state-${escapeHtml(m.state)}">${escapeHtml(m.state)}</span></td>` +
      `<td>${escapeHtml(m.prefixes.join(' '))}</td>` +
      `<td class="failure">${m.failure === null ? '' : escapeHtml(m.failure)}</td></tr>`,
  );
  const listeners = data.listeners.map(
    (l) =>
      `<tr data-listener="${escapeHtml(l.name)}"><td>${escapeHtml(l.name)}</td><td>${escapeHtml(l.scheme)}</td><td>${escapeHtml(l.audience)}</td>` +
      `<td>${escapeHtml(l.addresses.join(', '))}</td><td>${escapeHtml(l.modules.join(', '))}</td></tr>`,
  );
  const requests = data.requests.map(
    (r) =>
      `<tr data-requests="${escapeHtml(r.module)}"><td><code>${escapeHtml(r.module)}</code></td><td class="num">${escapeHtml(r.requests_total)}</td>` +
      `<td class="num">${escapeHtml(fixed(r.rate_per_second, 2))}</td><td class="num">${escapeHtml(fixed(r.mean_latency_seconds, 2, 1000))}</td>` +
      `<td class="num">${escapeHtml(r.server_errors_total)}</td></tr>`,
  );
  const bulkheads = data.bulkheads.map(
    (b) =>
      `<tr data-bulkhead="${escapeHtml(b.name)}"><td>${escapeHtml(b.name)}</td><td class="num">${escapeHtml(b.in_flight)}</td>` +
      `<td class="num">${escapeHtml(b.limit)}</td><td class="num">${escapeHtml(b.queued)}</td></tr>`,
  );
  const errors = data.recent_errors.map(
    (e) =>
      `<tr class="error"><td>${escapeHtml(e.time)}</td><td class="level-${escapeHtml(e.level)}">${escapeHtml(e.level)}</td>` +
      `<td>${escapeHtml(e.message)}</td><td><code>${escapeHtml(e.request_id ?? '')}</code></td></tr>`,
  );
  const refresh = refreshSeconds > 0 ? `<meta http-equiv="refresh" content="${escapeHtml(refreshSeconds)}">\n` : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
${refresh}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Smart Proxy status</title>
<style>${CSS}</style></head>
<body>
<header><h1>Smart Proxy status</h1><p>Generated ${escapeHtml(data.generated_at)} · up ${escapeHtml(duration(data.uptime_seconds))}${refreshSeconds > 0 ? ` · reloads every ${escapeHtml(refreshSeconds)} s` : ''}</p></header>
<main>
${table('modules', 'Modules', ['Module', 'State', 'Paths', 'Failure'], modules, 'No modules')}
${table('listeners', 'Listeners', ['Name', 'Scheme', 'Audience', 'Addresses', 'Modules'], listeners, 'No listeners')}
${table('requests', 'Requests (rate and mean latency over the last minute)', ['Module', 'Requests', 'Rate (req/s)', 'Mean latency (ms)', '5xx'], requests, 'No requests yet')}
${table('bulkheads', 'Bulkheads', ['Name', 'In flight', 'Limit', 'Queued'], bulkheads, 'No bulkheads')}
${table('errors', 'Recent errors (newest first)', ['Time', 'Level', 'Message', 'Request'], errors, 'No recent errors')}
</main>
</body></html>
`;
}
