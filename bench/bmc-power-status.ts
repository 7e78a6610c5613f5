// BMC power status through the proxy against the tools/services it wraps, in the same run:
//  - IPMI (ipmi_sim): N sequential `GET /bmc/<h>/chassis/power/status` via ipmitool and freeipmi,
//    against N sequential direct spawns of `ipmitool power status` / `ipmipower --stat` (baseline).
//  - Redfish (stand-in service): autocannon on the proxy route against autocannon on the stand-in's
//    ComputerSystem resource (baseline; the proxy makes three Redfish GETs per status).
// Run: ./node_modules/.bin/node bench/bmc-power-status.ts   (BENCH_N, BENCH_SECONDS)

import autocannon from 'autocannon';
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
    const base = await autocannon({
      url: `https://127.0.0.1:${redfish.port}/redfish/v1/Systems/1`,
      connections: 8,
      duration: SECONDS,
      headers: { authorization: basic },
      tlsOptions: { rejectUnauthorized: false },
    } as autocannon.Options);
    const connsBefore = redfish.connections();
    const reqsBefore = redfish.requests.length;
    const prox = await autocannon({
      url: `${proxy.baseUrl}/bmc/127.0.0.1:${redfish.port}/chassis/power/status?bmc_provider=redfish`,
      connections: 8,
      duration: SECONDS,
      headers: { authorization: basic, accept: 'application/json' },
    } as autocannon.Options);
    const made = redfish.requests.length - reqsBefore;
    console.log(`baseline: GET Systems/1 on the stand-in          ${base.requests.average.toFixed(0).padStart(7)} req/s  p99 ${base.latency.p99} ms  errors ${base.non2xx + base.errors}`);
    console.log(`proxy: GET power/status (redfish, 3 GETs each)   ${prox.requests.average.toFixed(0).padStart(7)} req/s  p99 ${prox.latency.p99} ms  errors ${prox.non2xx + prox.errors}`);
    console.log(`proxy → stand-in: ${made} Redfish requests over ${redfish.connections() - connsBefore} new TLS connections`);
  } finally {
    await proxy.close();
    await redfish.close();
    await sim.stop();
    await rm(fiDir, { recursive: true, force: true });
  }
}

await main();
