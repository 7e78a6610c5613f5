// dhcp_kea against a real kea-dhcp4 + kea-ctrl-agent holding a /16 with N reservations
// (BENCH_RESERVATIONS, default 5000): the proxy's GET /dhcp/<net>, GET …/mac/<mac>, unused_ip and
// POST+DELETE (config-set path), each compared with the bare Kea commands it needs, sent straight
// to the agent in the same run. Sequential requests (the write path is serialised anyway).
// Run as root: npm run bench -- dhcp-kea

import { request } from 'undici';
import { startTestProxy } from '../src/core/testing.ts';
import { keaProxyFiles, startKeaLab } from '../test/dhcp-kea/harness.ts';

const N = Number(process.env.BENCH_RESERVATIONS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

function mac(i: number): string {
  return `52:54:01:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
}

function uniqueIps(n: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let k = 0; out.length < n; k++) {
    const a = 1 + Math.floor(k / 250);
    const b = 1 + (k % 250);
    out.push([mac(k), `10.20.${a}.${b}`]);
  }
  return out;
}

async function time(
  label: string,
  rounds: number,
  fn: (i: number) => Promise<void>,
  untimed?: () => Promise<void>,
): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (untimed) await untimed();
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  const median = samples[Math.floor(samples.length / 2)];
  const p90 = samples[Math.floor(samples.length * 0.9)];
  console.log(`${label.padEnd(58)} median ${median.toFixed(1).padStart(7)} ms   p90 ${p90.toFixed(1).padStart(7)} ms`);
  return median;
}

async function main(): Promise<void> {
  const pairs = uniqueIps(N);
  const lab = await startKeaLab({
    extraSubnets: [
      {
        id: 2,
        subnet: '10.20.0.0/16',
        pools: [{ pool: '10.20.200.1 - 10.20.250.254' }],
        reservations: pairs.map(([m, a], i) => ({ 'hw-address': m, 'ip-address': a, hostname: `h${i}.bench.test` })),
      },
    ],
  });
  const startProxy = (cacheSeconds: number) =>
    startTestProxy({
      global: { log_level: 'ERROR' },
      files: keaProxyFiles(lab, { ':timeout': 30, ':config_cache_seconds': cacheSeconds }),
    });
  const proxy = await startProxy(5);
  const uncached = await startProxy(0);
  const auth = `Basic ${Buffer.from(`${lab.user}:${lab.password}`).toString('base64')}`;
  const kea = async (command: string, args?: unknown): Promise<unknown> => {
    const body: Record<string, unknown> = { command, service: ['dhcp4'] };
    if (args !== undefined) body.arguments = args;
    const res = await request(lab.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: auth },
      body: JSON.stringify(body),
    });
    const data = (await res.body.json()) as Array<{ result: number; arguments?: unknown; text?: string }>;
    if (data[0].result !== 0 && data[0].result !== 3) throw new Error(`${command}: ${data[0].text}`);
    return data[0].arguments;
  };
  const get = async (path: string, via = proxy): Promise<void> => {
    const r = await via.request('GET', path);
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`);
  };

  try {
    console.log(`Kea 2.2 subnet 10.20.0.0/16 with ${N} reservations; ${ROUNDS} sequential rounds each`);
    const cfgBytes = JSON.stringify(await kea('config-get')).length;
    console.log(`config-get reply: ${(cfgBytes / 1024).toFixed(0)} KiB`);

    await time('baseline: bare config-get + lease4-get-all to the agent', ROUNDS, async () => {
      await kea('config-get');
      await kea('lease4-get-all', { subnets: [2] });
    });
    await time('proxy: GET /dhcp/10.20.0.0 (config_cache_seconds 0)', ROUNDS, () => get('/dhcp/10.20.0.0', uncached));
    await time('proxy: GET /dhcp/10.20.0.0/mac/<mac> (config_cache_seconds 0)', ROUNDS, (i) =>
      get(`/dhcp/10.20.0.0/mac/${pairs[(i * 89) % N][0]}`, uncached),
    );
    await time('proxy: GET /dhcp/10.20.0.0 (config snapshot cached)', ROUNDS, () => get('/dhcp/10.20.0.0'), () => get('/dhcp'));
    await time('proxy: GET /dhcp/10.20.0.0/mac/<mac> (cached)', ROUNDS, async (i) => {
      await get(`/dhcp/10.20.0.0/mac/${pairs[(i * 97) % N][0]}`);
    }, () => get('/dhcp'));
    await time('proxy: GET /dhcp/10.20.0.0/unused_ip (cached)', ROUNDS, () => get('/dhcp/10.20.0.0/unused_ip'), () => get('/dhcp'));

    const base = await time('baseline: bare config-get + config-test + config-set', Math.min(ROUNDS, 10), async () => {
      const cfg = (await kea('config-get')) as Record<string, unknown>;
      delete cfg.hash;
      await kea('config-test', cfg);
      await kea('config-set', cfg);
    });
    const post = await time('proxy: POST /dhcp/10.20.0.0 (new reservation, config-set path)', Math.min(ROUNDS, 10), async (i) => {
      const r = await proxy.request('POST', '/dhcp/10.20.0.0', {
        body: { hostname: `new${i}.bench.test`, mac: `52:54:02:00:00:${i.toString(16).padStart(2, '0')}`, ip: `10.20.199.${i + 1}` },
      });
      if (r.status !== 200) throw new Error(`POST: ${r.status} ${r.body}`);
    });
    const del = await time('proxy: DELETE /dhcp/10.20.0.0/mac/<mac>', Math.min(ROUNDS, 10), async (i) => {
      const r = await proxy.request('DELETE', `/dhcp/10.20.0.0/mac/52:54:02:00:00:${i.toString(16).padStart(2, '0')}`);
      if (r.status !== 200) throw new Error(`DELETE: ${r.status} ${r.body}`);
    });
    console.log(`write overhead over the bare Kea cycle: POST ${(post / base).toFixed(2)}x, DELETE ${(del / base).toFixed(2)}x`);
    const rss = process.memoryUsage().rss / 1024 / 1024;
    console.log(`bench process RSS (proxy in-process): ${rss.toFixed(0)} MB`);
  } finally {
    await proxy.close();
    await uncached.close();
    await lab.close();
  }
}

await main();
