// GET /v2/features over HTTPS with mutual TLS and keep-alive, 32 connections, against a bare Node
// HTTPS server returning the same JSON with the same TLS settings, in the same run. Also reports
// the proxy's time to readiness and idle RSS. Run: npm run bench -- core-features

import autocannon from 'autocannon';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { tempDir, removeDir, freeTcpPort } from '../test/lib/procs.ts';
import { httpsSettings, makePki } from '../test/lib/certs.ts';
import { startProxyProcess, portOf } from '../test/lib/proxy-process.ts';
import { fetchUrl } from '../test/lib/https-client.ts';
import { writeSettingsDir } from '../src/core/testing.ts';

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function load(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<autocannon.Result> {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    pipelining: 1,
    headers: { accept: 'application/json' },
    tlsOptions: { ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' },
  } as autocannon.Options);
}

const BARE_SERVER = `
import { createServer } from 'node:https';
import { readFileSync } from 'node:fs';
const [cert, key, ca, port, body] = process.argv.slice(2);
const payload = readFileSync(body);
createServer({ cert: readFileSync(cert), key: readFileSync(key), ca: readFileSync(ca), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
  (req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(payload); })
  .listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\\n'));
`;

async function main(): Promise<void> {
  const dir = await tempDir('sp-bench');
  try {
    const pki = await makePki(dir);
    const client = await pki.client('foreman.example.com');
    await writeSettingsDir(dir, {
      ...httpsSettings(pki),
      trusted_hosts: ['foreman.example.com'],
      log_file: join(dir, 'proxy.log'),
    });
    const tls = { ca: readFileSync(pki.caCert), cert: readFileSync(client.cert), key: readFileSync(client.key) };

    const t0 = process.hrtime.bigint();
    const proxy = await startProxyProcess(['--settings', dir]);
    const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    await new Promise((r) => setTimeout(r, 1000));
    const idleRss = rssMb(proxy.pid);
    const url = `https://127.0.0.1:${portOf(proxy, 'https')}/v2/features`;
    const body = (await fetchUrl(url, { tls: { ca: pki.caCert, ...client } })).body;

    const bodyFile = join(dir, 'features.json');
    writeFileSync(bodyFile, body);
    const scriptFile = join(dir, 'bare.mjs');
    writeFileSync(scriptFile, BARE_SERVER);
    const barePort = await freeTcpPort();
    const bare = spawn(process.execPath, [scriptFile, pki.serverCert, pki.serverKey, pki.caCert, String(barePort), bodyFile], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(bare.stdout, 'data');

    // Alternate the two servers so that load from elsewhere on the machine hits both alike; the
    // median round of each is reported.
    const bareRuns: autocannon.Result[] = [];
    const proxyRuns: autocannon.Result[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      bareRuns.push(await load(`https://127.0.0.1:${barePort}/v2/features`, tls));
      proxyRuns.push(await load(url, tls));
    }
    const median = (runs: autocannon.Result[]): autocannon.Result =>
      [...runs].sort((a, b) => a.requests.average - b.requests.average)[Math.floor(runs.length / 2)];
    const bareResult = median(bareRuns);
    const proxyResult = median(proxyRuns);
    const loadedRss = rssMb(proxy.pid);
    bare.kill('SIGTERM');
    await proxy.stop();

    const ratio = proxyResult.requests.average / bareResult.requests.average;
    const row = (name: string, r: autocannon.Result): string =>
      `${name.padEnd(22)} ${r.requests.average.toFixed(0).padStart(8)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms   errors ${r.errors + r.non2xx}`;
    console.log(`GET /v2/features, HTTPS + mTLS, keep-alive, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION} s, median round`);
    console.log(`rounds (req/s) bare: ${bareRuns.map((r) => r.requests.average.toFixed(0)).join(', ')}; proxy: ${proxyRuns.map((r) => r.requests.average.toFixed(0)).join(', ')}`);
    console.log(row('bare node https', bareResult));
    console.log(row('smart proxy', proxyResult));
    console.log(`proxy / bare: ${(ratio * 100).toFixed(1)}% (target >= 60%)`);
    console.log(`time to ready (spawn → listening): ${readyMs.toFixed(0)} ms (target < 500 ms)`);
    console.log(`idle RSS: ${idleRss.toFixed(1)} MB (target < 80 MB); RSS after load: ${loadedRss.toFixed(1)} MB`);

    // The bundled build (npm run build): no type stripping at run time.
    const out = join(dir, 'dist');
    spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/build.ts', import.meta.url)), out], { stdio: 'ignore' });
    const b0 = process.hrtime.bigint();
    const bundled = spawn(process.execPath, [join(out, 'smart-proxy.mjs'), '--settings', dir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SMART_PROXY_PRINT_READY: '1' } });
    await once(bundled.stdout, 'data');
    const bundledReadyMs = Number(process.hrtime.bigint() - b0) / 1e6;
    await new Promise((r) => setTimeout(r, 1000));
    const bundledRss = rssMb(bundled.pid as number);
    bundled.kill('SIGTERM');
    await once(bundled, 'exit');
    console.log(`bundled build (npm run build): time to ready ${bundledReadyMs.toFixed(0)} ms, idle RSS ${bundledRss.toFixed(1)} MB`);
  } finally {
    await removeDir(dir);
  }
}

await main();
