// This proxy's Prometheus metrics (prom-client). One registry per running proxy, so that several
// proxies in one test process never share counters. The core records requests (http/app.ts);
// bulkheads, backend calls and TFTP transfers are recorded by the code that owns them; the
// `metrics` module serves the registry in the text exposition format.
//
// Names follow the Prometheus conventions: `smart_proxy_` prefix, base units (seconds, bytes),
// `_total` on counters, and only labels of bounded cardinality (a route PATTERN, never a raw URL;
// a method name of a provider, never its arguments).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { bulkheadRejections, liveBulkheads } from './bulkhead.ts';

/** `route` label of requests no route matched (404s, and refusals before routing). */
export const UNMATCHED_ROUTE = 'unmatched';
/** `module` label of requests no module owns: unmatched routes. */
export const NO_MODULE = 'none';
/** `module` label of the core's own routes (/features, /version, /v2/features). */
export const CORE_MODULE = 'core';

/** Request latency buckets (seconds): sub-millisecond cached answers up to slow relayed downloads. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Backend call buckets (seconds): a local file write up to a long boot-file download. */
const BACKEND_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

type BackendLabels = 'module' | 'provider' | 'method';

/**
 * The requests of one (route pattern, method). Kept as plain numbers and turned into samples only
 * at scrape time: prom-client hashes the label set on every inc()/observe(), even through a
 * child from labels(), which cost microseconds per request; this costs a map lookup.
 */
interface RequestSeries {
  readonly module: string;
  readonly route: string;
  readonly method: string;
  /** status → requests answered with it. */
  readonly byStatus: Map<number, number>;
  /** Per bucket of REQUEST_BUCKETS (not cumulative), then the +Inf bucket. */
  readonly buckets: number[];
  count: number;
  sum: number;
}

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A metric read from the request series at scrape time (the interface Registry.metrics() reads). */
class SeriesMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  private readonly samples: () => Sample[];

  constructor(name: string, help: string, type: 'counter' | 'histogram', samples: () => Sample[]) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.samples = samples;
  }

  get(): Promise<{ name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.samples() });
  }

  reset(): void {
    // The series live as long as the proxy; Registry.resetMetrics() has nothing to clear here.
  }
}

/** Requests and summed latency of one module, as the status page reads them. */
export interface ModuleRequestTotals {
  readonly module: string;
  readonly requests: number;
  readonly seconds: number;
  /** Requests answered with a 5xx status. */
  readonly serverErrors: number;
}

/**
 * Registry.metrics() only reads name, help and type and calls get() (and reset()); its typings
 * accept nothing but prom-client's own classes.
 */
function registerSeries(registry: Registry, metric: SeriesMetric): void {
  registry.registerMetric(metric as unknown as Metric);
}

export class ProxyMetrics {
  readonly registry: Registry;
  readonly backendDuration: Histogram<BackendLabels>;
  readonly backendErrors: Counter<BackendLabels | 'error'>;
  readonly tftpTransfersStarted: Counter;
  readonly tftpTransfers: Counter<'result'>;
  readonly tftpSentBytes: Counter;
  private recording = false;
  private requestReaders = 0;
  /** Route pattern → module that registered it (filled as listeners mount modules). */
  private readonly routeModules = new Map<string, string>();
  /** `route method` → its numbers. */
  private readonly series = new Map<string, RequestSeries>();
  private processMetrics = false;
  private readonly tftpActiveSources = new Set<() => number>();

  constructor() {
    const registry = new Registry();
    this.registry = registry;
    const series = this.series;
    registerSeries(
      registry,
      new SeriesMetric('smart_proxy_http_requests_total', 'HTTP requests answered, by module, route pattern, method and status.', 'counter', () => {
        const out: Sample[] = [];
        for (const s of series.values()) {
          for (const [status, n] of s.byStatus) out.push({ labels: { module: s.module, route: s.route, method: s.method, status }, value: n });
        }
        return out;
      }),
    );
    registerSeries(
      registry,
      new SeriesMetric(
        'smart_proxy_http_request_duration_seconds',
        'Time from the request arriving to the response being written, by module, route pattern and method.',
        'histogram',
        () => {
          const out: Sample[] = [];
          for (const s of series.values()) {
            const labels = { module: s.module, route: s.route, method: s.method };
            let cumulative = 0;
            for (const [i, le] of REQUEST_BUCKETS.entries()) {
              cumulative += s.buckets[i];
              out.push({ metricName: 'smart_proxy_http_request_duration_seconds_bucket', labels: { ...labels, le }, value: cumulative });
            }
            out.push({ metricName: 'smart_proxy_http_request_duration_seconds_bucket', labels: { ...labels, le: '+Inf' }, value: s.count });
            out.push({ metricName: 'smart_proxy_http_request_duration_seconds_sum', labels, value: s.sum });
            out.push({ metricName: 'smart_proxy_http_request_duration_seconds_count', labels, value: s.count });
          }
          return out;
        },
      ),
    );
    this.backendDuration = new Histogram({
      name: 'smart_proxy_backend_call_duration_seconds',
      help: "Duration of calls to a provider's backend, failed ones included, by module, provider and method.",
      labelNames: ['module', 'provider', 'method'],
      buckets: BACKEND_BUCKETS,
      registers: [registry],
    });
    this.backendErrors = new Counter({
      name: 'smart_proxy_backend_call_errors_total',
      help: 'Failed calls to a provider, by module, provider, method and error class or kind.',
      labelNames: ['module', 'provider', 'method', 'error'],
      registers: [registry],
    });
    this.tftpTransfersStarted = new Counter({
      name: 'smart_proxy_tftp_transfers_started_total',
      help: 'Read requests the built-in TFTP server accepted and began to serve.',
      registers: [registry],
    });
    this.tftpTransfers = new Counter({
      name: 'smart_proxy_tftp_transfers_total',
      help: 'Transfers of the built-in TFTP server that ended, by result (completed, failed, client_ended).',
      labelNames: ['result'],
      registers: [registry],
    });
    this.tftpSentBytes = new Counter({
      name: 'smart_proxy_tftp_sent_bytes_total',
      help: 'File bytes the built-in TFTP server sent in ended transfers.',
      registers: [registry],
    });
    const activeSources = this.tftpActiveSources;
    new Gauge({
      name: 'smart_proxy_tftp_transfers_active',
      help: 'Transfers the built-in TFTP server is running now.',
      registers: [registry],
      collect() {
        let n = 0;
        for (const source of activeSources) n += source();
        this.set(n);
      },
    });
    registerBulkheadMetrics(registry);
  }

  /**
   * Whether requests are recorded: true while a `metrics` module instance runs. Nobody can read
   * the request metrics otherwise, so a proxy without it pays one test per request.
   */
  get recordingRequests(): boolean {
    return this.recording;
  }

  /**
   * Start recording requests; the returned function stops (counted, so that a module restarted by
   * a reload may start its new instance before the old one is closed).
   */
  startRecordingRequests(): () => void {
    this.requestReaders++;
    this.recording = true;
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.requestReaders--;
      this.recording = this.requestReaders > 0;
    };
  }

  /** Process metrics (CPU, memory, event loop, GC, file descriptors): once, by the metrics module. */
  enableProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, prefix: 'smart_proxy_' });
  }

  /** The built-in TFTP server reports its running transfers through this while it runs. */
  addTftpActiveSource(source: () => number): () => void {
    this.tftpActiveSources.add(source);
    return () => this.tftpActiveSources.delete(source);
  }

  /** Remember which module registered a route pattern (fastify's onRoute, http/app.ts). */
  setRouteModule(route: string, module: string): void {
    this.routeModules.set(route, module);
  }

  /**
   * Record one answered request. `route` is fastify's pattern (`request.routeOptions.url`),
   * undefined when no route matched. Cheap: one map lookup and a few additions.
   */
  recordRequest(route: string | undefined, method: string, status: number, seconds: number): void {
    const key = route === undefined ? method : `${route} ${method}`;
    let s = this.series.get(key);
    if (s === undefined) {
      const module = route === undefined ? NO_MODULE : (this.routeModules.get(route) ?? CORE_MODULE);
      s = { module, route: route ?? UNMATCHED_ROUTE, method, byStatus: new Map(), buckets: new Array<number>(REQUEST_BUCKETS.length + 1).fill(0), count: 0, sum: 0 };
      this.series.set(key, s);
    }
    s.byStatus.set(status, (s.byStatus.get(status) ?? 0) + 1);
    s.count++;
    s.sum += seconds;
    let bucket = 0;
    while (bucket < REQUEST_BUCKETS.length && seconds > REQUEST_BUCKETS[bucket]) bucket++;
    s.buckets[bucket]++;
  }

  /** Totals per module since start, from the request series (the status page's rates). */
  moduleRequestTotals(): ModuleRequestTotals[] {
    const byModule = new Map<string, { requests: number; seconds: number; serverErrors: number }>();
    for (const s of this.series.values()) {
      let e = byModule.get(s.module);
      if (!e) byModule.set(s.module, (e = { requests: 0, seconds: 0, serverErrors: 0 }));
      e.requests += s.count;
      e.seconds += s.sum;
      for (const [status, n] of s.byStatus) if (status >= 500) e.serverErrors += n;
    }
    return [...byModule.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([module, e]) => ({ module, ...e }));
  }
}

/**
 * Bulkheads are created all over the modules with no registry at hand; each registers itself in a
 * process-wide list (bulkhead.ts) that these gauges read at scrape time. With several proxies in
 * one process (tests), each proxy's registry therefore shows every proxy's bulkheads.
 */
function registerBulkheadMetrics(registry: Registry): void {
  const sumBy = (read: (b: ReturnType<typeof liveBulkheads>[number]) => number) => {
    const totals = new Map<string, number>();
    for (const b of liveBulkheads()) totals.set(b.options.name, (totals.get(b.options.name) ?? 0) + read(b));
    return totals;
  };
  new Gauge({
    name: 'smart_proxy_bulkhead_in_flight',
    help: 'Calls running inside a bulkhead now, by bulkhead name.',
    labelNames: ['bulkhead'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [bulkhead, n] of sumBy((b) => b.running)) this.set({ bulkhead }, n);
    },
  });
  new Gauge({
    name: 'smart_proxy_bulkhead_queued',
    help: 'Calls waiting for a slot of a bulkhead now, by bulkhead name.',
    labelNames: ['bulkhead'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [bulkhead, n] of sumBy((b) => b.waiting)) this.set({ bulkhead }, n);
    },
  });
  new Gauge({
    name: 'smart_proxy_bulkhead_limit',
    help: 'Calls a bulkhead runs at once, by bulkhead name.',
    labelNames: ['bulkhead'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [bulkhead, n] of sumBy((b) => b.options.limit)) this.set({ bulkhead }, n);
    },
  });
  new Counter({
    name: 'smart_proxy_bulkhead_rejected_total',
    help: 'Calls a bulkhead refused with 503, by bulkhead name and reason (queue_full, queue_timeout).',
    labelNames: ['bulkhead', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, n] of bulkheadRejections()) this.inc({ bulkhead: key.name, reason: key.reason }, n);
    },
  });
}

/**
 * The `error` label of a failed backend call: bounded, because it names a class or a code the
 * program defines, never a message. A ProxyError's stable code (`dns.conflict`), a typed failure's
 * kind (`HttpClientError:timeout`), a system error's code (`Error:ECONNREFUSED`), or the class name.
 */
export function errorLabel(err: unknown): string {
  if (!(err instanceof Error)) return 'non_error';
  const e = err as Error & { code?: unknown; kind?: unknown; status?: unknown };
  if (typeof e.status === 'number' && typeof e.code === 'string') return e.code;
  if (typeof e.kind === 'string') return `${e.name}:${e.kind}`;
  if (typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code)) return `${e.name}:${e.code}`;
  return e.name;
}

/**
 * Wrap a provider so that each call of one of its methods that returns a promise is timed
 * (smart_proxy_backend_call_duration_seconds) and each rejection counted
 * (smart_proxy_backend_call_errors_total). Methods run with the provider itself as `this`, so
 * private fields keep working; synchronous methods and other properties pass through untouched.
 * Meant for the lifecycle, where it creates providers: the module gets the wrapper, the lifecycle
 * keeps closing the original.
 */
export function instrumentProvider<P extends object>(moduleName: string, providerId: string, provider: P, metrics: ProxyMetrics): P {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(provider, {
    get(target, property, receiver) {
      // The target itself as `this` of getters: a getter reading a #private field fails on the proxy.
      const value: unknown = Reflect.get(target, property);
      // `then` must stay absent (an awaited provider is not a thenable); `close` is lifecycle, not backend.
      if (typeof value !== 'function' || typeof property === 'symbol' || property === 'constructor' || property === 'then' || property === 'close') {
        return value;
      }
      const cached = wrapped.get(property);
      if (cached !== undefined && (cached as { original: unknown }).original === value) return cached;
      const labels = { module: moduleName, provider: providerId, method: property };
      const duration = metrics.backendDuration.labels(labels);
      const fn = value as (...args: unknown[]) => unknown;
      const timed = Object.assign(
        function (this: unknown, ...args: unknown[]): unknown {
          const started = process.hrtime.bigint();
          const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
          let result: unknown;
          try {
            result = fn.apply(this === receiver ? target : this, args);
          } catch (err) {
            // A synchronous throw of a method that is otherwise async still failed the call.
            duration.observe(elapsed());
            metrics.backendErrors.inc({ ...labels, error: errorLabel(err) });
            throw err;
          }
          if (!(result instanceof Promise)) return result;
          return result.then(
            (ok: unknown) => {
              duration.observe(elapsed());
              return ok;
            },
            (err: unknown) => {
              duration.observe(elapsed());
              metrics.backendErrors.inc({ ...labels, error: errorLabel(err) });
              throw err;
            },
          );
        },
        { original: value },
      );
      wrapped.set(property, timed);
      return timed;
    },
  });
}
