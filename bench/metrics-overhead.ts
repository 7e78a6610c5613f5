// Cost of the request metrics on the hot path: GET /v2/features over HTTPS + mTLS, keep-alive, 32
// connections, against two proxy processes in the same run, one without the metrics module (the
// request hook does one boolean test) and one with it (every request counted and timed), in
// alternating rounds; the median round of each is reported.
// Run: node test/metrics/overhead-bench.ts (a bench, not a test; belongs in bench/).

import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../test/lib/procs.ts';
import { httpsSettings, makePki } from '../test/lib/certs.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../test/lib/proxy-process.ts';
import { fetchUrl } from '../test/lib/https-client.ts';
import { writeSettingsDir } from '../src/core/testing.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;

async function main(): Promise<void> {
  const dir = await tempDir('sp-bench-metrics');
  const procs: ProxyProcess[] = [];
  try {
    const pki = await makePki(dir);
    const client = await pki.client('foreman.example.com');
    const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(client.cert), key: readFileSync(client.key) };
    const start = async (name: string, files: Record<string, Record<string, unknown>>): Promise<string> => {
      const settings = join(dir, name);
      await writeSettingsDir(settings, { ...httpsSettings(pki), trusted_hosts: ['foreman.example.com'], log_file: join(settings, 'proxy.log') }, files);
      const proc = await startProxyProcess(['--settings', settings]);
      procs.push(proc);
      return `https://127.0.0.1:${portOf(proc, 'https')}`;
    };
    const without = await start('without', {});
    const withMetrics = await start('with', { metrics: { ':enabled': true } });
    const load = (url: string) =>
      autocannon({
        url: `${url}/v2/features`,
        connections: CONNECTIONS,
        duration: DURATION,
        headers: { accept: 'application/json' },
        tlsOptions: { ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' },
      } as autocannon.Options);
    const a: autocannon.Result[] = [];
    const b: autocannon.Result[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      a.push(await load(without));
      b.push(await load(withMetrics));
    }
    const median = (runs: autocannon.Result[]) => [...runs].sort((x, y) => x.requests.average - y.requests.average)[Math.floor(runs.length / 2)];
    const counted = (await fetchUrl(`${withMetrics}/metrics`, { tls: { ca: pki.caCert, ...client } })).body;
    const line = /^smart_proxy_http_requests_total\{module="core",route="\/v2\/features",method="GET",status="200"\} (\d+)$/m.exec(counted);
    const row = (name: string, r: autocannon.Result) =>
      `${name.padEnd(26)} ${r.requests.average.toFixed(0).padStart(8)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   errors ${r.errors + r.non2xx}`;
    console.log(`GET /v2/features, HTTPS + mTLS, keep-alive, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION} s, median round`);
    console.log(`rounds (req/s) without: ${a.map((r) => r.requests.average.toFixed(0)).join(', ')}; with: ${b.map((r) => r.requests.average.toFixed(0)).join(', ')}`);
    console.log(row('metrics module disabled', median(a)));
    console.log(row('metrics module enabled', median(b)));
    console.log(`enabled / disabled: ${((median(b).requests.average / median(a).requests.average) * 100).toFixed(1)}%; requests counted by the enabled proxy: ${line?.[1] ?? 'none'}`);
  } finally {
    for (const p of procs) await p.stop();
    await removeDir(dir);
  }
}

await main();
