// Built-in TFTP server throughput versus tftpd-hpa, same 100 MB file, same clients, same run.
// The built-in server runs inside a real proxy process (src/main.ts with the tftp module and
// `builtin_server: true`); tftpd-hpa runs from Debian's package. Clients: tftp-hpa (512-byte
// blocks, lock-step: the classic PXE pattern) and busybox (blksize 1468). The library client with
// windowsize 16 is reported for the built-in server only, since tftpd-hpa 5.2 lacks RFC 7440.
// Run: npm run bench -- tftp-throughput   (BENCH_RUNS, BENCH_MB to change the defaults)

import { writeFile, mkdir, chmod, rm } from 'node:fs/promises';
import { randomBytes, createHash } from 'node:crypto';
import { join } from 'node:path';
import { tempDir, removeDir, freeUdpTcpPort, stopDaemon, type Daemon } from '../test/lib/procs.ts';
import { startProxyProcess, type ProxyProcess } from '../test/lib/proxy-process.ts';
import { writeSettingsDir } from '../src/core/testing.ts';
import { startTftpdHpa, tftpHpaGet, busyboxGet, sha256File } from '../test/tftp/helpers.ts';
import { tftpGet } from '../src/lib/tftp/client.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE = Number(process.env.BENCH_MB ?? 100) * 1024 * 1024;

type Client = 'tftp-hpa 512' | 'busybox 1468' | 'library 1468 w16';

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const dir = await tempDir('sp-tftpbench');
  let tftpd: Daemon | undefined;
  let proxy: ProxyProcess | undefined;
  try {
    const root = join(dir, 'root');
    const out = join(dir, 'out');
    await mkdir(root, { recursive: true });
    await mkdir(out);
    await chmod(root, 0o755);
    const data = randomBytes(SIZE);
    const sha = createHash('sha256').update(data).digest('hex');
    await writeFile(join(root, 'big.img'), data, { mode: 0o644 });

    const hpaPort = await freeUdpTcpPort();
    const builtinPort = await freeUdpTcpPort();
    const settings = join(dir, 'settings');
    await writeSettingsDir(
      settings,
      { bind_host: ['127.0.0.1'], http_port: 0, log_file: join(dir, 'proxy.log'), log_level: 'WARN' },
      {
        tftp: {
          ':enabled': true,
          ':tftproot': root,
          ':builtin_server': true,
          ':builtin_server_bind': '127.0.0.1',
          ':builtin_server_port': builtinPort,
        },
      },
    );
    proxy = await startProxyProcess(['--settings', settings]);
    tftpd = await startTftpdHpa(root, hpaPort, dir);

    const servers: [string, number][] = [
      ['tftpd-hpa', hpaPort],
      ['built-in', builtinPort],
    ];
    const clients: Client[] = ['tftp-hpa 512', 'busybox 1468', 'library 1468 w16'];
    const results = new Map<string, number[]>();
    const target = join(out, 'big.img');

    for (let run = 0; run < RUNS; run++) {
      for (const client of clients) {
        // Alternate the order each run so neither server always goes first on a warm cache.
        const order = run % 2 === 0 ? servers : [...servers].reverse();
        for (const [server, port] of order) {
          if (client === 'library 1468 w16' && server === 'tftpd-hpa') continue;
          await rm(target, { force: true });
          let hashed = '';
          const secs = await timed(async () => {
            if (client === 'tftp-hpa 512') await tftpHpaGet(port, 'big.img', target, out);
            else if (client === 'busybox 1468') await busyboxGet(port, 'big.img', target, out, 1468);
            else {
              const h = createHash('sha256');
              await tftpGet({ host: '127.0.0.1', port, filename: 'big.img', blksize: 1468, windowsize: 16, retransmitMs: 2000, sink: (c) => h.update(c) });
              hashed = h.digest('hex');
            }
          });
          if (!hashed) hashed = await sha256File(target);
          if (hashed !== sha) throw new Error(`${server} via ${client}: file differs`);
          const key = `${client}|${server}`;
          results.set(key, [...(results.get(key) ?? []), secs]);
        }
      }
    }

    const mb = SIZE / (1024 * 1024);
    console.log(`TFTP read of a ${mb} MB file over loopback, ${RUNS} runs each, median (byte-identical every time)`);
    console.log('client              server      seconds   MB/s    vs tftpd-hpa');
    for (const client of clients) {
      const base = results.get(`${client}|tftpd-hpa`);
      for (const [server] of servers) {
        const xs = results.get(`${client}|${server}`);
        if (!xs) continue;
        const s = median(xs);
        const ratio = base ? `${((median(base) / s) * 100).toFixed(0)}%` : 'n/a (tftpd-hpa lacks windowsize)';
        console.log(`${client.padEnd(20)}${server.padEnd(12)}${s.toFixed(2).padStart(7)}${(mb / s).toFixed(1).padStart(8)}    ${server === 'tftpd-hpa' ? 'baseline' : ratio}`);
      }
    }
    console.log('target: built-in >= 50% of tftpd-hpa');
  } finally {
    await stopDaemon(tftpd);
    await proxy?.stop();
    await removeDir(dir);
  }
}

await main();
