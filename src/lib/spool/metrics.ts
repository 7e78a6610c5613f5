// Prometheus metrics of the proxy's spools (openscap, reports), labelled by spool name. The values
// are read from each spool's counters at scrape time; one set of metrics per registry, shared by
// every spool registered on it.

import { Counter, Gauge, type Registry } from 'prom-client';
import type { Spool, SpoolStats } from './spool.ts';

const spoolsByRegistry = new WeakMap<Registry, Map<string, Spool>>();

function gauge(registry: Registry, spools: Map<string, Spool>, name: string, help: string, value: (s: SpoolStats) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['spool'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [label, spool] of spools) this.set({ spool: label }, value(spool.stats()));
    },
  });
}

function counter(registry: Registry, spools: Map<string, Spool>, name: string, help: string, value: (s: SpoolStats) => number): void {
  new Counter({
    name,
    help,
    labelNames: ['spool'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [label, spool] of spools) this.inc({ spool: label }, value(spool.stats()));
    },
  });
}

/** Expose `spool` under label `label`; the returned function removes it (call it at close). */
export function exposeSpoolMetrics(registry: Registry, label: string, spool: Spool): () => void {
  let spools = spoolsByRegistry.get(registry);
  if (!spools) {
    const all = new Map<string, Spool>();
    spools = all;
    spoolsByRegistry.set(registry, all);
    gauge(registry, all, 'smart_proxy_spool_pending_items', 'Items waiting in a spool for Foreman to accept them.', (s) => s.pending);
    gauge(registry, all, 'smart_proxy_spool_pending_bytes', 'Payload bytes waiting in a spool.', (s) => s.pendingBytes);
    gauge(registry, all, 'smart_proxy_spool_backing_off', '1 while the head of a spool waits for its next attempt after a failure.', (s) => (s.backingOff ? 1 : 0));
    counter(registry, all, 'smart_proxy_spool_delivered_total', 'Items Foreman accepted since the proxy started.', (s) => s.delivered);
    counter(registry, all, 'smart_proxy_spool_retries_total', 'Failed delivery attempts since the proxy started.', (s) => s.retries);
  }
  spools.set(label, spool);
  const mine = spools;
  return () => {
    if (mine.get(label) === spool) mine.delete(label);
  };
}
