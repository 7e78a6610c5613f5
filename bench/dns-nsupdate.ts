// Bench: create+delete pairs of A records at concurrency 16 against a real named, three ways in
// the same run:
//   1. through the proxy's HTTP API (POST /dns/ with its conflict check, DELETE /dns/<name>/A),
//   2. the dns_nsupdate provider called directly (no HTTP),
//   3. baseline, the reference's method: one `nsupdate -k` process per operation.
// Prints pairs/s for each and the ratio to the baseline. Not a test: nothing is asserted on time.
//
// named fsyncs its journal on every update, so on a slow disk it caps everyone at a few hundred
// updates/s and the bench would measure the disk. By default named's files therefore live on
// tmpfs (/dev/shm); DNS_BENCH_DISK=1 keeps them in the normal temp dir.

import { run } from '../src/core/spawn.ts';
import { startTestProxy } from '../src/core/testing.ts';
import { DnsNsupdateProvider } from '../src/modules/dns/providers/dns_nsupdate/nsupdate.ts';
import { parseKeyFile } from '../src/lib/dns/keyfile.ts';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { requireCommand } from '../test/lib/procs.ts';
import { createNamed, ZONE } from '../test/dns/named.ts';

const CONCURRENCY = 16;
const PAIRS_NATIVE = Number(process.env.DNS_BENCH_PAIRS ?? 2000);
const PAIRS_SPAWN = Number(process.env.DNS_BENCH_SPAWN_PAIRS ?? 200);
const ROUNDS = 4;

async function pool(total: number, worker: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= total) return;
        await worker(i);
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function ipFor(i: number): string {
  return `192.0.2.${(i % 250) + 1}`;
}

const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  withRequest: () => silent,
  child: () => silent,
};

async function main(): Promise<void> {
  const nsupdate = requireCommand('nsupdate');
  const onTmpfs = process.env.DNS_BENCH_DISK !== '1' && existsSync('/dev/shm');
  if (onTmpfs) process.env.TMPDIR = '/dev/shm'; // os.tmpdir() reads it at each call
  const named = await createNamed();
  await named.start();
  const keyFile = named.keyFiles['hmac-sha256'];
  const proxy = await startTestProxy({
    global: { log_level: 'ERROR' },
    files: {
      dns: { enabled: true, dns_ttl: 300 },
      dns_nsupdate: { dns_server: `127.0.0.1:${named.port}`, dns_key: keyFile },
    },
  });
  try {
    const fail = (what: string, detail: string): never => {
      throw new Error(`${what} failed: ${detail}`);
    };

    // warm-up (zone cache, JIT, keep-alive) outside the measurements
    for (let i = 0; i < 20; i++) {
      const name = `warm${i}.${ZONE}`;
      const c = await proxy.request('POST', '/dns/', { body: { fqdn: name, value: ipFor(i), type: 'A' } });
      if (c.status !== 200) fail('warm-up create', c.body);
      const d = await proxy.request('DELETE', `/dns/${name}/A`);
      if (d.status !== 200) fail('warm-up delete', d.body);
    }

    const httpRound = (offset: number, n: number): Promise<number> =>
      pool(n, async (j) => {
        const i = offset + j;
        const name = `h${i}.${ZONE}`;
        const c = await proxy.request('POST', '/dns/', { body: { fqdn: name, value: ipFor(i), type: 'A' } });
        if (c.status !== 200) fail(`POST ${name}`, `${c.status} ${c.body}`);
        const d = await proxy.request('DELETE', `/dns/${name}/A`);
        if (d.status !== 200) fail(`DELETE ${name}`, `${d.status} ${d.body}`);
      });

    if (process.env.DNS_BENCH_ONLY === 'http') {
      const secs = await httpRound(0, PAIRS_NATIVE);
      console.log(`HTTP only: ${PAIRS_NATIVE} pairs in ${secs.toFixed(2)} s = ${(PAIRS_NATIVE / secs).toFixed(1)} pairs/s`);
      return;
    }
    const provider = new DnsNsupdateProvider({
      server: { host: '127.0.0.1', port: named.port },
      key: parseKeyFile(await readFile(keyFile, 'utf8'), keyFile),
      ttl: 300,
      timeoutMs: 30_000,
      lookupTimeoutsMs: [5000, 8000, 13000],
      log: silent,
    });
    const directRound = (offset: number, n: number): Promise<number> =>
      pool(n, async (j) => {
        const name = `p${offset + j}.${ZONE}`;
        await provider.create('A', name, ipFor(offset + j));
        await provider.remove('A', name);
      });

    const spawnOnce = async (script: string): Promise<void> => {
      const r = await run(nsupdate, ['-k', keyFile], { input: script, timeoutMs: 30_000 });
      if (r.code !== 0 || r.stdout.trim() !== '' || r.stderr.trim() !== '') fail('nsupdate', `${r.code} ${r.stdout} ${r.stderr}`);
    };
    const server = `server 127.0.0.1 ${named.port}\n`;
    const spawnRound = (offset: number, n: number): Promise<number> =>
      pool(n, async (j) => {
        const name = `s${offset + j}.${ZONE}.`;
        await spawnOnce(`${server}update add ${name} 300 A ${ipFor(offset + j)}\nsend\n`);
        await spawnOnce(`${server}update delete ${name} A\nsend\n`);
      });

    // The machine is shared, so the load drifts: interleave the three methods in rounds and sum
    // each one's time, rather than measuring them one after the other.
    let httpSecs = 0;
    let directSecs = 0;
    let spawnSecs = 0;
    const nativePerRound = Math.ceil(PAIRS_NATIVE / ROUNDS);
    const spawnPerRound = Math.ceil(PAIRS_SPAWN / ROUNDS);
    for (let r = 0; r < ROUNDS; r++) {
      httpSecs += await httpRound(r * nativePerRound, nativePerRound);
      directSecs += await directRound(r * nativePerRound, nativePerRound);
      spawnSecs += await spawnRound(r * spawnPerRound, spawnPerRound);
    }
    const pairsNative = nativePerRound * ROUNDS;
    const pairsSpawn = spawnPerRound * ROUNDS;

    // every record created above must be gone again
    for (const probe of [`h0.${ZONE}`, `p0.${ZONE}`, `s0.${ZONE}`]) {
      if ((await named.dig(probe, 'A')).length !== 0) fail('cleanup check', `${probe} still has an A record`);
    }

    const rate = (pairs: number, secs: number): number => pairs / secs;
    const base = rate(pairsSpawn, spawnSecs);
    const rows: [string, number, number][] = [
      ['proxy HTTP API (POST+DELETE, conflict check, native RFC 2136/TSIG)', pairsNative, httpSecs],
      ['dns_nsupdate provider called directly (native)', pairsNative, directSecs],
      ['baseline: one nsupdate process per operation (reference method)', pairsSpawn, spawnSecs],
    ];
    console.log(
      `DNS create+delete pairs of A records, concurrency ${CONCURRENCY}, real named (files on ${onTmpfs ? 'tmpfs' : 'disk'}), TSIG hmac-sha256`,
    );
    for (const [label, pairs, secs] of rows) {
      const r = rate(pairs, secs);
      console.log(
        `${label.padEnd(72)} ${String(pairs).padStart(5)} pairs in ${secs.toFixed(2).padStart(6)} s = ${r.toFixed(1).padStart(8)} pairs/s  (${(r / base).toFixed(1)}× baseline)`,
      );
    }
  } finally {
    await proxy.close();
    await named.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
