// OpenSCAP report ingestion: bzip2'd ARF → JSON summary, two ways in the same run on the same
// reports, 4 at a time:
//   subject:  the proxy's way: `bzip2 -dc` streamed into the in-process streaming parser.
//   baseline: the reference's way: one forked process per report that decompresses and parses the
//             whole document into a DOM (here: a Node child with fast-xml-parser, as the Ruby
//             reference forks a child that loads the ARF with Nokogiri).
// Prints reports/s for each, then time and peak RSS of one 50 MB report parsed each way in a fresh
// process.
// Run: npm run bench -- openscap-ingest

import { spawn } from 'node:child_process';
import { parseCompressedArf } from '../src/modules/openscap/arf.ts';
import { makeArf, bzip2 } from '../test/openscap/arf-fixture.ts';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 200);
const CONCURRENCY = 4;

const CHILD = `
const { spawnSync } = require('node:child_process');
const { XMLParser } = require(${JSON.stringify(new URL('../node_modules/fast-xml-parser/lib/fxp.cjs', import.meta.url).pathname)});
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const xml = spawnSync('bzip2', ['-dc'], { input: Buffer.concat(chunks), maxBuffer: 1 << 30 }).stdout.toString();
  const doc = new XMLParser({ ignoreAttributes: false, removeNSPrefix: true }).parse(xml);
  let results = 0;
  const walk = (n) => { if (n && typeof n === 'object') for (const [k, v] of Object.entries(n)) { if (k === 'rule-result') results += Array.isArray(v) ? v.length : 1; walk(v); } };
  walk(doc);
  const hwm = /VmHWM:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1];
  process.stdout.write(JSON.stringify({ results, peakKb: Number(hwm) }));
});
`;

function forkedParse(compressed: Buffer): Promise<{ results: number; peakKb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { results: number; peakKb: number }) : reject(new Error(`child exited ${code}`))));
    child.stdin.end(compressed);
  });
}

async function pool<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<number> {
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
  return performance.now() - start;
}

const base = makeArf({ rules: 300, ovalPaddingBytes: 1024 * 1024 });
const reports = await Promise.all(Array.from({ length: REPORTS }, (_, i) => bzip2(base.replace('xccdf_org.example_rule_0"', `xccdf_org.example_rule_0_${i}"`))));
console.log(`${REPORTS} reports of ${(base.length / 1048576).toFixed(1)} MB (300 rules), ${CONCURRENCY} at a time`);

// Warm-up of both paths.
await parseCompressedArf(reports[0] as Buffer, { bzip2: 'bzip2', timeoutMs: 60_000 });
await forkedParse(reports[0] as Buffer);

const streamedMs = await pool(reports, (r) => parseCompressedArf(r, { bzip2: 'bzip2', timeoutMs: 60_000 }));
const forkedMs = await pool(reports, forkedParse);
console.log(`subject  (streamed, in process): ${((REPORTS / streamedMs) * 1000).toFixed(1)} reports/s (${streamedMs.toFixed(0)} ms)`);
console.log(`baseline (process per report):  ${((REPORTS / forkedMs) * 1000).toFixed(1)} reports/s (${forkedMs.toFixed(0)} ms)`);
console.log(`speed-up: ${(forkedMs / streamedMs).toFixed(2)}x`);

// One 50 MB report, each way in a fresh process, so that both peaks are measured alike (VmHWM).
const SUBJECT_CHILD = `
import { parseCompressedArf } from ${JSON.stringify(new URL('../src/modules/openscap/arf.ts', import.meta.url).pathname)};
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const summary = await parseCompressedArf(Buffer.concat(chunks), { bzip2: 'bzip2', timeoutMs: 300000 });
const hwm = /VmHWM:\\s+(\\d+)/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'))[1];
process.stdout.write(JSON.stringify({ results: summary.logs.length, peakKb: Number(hwm) }));
`;
const IDLE_CHILD = `process.stdin.resume(); process.stdin.on('end', () => process.stdout.write(JSON.stringify({ results: 0, peakKb: Number(/VmHWM:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]) })));`;

function inChild(args: string[], input: Buffer): Promise<{ results: number; peakKb: number; ms: number }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve({ ...(JSON.parse(out) as { results: number; peakKb: number }), ms: performance.now() - start }) : reject(new Error(`child exited ${code}`))));
    child.stdin.end(input);
  });
}

const xml = makeArf({ rules: 500, ovalPaddingBytes: 50 * 1024 * 1024 });
const big = await bzip2(xml);
const idle = await inChild(['-e', IDLE_CHILD], big);
const streamed = await inChild(['--input-type=module', '-e', SUBJECT_CHILD], big);
const dom = await inChild(['-e', CHILD], big);
console.log(`one ${(xml.length / 1048576).toFixed(1)} MB report (${(big.length / 1048576).toFixed(2)} MB bzip2'd), each in a fresh process; an idle Node process peaks at ${(idle.peakKb / 1024).toFixed(0)} MB`);
console.log(`subject  (streamed):        ${streamed.ms.toFixed(0)} ms, peak RSS ${(streamed.peakKb / 1024).toFixed(0)} MB, ${streamed.results} logs`);
console.log(`baseline (whole-document):  ${dom.ms.toFixed(0)} ms, peak RSS ${(dom.peakKb / 1024).toFixed(0)} MB`);
