// Autosign edits and listing through the proxy (puppetca_hostname_whitelisting: locked, atomic,
// fsync'd rewrite of autosign.conf per request), against a bare node:http server in the same run
// that appends to a file without lock, rename or fsync, and serves the same list from readFile.
// The gap is the price of never losing an entry and never exposing a half-written file.
// Run: npm run bench -- puppetca-autosign   (BENCH_SECONDS per phase, default 5)

import { createServer, type Server } from 'node:http';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy } from '../src/core/testing.ts';
import { listEntries } from '../src/lib/puppet/autosign-conf.ts';
import { removeDir, tempDir } from '../test/lib/procs.ts';

// The package ships no type declarations: load it untyped and describe the part used here.
interface LoadResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  '2xx': number;
}
const autocannonModule = 'autocannon';
const autocannon = ((await import(autocannonModule)) as { default: (opts: Record<string, unknown>) => Promise<LoadResult> }).default;

const DURATION = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;

async function run(url: string, method: 'GET' | 'POST', unique: boolean): Promise<LoadResult> {
  let n = 0;
  const path = new URL(url).pathname;
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    method,
    headers: { accept: 'application/json', 'content-length': '0' },
    requests: unique
      ? [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: `${path}/h${n++}.bench.example` }) }]
      : undefined,
  });
}

function line(name: string, r: LoadResult): string {
  const non2xx = r.non2xx + r.errors;
  return `${name.padEnd(44)} ${r.requests.average.toFixed(0).padStart(7)} req/s   p50 ${String(r.latency.p50).padStart(4)} ms   p99 ${String(r.latency.p99).padStart(4)} ms${non2xx ? `   ${non2xx} failed` : ''}`;
}

function bareServer(file: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void (async () => {
      if (req.method === 'POST') {
        await appendFile(file, `${decodeURIComponent((req.url ?? '').split('/').pop() ?? '')}\n`);
        res.writeHead(200, { 'content-type': 'application/json' }).end();
      } else {
        const body = JSON.stringify(listEntries(await readFile(file, 'utf8')));
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
    })();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    });
  });
}

async function main(): Promise<void> {
  const dir = await tempDir('bench-puppetca');
  try {
    const proxyFile = join(dir, 'autosign.conf');
    const bareFile = join(dir, 'bare.conf');
    await writeFile(bareFile, '');
    const unusedCa = join(dir, 'unused-ca.pem');
    await writeFile(unusedCa, '');
    const proxy = await startTestProxy({
      global: { log_level: 'ERROR' },
      files: {
        puppetca: { enabled: true },
        puppetca_hostname_whitelisting: { autosignfile: proxyFile },
        // Never contacted by these routes; the module only needs a configured CA client.
        puppetca_http_api: { puppet_url: 'https://127.0.0.1:9', puppet_ssl_ca: unusedCa },
      },
    });
    const bare = await bareServer(bareFile);
    try {
      console.log(`${CONNECTIONS} connections, ${DURATION} s per phase`);
      const baseAdd = await run(`${bare.url}/puppet/ca/autosign`, 'POST', true);
      console.log(line('baseline: bare append, no lock/rename/fsync', baseAdd));
      const add = await run(`${proxy.baseUrl}/puppet/ca/autosign`, 'POST', true);
      console.log(line('proxy: POST /puppet/ca/autosign/<new name>', add));
      const entries = listEntries(await readFile(proxyFile, 'utf8')).length;
      // Requests still in flight when the phase ends may add entries nobody counted; fewer would be a loss.
      console.log(`  autosign.conf holds ${entries} entries for ${add['2xx']} answered adds${entries >= add['2xx'] ? ' (none lost)' : ' (ENTRIES LOST)'}`);

      // Same list size for both listings.
      const names = listEntries(await readFile(proxyFile, 'utf8'));
      await writeFile(bareFile, `${names.join('\n')}\n`);
      const baseList = await run(`${bare.url}/puppet/ca/autosign`, 'GET', false);
      console.log(line(`baseline: GET list (${names.length} entries)`, baseList));
      const list = await run(`${proxy.baseUrl}/puppet/ca/autosign`, 'GET', false);
      console.log(line(`proxy: GET /puppet/ca/autosign (${names.length} entries)`, list));
    } finally {
      await new Promise((r) => bare.server.close(r));
      await proxy.close();
    }
  } finally {
    await removeDir(dir);
  }
}

await main();
