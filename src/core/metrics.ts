// This proxy's Prometheus metrics (prom-client). One registry per running proxy, so that several
// proxies in one test process never share counters. The core records requests (http/app.ts);
// bulkheads, backend calls and TFTP transfers are recorded by the code that owns them; the
// `metrics` module serves the registry in the text exposition format.
//
// Skeleton written by the lead; the metrics work (issue 13) fills it in.

import { Registry } from 'prom-client';

export class ProxyMetrics {
  readonly registry: Registry;

  constructor() {
    this.registry = new Registry();
  }
}
