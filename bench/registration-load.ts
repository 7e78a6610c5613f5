// 1000 hosts registering at once: 1000 concurrent GET /register through the proxy (the real
// binary, in its own process) to a stand-in Foreman that takes 200 ms per registration, with the
// upstream cap at 64. Checks that every request gets the script, samples the proxy's RSS, reports
// p50/p99 latency and how many registrations Foreman had to render at once, against two
// baselines measured in the same run: the stand-in hit directly, and the proxy without the cap.
// Run: npm run bench -- registration-load

import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { tempDir, removeDir } from '../test/lib/procs.ts';
import { startProxyProcess, portOf } from '../test/lib/proxy-process.ts';
import { writeSettingsDir } from '../src/core/testing.ts';
import { startStandInForeman } from '../test/lib/standin-foreman.ts';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 1000);
const FOREMAN_MS = 200;
const CAP = 64;
// a registration script of realistic size
const SCRIPT = `#!/bin/sh\n# registration\n${'echo "configuring subscription-manager and the host"\n'.repeat(300)}`;

interface RunResult {
  label: string;
  ok: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  seconds: number;
  foremanMaxInFlight: number;
  rssPeakMb?: number;
  rssIdleMb?: number;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function burst(url: string): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections: HOSTS,
    amount: HOSTS,
    timeout: 120,
    pipelining: 1,
    headers: { authorization: 'Bearer bench-token', accept: '*/*' },
    expectBody: SCRIPT,
  });
}

async function main(): Promise<void> {
  const foreman = await startStandInForeman(() => ({
    status: 200,
    headers: { 'content-type': 'text/plain' },
    body: SCRIPT,
    delayMs: FOREMAN_MS,
  }));
  // the stand-in keeps no request log here: 3000 recorded requests would only skew the numbers
  const clearLog = (): void => {
    foreman.requests.length = 0;
    foreman.maxInFlight = 0;
  };
  const results: RunResult[] = [];
  const summarise = (label: string, r: autocannon.Result, extra: Partial<RunResult> = {}): RunResult => ({
    label,
    ok: r['2xx'] - r.mismatches,
    failed: r.non2xx + r.errors + r.timeouts + r.mismatches,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    seconds: r.duration,
    foremanMaxInFlight: foreman.maxInFlight,
    ...extra,
  });

  try {
    clearLog();
    results.push(summarise('stand-in Foreman direct (baseline)', await burst(`${foreman.origin}/register?location_id=2`)));

    for (const [label, concurrency, queue] of [
      [`proxy, upstream cap ${CAP}`, CAP, 2000],
      ['proxy, no cap (baseline)', HOSTS, 0],
    ] as const) {
      const dir = await tempDir('bench-reg');
      try {
        await writeSettingsDir(
          dir,
          { bind_host: ['127.0.0.1'], http_port: 0, foreman_url: foreman.origin, log_file: `${dir}/proxy.log`, log_level: 'ERROR' },
          {
            templates: { ':enabled': true, ':template_url': 'http://proxy.example.com:8000' },
            registration: { ':enabled': true, ':upstream_concurrency': concurrency, ':upstream_queue': queue },
          },
        );
        const proxy = await startProxyProcess(['--settings', dir]);
        try {
          const port = portOf(proxy, 'http');
          const rssIdleMb = rssMb(proxy.pid);
          let rssPeakMb = rssIdleMb;
          const sampler = setInterval(() => {
            rssPeakMb = Math.max(rssPeakMb, rssMb(proxy.pid));
          }, 50);
          clearLog();
          const r = await burst(`http://127.0.0.1:${port}/register?location_id=2`);
          clearInterval(sampler);
          rssPeakMb = Math.max(rssPeakMb, rssMb(proxy.pid));
          results.push(summarise(label, r, { rssIdleMb, rssPeakMb }));
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

  console.log(`${HOSTS} concurrent GET /register, stand-in Foreman answering in ${FOREMAN_MS} ms (${SCRIPT.length} byte script)`);
  console.table(
    results.map((r) => ({
      run: r.label,
      ok: r.ok,
      failed: r.failed,
      'p50 ms': r.p50,
      'p99 ms': r.p99,
      'max ms': r.max,
      'wall s': r.seconds.toFixed(2),
      'Foreman max in flight': r.foremanMaxInFlight,
      'proxy RSS idle/peak MB': r.rssPeakMb === undefined ? '-' : `${r.rssIdleMb?.toFixed(0)}/${r.rssPeakMb.toFixed(0)}`,
    })),
  );
  const capped = results[1];
  const problems: string[] = [];
  if (capped.ok !== HOSTS || capped.failed !== 0) problems.push(`capped run: ${capped.ok}/${HOSTS} succeeded`);
  if (capped.foremanMaxInFlight > CAP) problems.push(`capped run: ${capped.foremanMaxInFlight} at Foreman at once (cap ${CAP})`);
  if ((capped.rssPeakMb ?? 0) >= 200) problems.push(`capped run: RSS peak ${capped.rssPeakMb?.toFixed(0)} MB >= 200 MB`);
  const ideal = Math.ceil(HOSTS / CAP) * FOREMAN_MS;
  console.log(`with the cap, the ideal last answer is at ${HOSTS}/${CAP} rounds x ${FOREMAN_MS} ms = ${ideal} ms; measured p99 ${capped.p99} ms, max ${capped.max} ms`);
  if (problems.length > 0) {
    console.log(`FAILED: ${problems.join('; ')}`);
    process.exitCode = 1;
  } else {
    console.log(`OK: every registration succeeded, Foreman never saw more than ${CAP} at once, RSS peak ${capped.rssPeakMb?.toFixed(0)} MB`);
  }
}

await main();
