// A measuring aid loaded into a measured process with node's --import through the benches'
// --node-flags, active only when REX_MEMORY_PROBE_DIR names a directory, e.g. from /work/main:
//   REX_MEMORY_PROBE_DIR=/tmp/probe node bench/rex-pull.ts --only job \
//     "--node-flags=--import=./bench/lib/rex-memory-probe.ts --expose-gc"
// It samples process.memoryUsage()
// every 100 ms and writes, once a second, the fields at the moment of the highest RSS so far to
// $REX_MEMORY_PROBE_DIR/memory-<pid>.json. Tells a peak made of V8 heap (heapTotal: used plus
// room V8 keeps) from one made of Buffers and native memory (external, arrayBuffers, the rest).
// With --expose-gc it also forces a full GC once a second and records the live heap after it.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.REX_MEMORY_PROBE_DIR;
if (dir) {
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  const file = join(dir, `memory-${process.pid}.json`);
  const gc = (globalThis as { gc?: () => void }).gc;
  let atPeak: Record<string, number> = { rss: 0 };
  let liveHeapAfterGc = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const m = process.memoryUsage();
    if (mb(m.rss) > (atPeak.rss ?? 0)) {
      atPeak = { rss: mb(m.rss), heapTotal: mb(m.heapTotal), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
    }
    if (++ticks % 10 !== 0) return;
    if (gc) {
      gc();
      liveHeapAfterGc = Math.max(liveHeapAfterGc, mb(process.memoryUsage().heapUsed));
    }
    writeFileSync(file, JSON.stringify({ pid: process.pid, atRssPeak: atPeak, ...(gc ? { liveHeapAfterGc } : {}) }));
  }, 100);
  timer.unref();
}
