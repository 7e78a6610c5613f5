// 1000 machines chainloading iPXE at once: 1000 concurrent GET /unattended/iPXE?bootstrap=1
// through the proxy (the real binary, in its own process) to a stand-in Foreman that takes 200 ms
// to render the intermediate script (as in the registration bench). Two runs in the same process:
// with coalescing (the default shared_requests) and without it (shared_requests empty: one Foreman
// request per host, as the reference does). Reports the requests Foreman had to render, the wall
// time of the burst, latency and the proxy's RSS.
// Run: npm run bench -- template-coalescing

import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { tempDir, removeDir } from '../test/lib/procs.ts';
import { startProxyProcess, portOf } from '../test/lib/proxy-process.ts';
import { writeSettingsDir } from '../src/core/testing.ts';
import { startStandInForeman } from '../test/lib/standin-foreman.ts';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 1000);
const FOREMAN_MS = 200;
// an intermediate script of realistic size (Foreman's loops over up to 10 NICs)
const SCRIPT = `#!ipxe\n${'isset ${net0/mac} || goto no_nic\ndhcp net0 || goto net1\nchain http://proxy.example.com:8000/unattended/iPXE?mac=${net0/mac} || goto net1\n'.repeat(10)}`;

interface RunResult {
  label: string;
  ok: number;
  failed: number;
  foremanRequests: number;
  foremanMaxInFlight: number;
  seconds: number;
  p50: number;
  p99: number;
  rssIdleMb: number;
  rssPeakMb: number;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function main(): Promise<void> {
  const foreman = await startStandInForeman(() => ({
    status: 200,
    // what stock Foreman (Rails) sends: nothing may be cached, so only coalescing helps
    headers: { 'content-type': 'text/plain', 'cache-control': 'max-age=0, private, must-revalidate' },
    body: SCRIPT,
    delayMs: FOREMAN_MS,
  }));
  const results: RunResult[] = [];
  try {
    for (const [label, sharedRequests] of [
      ['proxy, coalescing (default shared_requests)', undefined],
      ['proxy, no coalescing (baseline: one Foreman request per host, as the reference)', []],
    ] as const) {
      const dir = await tempDir('bench-tmpl');
      try {
        await writeSettingsDir(
          dir,
          {
            bind_host: ['127.0.0.1'],
            http_port: 0,
            foreman_url: foreman.origin,
            log_file: `${dir}/proxy.log`,
            log_level: 'ERROR',
            // every bench connection comes from 127.0.0.1
            limits: { max_connections: 4096, max_connections_per_peer: 4096, reserved_connections: 0 },
          },
          {
            templates: {
              ':enabled': true,
              ':template_url': 'http://proxy.example.com:8000',
              ...(sharedRequests === undefined ? {} : { ':shared_requests': sharedRequests }),
            },
          },
        );
        const proxy = await startProxyProcess(['--settings', dir]);
        try {
          const port = portOf(proxy, 'http');
          const rssIdleMb = rssMb(proxy.pid);
          let rssPeakMb = rssIdleMb;
          const sampler = setInterval(() => {
            rssPeakMb = Math.max(rssPeakMb, rssMb(proxy.pid));
          }, 20);
          foreman.requests.length = 0;
          foreman.maxInFlight = 0;
          const r = await autocannon({
            url: `http://127.0.0.1:${port}/unattended/iPXE?bootstrap=1`,
            connections: HOSTS,
            amount: HOSTS,
            timeout: 120,
            pipelining: 1,
            headers: { 'user-agent': 'iPXE/1.21.1', accept: '*/*' },
            expectBody: SCRIPT,
          });
          clearInterval(sampler);
          rssPeakMb = Math.max(rssPeakMb, rssMb(proxy.pid));
          results.push({
            label,
            ok: r['2xx'] - r.mismatches,
            failed: r.non2xx + r.errors + r.timeouts + r.mismatches,
            foremanRequests: foreman.requests.length,
            foremanMaxInFlight: foreman.maxInFlight,
            seconds: r.duration,
            p50: r.latency.p50,
            p99: r.latency.p99,
            rssIdleMb,
            rssPeakMb,
          });
        } finally {
          await proxy.stop();
        }
      } finally {
        await removeDir(dir);
      }
    }
  } finally {
    await foreman.close();
  }

  console.log(`${HOSTS} concurrent GET /unattended/iPXE?bootstrap=1, stand-in Foreman rendering in ${FOREMAN_MS} ms (${SCRIPT.length} byte script)`);
  console.table(
    results.map((r) => ({
      run: r.label,
      ok: r.ok,
      failed: r.failed,
      'Foreman requests': r.foremanRequests,
      'Foreman max in flight': r.foremanMaxInFlight,
      'wall s': r.seconds.toFixed(2),
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      'proxy RSS idle/peak MB': `${r.rssIdleMb.toFixed(0)}/${r.rssPeakMb.toFixed(0)}`,
    })),
  );
  const [shared, baseline] = results;
  const problems: string[] = [];
  if (shared.ok !== HOSTS || shared.failed !== 0) problems.push(`coalescing run: ${shared.ok}/${HOSTS} succeeded`);
  if (baseline.ok !== HOSTS || baseline.failed !== 0) problems.push(`baseline run: ${baseline.ok}/${HOSTS} succeeded`);
  // autocannon opens its 1000 connections over a few milliseconds; a burst that outlasts one render
  // may start a second round, so "one" is checked by the integration test, not here
  if (shared.foremanRequests >= baseline.foremanRequests) problems.push('coalescing did not reduce the requests Foreman rendered');
  if (problems.length > 0) {
    console.log(`FAILED: ${problems.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log(
      `OK: Foreman rendered ${shared.foremanRequests} instead of ${baseline.foremanRequests} scripts; ` +
        `burst ${shared.seconds.toFixed(2)} s instead of ${baseline.seconds.toFixed(2)} s`,
    );
  }
}

await main();
