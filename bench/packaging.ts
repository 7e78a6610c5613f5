// Packaging figures (issue 12): the single executable's size, its start time to ready and idle RSS
// against the bundled build run by Node (`npm run build`: dist/smart-proxy.mjs) and against the
// sources (src/main.ts, type stripping; compile cache warm, and empty as after `npm ci`), all with the demo settings
// (config/demo: tftp with its built-in server, httpboot, facts, logs); and the container image size.
//
// Runs alternate (SEA, dist, source, source cold, SEA, …) so the three share the machine's state; medians.
// BENCH_ROUNDS (default 7); BENCH_IMAGE=0 skips the image.
// Run: npm run bench -- packaging

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, freeTcpPort, freeUdpTcpPort, removeDir, tempDir } from '../test/lib/procs.ts';
import { copyDemo, ROOT } from '../test/packaging/helpers.ts';
import { buildSea, bundle } from '../scripts/build-sea.ts';

const RUNS = Number(process.env.BENCH_ROUNDS ?? 7);
const IDLE_MS = 1000;

/** VmRSS and its anonymous part (the file-backed rest is shared, clean and reclaimable). */
function rssMb(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

async function startOnce(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ readyMs: number; rss: number; anon: number }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SMART_PROXY_PRINT_READY: '1', ...env } });
  let out = '';
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const readyMs = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('{"ready"')) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const { rss, anon } = rssMb(child.pid as number);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { readyMs, rss, anon };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const span = (xs: number[], digits = 0): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const dir = await tempDir('sp-bench-pack');
  try {
    const sea = await buildSea(join(dir, 'sea/smart-proxy'));
    let distEntry = join(dir, 'dist/smart-proxy.mjs');
    try {
      await execFileP(process.execPath, [join(ROOT, 'scripts/build.ts'), join(dir, 'dist')]);
    } catch (err) {
      // scripts/build.ts cannot bundle native addons (ssh2's) yet: use the executable's own chunks
      // from disk, the same code as dist/ but for whitespace.
      console.log(`scripts/build.ts failed (${(err as Error).message.split('\n').find((l) => l.includes('ERROR')) ?? 'see above'}); "dist/" below is the executable's chunks run from disk`);
      const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
      await bundle(join(dir, 'chunks-on-disk'), version);
      distEntry = join(dir, 'chunks-on-disk/chunks/smart-proxy.mjs');
    }
    const nodeBytes = (await stat(await realpath(process.execPath))).size;
    console.log(`executable ${mb(sea.bytes)} (pinned Node binary ${mb(nodeBytes)}, bundled JavaScript ${mb(sea.chunkBytes)} in ${sea.chunks} chunks)`);

    const settings = join(dir, 'settings');
    await copyDemo(settings, await freeTcpPort(), await freeUdpTcpPort());
    let fresh = 0;
    // `npm start` right after `npm ci`: an empty compile cache each run.
    const coldCache = (): NodeJS.ProcessEnv => ({ NODE_COMPILE_CACHE: join(dir, `cold-cache-${fresh++}`) });
    const variants: [string, string, string[], () => NodeJS.ProcessEnv][] = [
      ['executable', sea.executable, ['--settings', settings], () => ({})],
      ['dist/', process.execPath, [distEntry, '--settings', settings], () => ({})],
      ['source', process.execPath, [join(ROOT, 'src/main.ts'), '--settings', settings], () => ({})],
      ['source cold', process.execPath, [join(ROOT, 'src/main.ts'), '--settings', settings], coldCache],
    ];
    const results = new Map(variants.map(([name]) => [name, { ready: [] as number[], rss: [] as number[], anon: [] as number[] }]));
    for (const [, cmd, args, env] of variants) await startOnce(cmd, args, env()); // page cache and compile caches warm
    for (let i = 0; i < RUNS; i++) {
      for (const [name, cmd, args, env] of variants) {
        const r = await startOnce(cmd, args, env());
        results.get(name)?.ready.push(r.readyMs);
        results.get(name)?.rss.push(r.rss);
        results.get(name)?.anon.push(r.anon);
      }
    }
    console.log(`start-up with the demo settings (facts, httpboot, logs, tftp + built-in TFTP server), ${RUNS} runs each, alternating; medians (min–max)`);
    for (const [name, r] of results) console.log(`  ${name.padEnd(11)} time to ready ${span(r.ready)} ms, idle RSS ${span(r.rss, 1)} MB, of which anonymous ${span(r.anon, 1)} MB`);

    if (process.env.BENCH_IMAGE !== '0') {
      const { buildImages } = await import('../scripts/build-images.ts');
      const prefix = `localhost/smart-proxy-bench-${process.pid}`;
      const images = await buildImages(sea.executable, ['provisioning'], prefix);
      for (const image of images) {
        console.log(`image ${image.bundle}: ${(image.bytes / 1e6).toFixed(1)} MB (podman image inspect .Size)`);
        await execFileP('podman', ['rmi', '--force', image.tag]);
      }
    }
  } finally {
    await removeDir(dir);
  }
}

await main();
