// Measurements for the remote-execution benches, taken from outside the measured process: the
// resident memory of a process and all its descendants (sampled from /proc), and the CPU time a
// driver process reports for itself and for the children it has waited for.

import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux
const PAGE_KB = 4;

interface ProcInfo {
  ppid: number;
  rssKb: number;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] = field 3 (state), rest[1] = ppid (field 4), rest[21] = rss in pages (field 24)
    return { ppid: Number(rest[1]), rssKb: Number(rest[21]) * PAGE_KB };
  } catch {
    return undefined; // exited between readdir and read
  }
}

/** RSS of `root` plus every live descendant, in MB, and how many processes that was. */
export function treeRssMb(root: number): { mb: number; processes: number } {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const info = readProc(pid);
    if (!info) continue;
    rss.set(pid, info.rssKb);
    const list = children.get(info.ppid);
    if (list) list.push(pid);
    else children.set(info.ppid, [pid]);
  }
  let kb = 0;
  let processes = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    const own = rss.get(pid);
    if (own === undefined) continue;
    kb += own;
    processes++;
    stack.push(...(children.get(pid) ?? []));
  }
  return { mb: kb / 1024, processes };
}

export interface TreeSampler {
  /** Highest sampled RSS sum (MB) and the process count at that moment; the most processes seen. */
  stop(): { peakMb: number; processesAtPeak: number; maxProcesses: number; samples: number };
}

/** Sample the tree's RSS every `intervalMs` until stopped. */
export function sampleTreeRss(root: number, intervalMs = 200): TreeSampler {
  let peakMb = 0;
  let processesAtPeak = 0;
  let maxProcesses = 0;
  let samples = 0;
  const take = (): void => {
    const s = treeRssMb(root);
    samples++;
    if (s.mb > peakMb) {
      peakMb = s.mb;
      processesAtPeak = s.processes;
    }
    maxProcesses = Math.max(maxProcesses, s.processes);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMb, processesAtPeak, maxProcesses, samples };
    },
  };
}

/** CPU seconds of this process's children that have exited and been waited for (cutime + cstime). */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[13] = cutime (field 16), rest[14] = cstime (field 17)
  return (Number(rest[13]) + Number(rest[14])) / CLOCK_TICKS;
}

/** Peak RSS of this process (VmHWM), MB. */
export function ownPeakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Run `work(i)` for i in [0, n) with at most `concurrency` at once. */
export async function pool(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await work(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
}

/** Highest values of process.memoryUsage() fields seen, MB (each field's own peak). */
export interface MemoryPeaks {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** heapUsed right after a forced full GC at the RSS peak's sample, when run with --expose-gc. */
  liveHeapAfterGc?: number;
  samples: number;
}

/**
 * Samples this process's own memoryUsage() every `intervalMs`: tells V8 heap (heapTotal/heapUsed)
 * from Buffers and other native memory (external, arrayBuffers) behind a peak RSS. With node's
 * --expose-gc the sampler also forces a full GC once a second, so heapUsed then shows the live
 * size rather than garbage not collected yet (a measuring aid only: it changes what it measures).
 */
export function sampleOwnMemory(intervalMs = 100): { stop(): MemoryPeaks } {
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  const peaks: MemoryPeaks = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0, samples: 0 };
  const gc = (globalThis as { gc?: () => void }).gc;
  let lastGc = 0;
  const take = (): void => {
    const m = process.memoryUsage();
    peaks.samples++;
    peaks.rss = Math.max(peaks.rss, mb(m.rss));
    peaks.heapTotal = Math.max(peaks.heapTotal, mb(m.heapTotal));
    peaks.heapUsed = Math.max(peaks.heapUsed, mb(m.heapUsed));
    peaks.external = Math.max(peaks.external, mb(m.external));
    peaks.arrayBuffers = Math.max(peaks.arrayBuffers, mb(m.arrayBuffers));
    if (gc && Date.now() - lastGc >= 1000) {
      lastGc = Date.now();
      gc();
      peaks.liveHeapAfterGc = Math.max(peaks.liveHeapAfterGc ?? 0, mb(process.memoryUsage().heapUsed));
    }
  };
  take();
  const timer = setInterval(take, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      return peaks;
    },
  };
}

/**
 * Node flags for every process a bench starts from here on (the proxy, drivers), through
 * NODE_OPTIONS so the proxy's own launcher needs no change: e.g. "--max-semi-space-size=8" to
 * measure a smaller V8 young generation, "--expose-gc" for the live-heap figures.
 */
export function addMeasuredNodeFlags(flags: string | undefined): void {
  const extra = (flags ?? '').trim();
  if (extra === '') return;
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, extra].filter(Boolean).join(' ');
  console.log(`measured processes run with NODE_OPTIONS=${process.env.NODE_OPTIONS}`);
}
