// BMC power status through the proxy against the tools/services it wraps, in the same run:
//  - IPMI (ipmi_sim): N sequential `GET /bmc/<h>/chassis/power/status` via ipmitool and freeipmi,
//    against N sequential direct spawns of `ipmitool power status` / `ipmipower --stat` (baseline).
//  - Redfish (stand-in service): 8 concurrent keep-alive clients on the proxy route against the same
//    load on the stand-in's ComputerSystem resource (baseline; the proxy makes three Redfish GETs
//    per status). A small load loop instead of autocannon, whose types are not installed.
// Proxy, stand-in and load loop share one process and event loop, so the Redfish figures are a
// lower bound. Run: ./node_modules/.bin/node bench/bmc-power-status.ts   (BENCH_N, BENCH_SECONDS)

import { Agent, request } from 'undici';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestProxy } from '../src/core/testing.ts';
import { startIpmiSim } from '../test/bmc/ipmi-sim.ts';
import { startRedfishStandIn } from '../test/bmc/redfish-standin.ts';

const run = promisify(execFile);
const N = Number(process.env.BENCH_N ?? 40);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

async function timeSequential(label: string, fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / N;
  console.log(`${label.padEnd(44)} ${ms.toFixed(1).padStart(7)} ms/op  ${(1000 / ms).toFixed(1).padStart(7)} ops/s`);
  return ms;
}

interface LoadResult {
  rps: number;
  p99: number;
  errors: number;
}

/** `connections` clients, each sending requests back to back for `seconds`. */
async function load(url: string, headers: Record<string, string>, connections: number, seconds: number): Promise<LoadResult> {
  const dispatcher = new Agent({ connections, connect: { rejectUnauthorized: false } });
  const latencies: number[] = [];
  let errors = 0;
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) {
        const t0 = process.hrtime.bigint();
        try {
          const res = await request(url, { headers, dispatcher });
          await res.body.dump();
          if (res.statusCode !== 200) errors++;
        } catch {
          errors++;
        }
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }),
  );
  await dispatcher.close();
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / seconds, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0, errors };
}

async function main(): Promise<void> {
  const sim = await startIpmiSim();
  const redfish = await startRedfishStandIn({ user: 'root', password: 'pw' });
  const proxy = await startTestProxy({
    global: { log_level: 'ERROR' },
    files: { bmc: { ':enabled': true, ':bmc_ipmi_cipher_suite': 3, ':bmc_freeipmi_workaround_flags': 'opensesspriv', ':redfish_verify_ssl': false } },
  });
  const fiDir = await mkdtemp(join(tmpdir(), 'bench-fi-'));
  try {
    const host = `127.0.0.1:${sim.port}`;
    const auth = { authorization: `Basic ${Buffer.from(`${sim.user}:${sim.password}`).toString('base64')}` };
    const viaProxy = (provider: string) => async () => {
      const r = await proxy.request('GET', `/bmc/${host}/chassis/power/status?bmc_provider=${provider}`, { headers: auth });
      if (r.status !== 200) throw new Error(r.body);
    };
    await writeFile(join(fiDir, 'fi.conf'), `username admin\npassword password\ndriver-type LAN_2_0\ncipher-suite-id 3\nworkaround-flags opensesspriv\n`, { mode: 0o600 });

    console.log(`IPMI power status against ipmi_sim, ${N} sequential requests`);
    const baseIt = await timeSequential('baseline: ipmitool power status (direct)', async () => {
      await run('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', '127.0.0.1', '-p', String(sim.port), '-U', 'admin', '-E', 'power', 'status'], { env: { ...process.env, IPMI_PASSWORD: 'password' } });
    });
    const proxIt = await timeSequential('proxy: GET power/status (ipmitool)', viaProxy('ipmitool'));
    const baseFi = await timeSequential('baseline: ipmipower --stat (direct)', async () => {
      await run('ipmipower', [`--config-file=${join(fiDir, 'fi.conf')}`, '-h', host, '--stat']);
    });
    const proxFi = await timeSequential('proxy: GET power/status (freeipmi)', viaProxy('freeipmi'));
    console.log(`overhead: ipmitool +${(proxIt - baseIt).toFixed(1)} ms/op, freeipmi +${(proxFi - baseFi).toFixed(1)} ms/op`);

    console.log(`\nRedfish power status against the stand-in service, 8 connections, ${SECONDS} s each`);
    const basic = `Basic ${Buffer.from('root:pw').toString('base64')}`;
    const base = await load(`https://127.0.0.1:${redfish.port}/redfish/v1/Systems/1`, { authorization: basic }, 8, SECONDS);
    const connsBefore = redfish.connections();
    const reqsBefore = redfish.requests.length;
    const prox = await load(
      `${proxy.baseUrl}/bmc/127.0.0.1:${redfish.port}/chassis/power/status?bmc_provider=redfish`,
      { authorization: basic, accept: 'application/json' },
      8,
      SECONDS,
    );
    const made = redfish.requests.length - reqsBefore;
    console.log(`baseline: GET Systems/1 on the stand-in          ${base.rps.toFixed(0).padStart(7)} req/s  p99 ${base.p99.toFixed(1)} ms  errors ${base.errors}`);
    console.log(`proxy: GET power/status (redfish, 3 GETs each)   ${prox.rps.toFixed(0).padStart(7)} req/s  p99 ${prox.p99.toFixed(1)} ms  errors ${prox.errors}`);
    console.log(`proxy → stand-in: ${made} Redfish requests over ${redfish.connections() - connsBefore} new TLS connections`);
  } finally {
    await proxy.close();
    await redfish.close();
    await sim.stop();
    await rm(fiDir, { recursive: true, force: true });
  }
}

await main();
