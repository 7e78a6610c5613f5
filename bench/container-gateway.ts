// 1000 concurrent manifest requests of a private repository through the container gateway (the
// proxy as its own process, a user's registry token, the pull decision in its database, Pulp's
// registry being docker-registry behind HAProxy's /pulpcore_registry rewrite) against the same
// 1000 straight to docker-registry, in the same run. Every answer is checked (status 200 and the
// manifest's digest); the figure is the gateway's overhead as a ratio of wall time and latency.
// Run: npm run bench -- container-gateway   (BENCH_REQUESTS, BENCH_ROUNDS, BENCH_STORE=postgres)

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { writeSettingsDir } from '../src/core/testing.ts';
import { startProxyProcess, portOf } from '../test/lib/proxy-process.ts';
import { removeDir, tempDir } from '../test/lib/procs.ts';
import { startKatelloStandIn } from '../test/lib/katello-standin.ts';
import { makeOciImage, pushImage, startPulpRegistryStandIn, startRegistry } from '../test/lib/registry.ts';
import { startPostgres, type PostgresCluster } from '../test/lib/postgres.ts';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const NAME = 'org/prod/fedora';
const OCI = 'application/vnd.oci.image.manifest.v1+json';

interface Round {
  wallMs: number;
  latencies: number[];
  errors: string[];
}

async function round(agent: Agent, url: string, headers: Record<string, string>, digest: string): Promise<Round> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: REQUESTS }, async () => {
      const s = performance.now();
      try {
        const res = await request(url, { dispatcher: agent, headers: { ...headers, accept: OCI } });
        const body = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${body.slice(0, 120)}`);
        if (`sha256:${createHash('sha256').update(body).digest('hex')}` !== digest) throw new Error('digest mismatch');
        latencies.push(performance.now() - s);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }),
  );
  return { wallMs: performance.now() - t0, latencies, errors };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : Number.NaN;
};
const median = (xs: number[]): number => pct(xs, 50);

async function main(): Promise<void> {
  const dir = await tempDir('bench-cg');
  const stops: (() => Promise<unknown>)[] = [];
  let pgCluster: PostgresCluster | undefined;
  try {
    const registry = await startRegistry(dir);
    stops.push(registry.stop);
    const pulp = await startPulpRegistryStandIn(dir, registry.port);
    stops.push(pulp.stop);
    const image = await makeOciImage(dir, 'fedora', { 'etc/os-release': 'NAME=bench\n' });
    await pushImage(image, registry.port, NAME);
    const katello = await startKatelloStandIn({ users: { jdoe: { password: 'secret', repositories: [NAME] } } });
    stops.push(katello.close);

    let database: Record<string, unknown> = { sqlite_db_path: join(dir, 'gateway.db') };
    if (process.env.BENCH_STORE === 'postgres') {
      pgCluster = await startPostgres();
      database = { db_connection_string: await pgCluster.createDatabase() };
    }
    const settingsDir = join(dir, 'settings');
    await writeSettingsDir(
      settingsDir,
      {
        bind_host: ['127.0.0.1'],
        http_port: 0,
        log_file: join(dir, 'proxy.log'),
        log_level: 'WARN',
        foreman_url: katello.url,
        limits: { max_connections: REQUESTS * 2 + 100, max_connections_per_peer: REQUESTS + 50 },
      },
      { container_gateway: { enabled: true, pulp_endpoint: `http://127.0.0.1:${pulp.port}`, upstream_connections: 128, ...database } },
    );
    const proxy = await startProxyProcess(['--settings', settingsDir]);
    stops.push(() => proxy.stop());
    const gateway = `http://127.0.0.1:${portOf(proxy, 'http')}/container_gateway`;

    const agent = new Agent({ connections: REQUESTS, pipelining: 1 });
    stops.push(() => agent.close());
    const put = await request(`${gateway}/repository_list`, {
      method: 'PUT',
      dispatcher: agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `repositories[][repository]=${encodeURIComponent(NAME)}&repositories[][auth_required]=true`,
    });
    await put.body.text();
    if (put.statusCode !== 200) throw new Error(`repository_list: ${put.statusCode}`);
    const tok = await request(`${gateway}/v2/token?account=jdoe&scope=repository:${NAME}:pull`, {
      dispatcher: agent,
      headers: { authorization: `Basic ${Buffer.from('jdoe:secret').toString('base64')}` },
    });
    const token = (JSON.parse(await tok.body.text()) as { token: string }).token;

    const targets: { label: string; url: string; headers: Record<string, string> }[] = [
      { label: 'docker-registry directly', url: `http://127.0.0.1:${registry.port}/v2/${NAME}/manifests/latest`, headers: {} },
      { label: 'HAProxy Pulp stand-in', url: `http://127.0.0.1:${pulp.port}/pulpcore_registry/v2/${NAME}/manifests/latest`, headers: {} },
      { label: 'container gateway', url: `${gateway}/v2/${NAME}/manifests/latest`, headers: { authorization: `Bearer ${token}` } },
    ];
    // Warm-up: connections opened, caches and JIT warm, on every path.
    for (const t of targets) await round(agent, t.url, t.headers, image.manifestDigest);
    const results = new Map<string, Round[]>();
    // Interleaved, so that machine noise hits every target alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) {
        const list = results.get(t.label) ?? [];
        list.push(await round(agent, t.url, t.headers, image.manifestDigest));
        results.set(t.label, list);
      }
    }
    const direct = results.get(targets[0].label) as Round[];
    const baseWall = median(direct.map((r) => r.wallMs));
    const baseP50 = median(direct.flatMap((r) => r.latencies));
    console.log(`\n${REQUESTS} concurrent GET manifest (OCI, ${image.manifestDigest.slice(0, 19)}…), ${ROUNDS} rounds each, store: ${process.env.BENCH_STORE === 'postgres' ? 'postgres' : 'sqlite'}`);
    console.log('| target | requests | errors | round wall (median) | p50 | p99 | max | wall ratio | p50 ratio |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    let totalErrors = 0;
    for (const t of targets) {
      const rs = results.get(t.label) as Round[];
      const lat = rs.flatMap((r) => r.latencies);
      const errors = rs.flatMap((r) => r.errors);
      totalErrors += errors.length;
      const wall = median(rs.map((r) => r.wallMs));
      console.log(
        `| ${t.label} | ${REQUESTS * ROUNDS} | ${errors.length} | ${wall.toFixed(0)} ms | ${pct(lat, 50).toFixed(1)} ms | ${pct(lat, 99).toFixed(1)} ms | ${pct(lat, 100).toFixed(1)} ms | ${(wall / baseWall).toFixed(2)} | ${(pct(lat, 50) / baseP50).toFixed(2)} |`,
      );
      if (errors.length) console.log(`  first errors of ${t.label}: ${[...new Set(errors)].slice(0, 3).join('; ')}`);
    }
    if (totalErrors > 0) process.exitCode = 1;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await pgCluster?.stop();
    await removeDir(dir);
  }
}

await main();
