// The durable spool end to end, with the proxy as a real process: 1000 reports uploaded while
// (stand-in) Foreman is down, the proxy restarted half way, then Foreman comes back on its port:
// every report arrives, once, in upload order, without any cron job. Also: memory stays bounded
// while the proxy parses a 50 MB ARF report (peak RSS of the proxy process, VmHWM).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'undici';
import { writeSettingsDir } from '../../src/core/testing.ts';
import { startProxyProcess, portOf, type ProxyProcess } from '../lib/proxy-process.ts';
import { makePki, httpsSettings } from '../lib/certs.ts';
import { tempDir, removeDir, requireCommand, freeTcpPort, waitFor } from '../lib/procs.ts';
import { makeArf, bzip2, ruleId } from './arf-fixture.ts';


/** Cleanups run newest first (node:test runs `t.after` hooks in registration order). */
function cleanupStack(t: { after(fn: () => Promise<void>): void }): (fn: () => unknown) => void {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  return (fn) => void stack.push(fn);
}

const TOTAL = 1000;

async function peakRssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 'NaN');
}

test('stand-in Foreman down: 1000 reports, a proxy restart in between, all delivered once and in order', async (t) => {
  const cleanup = cleanupStack(t);
  requireCommand('bzip2');
  const dir = await tempDir('openscap-spool');
  cleanup(() => removeDir(dir));
  const pki = await makePki(dir);
  const hostCert = await pki.client('host1.example.com');
  const agent = new Agent({ connect: { ca: await readFile(pki.caCert), cert: await readFile(hostCert.cert), key: await readFile(hostCert.key) } });
  cleanup(() => agent.close());
  const foremanPort = await freeTcpPort();
  const settings = join(dir, 'settings');
  await writeSettingsDir(
    settings,
    { ...httpsSettings(pki), foreman_url: `http://127.0.0.1:${foremanPort}`, trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'proxy.log'), log_level: 'WARN' },
    {
      openscap: {
        enabled: 'https',
        spooldir: join(dir, 'spool'),
        reportsdir: join(dir, 'reports'),
        corrupted_dir: join(dir, 'corrupted'),
        upload_wait: 0,
        spool_retry_initial: 0.05,
        spool_retry_max: 0.5,
      },
    },
  );
  const reports = await Promise.all(Array.from({ length: TOTAL }, (_, i) => bzip2(makeArf({ rules: 2, marker: `seq${i}` }))));

  let proxy: ProxyProcess | undefined;
  cleanup(async () => {
    await proxy?.stop();
  });
  const upload = async (from: number, to: number): Promise<void> => {
    const origin = `https://127.0.0.1:${portOf(proxy as ProxyProcess, 'https')}`;
    for (let i = from; i < to; i++) {
      const res = await request(`${origin}/compliance/arf/7`, { method: 'POST', dispatcher: agent, body: reports[i] });
      const text = await res.body.text();
      assert.equal(res.statusCode, 202, `upload ${i}: ${text}`);
    }
  };

  proxy = await startProxyProcess(['--settings', settings]);
  const started = Date.now();
  await upload(0, TOTAL / 2);
  assert.equal(await proxy.stop(), 0);
  proxy = await startProxyProcess(['--settings', settings]);
  await upload(TOTAL / 2, TOTAL);

  t.diagnostic(`${TOTAL} uploads (with a restart) took ${Date.now() - started} ms`);
  // Foreman comes back on the same port.
  const received: string[] = [];
  let nextId = 1;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const summary = JSON.parse(Buffer.concat(chunks).toString()) as { logs: { source: string }[] };
      received.push(summary.logs[0]?.source ?? '?');
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: 'ok', id: String(nextId++) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(foremanPort, '127.0.0.1', resolve));
  const back = Date.now();
  cleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await waitFor('all reports delivered', () => received.length >= TOTAL, 60_000);
  t.diagnostic(`delivered ${TOTAL} in ${Date.now() - back} ms once Foreman was back`);
  assert.equal(received.length, TOTAL, 'no report delivered twice');
  assert.deepEqual(
    received,
    Array.from({ length: TOTAL }, (_, i) => ruleId(0, `seq${i}`)),
  );
});

test('memory stays bounded while the proxy parses a 50 MB ARF report (stand-in Foreman)', async (t) => {
  const cleanup = cleanupStack(t);
  requireCommand('bzip2');
  const dir = await tempDir('openscap-mem');
  cleanup(() => removeDir(dir));
  const pki = await makePki(dir);
  const hostCert = await pki.client('host1.example.com');
  const agent = new Agent({ connect: { ca: await readFile(pki.caCert), cert: await readFile(hostCert.cert), key: await readFile(hostCert.key) } });
  cleanup(() => agent.close());
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{"result":"ok","id":"1"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  const settings = join(dir, 'settings');
  await writeSettingsDir(
    settings,
    { ...httpsSettings(pki), foreman_url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, log_file: join(dir, 'proxy.log'), log_level: 'WARN' },
    { openscap: { enabled: 'https', spooldir: join(dir, 'spool'), reportsdir: join(dir, 'reports'), corrupted_dir: join(dir, 'corrupted') } },
  );
  const xml = makeArf({ rules: 500, ovalPaddingBytes: 50 * 1024 * 1024 });
  const compressed = await bzip2(xml);
  const proxy = await startProxyProcess(['--settings', settings]);
  cleanup(async () => {
    await proxy.stop();
  });
  const origin = `https://127.0.0.1:${portOf(proxy, 'https')}`;
  // Warm up the route (first request loads the module's code paths).
  await (await request(`${origin}/compliance/arf/1`, { method: 'POST', dispatcher: agent, body: await bzip2(makeArf({ rules: 2 })) })).body.text();
  const baseline = await peakRssKb(proxy.pid);
  const res = await request(`${origin}/compliance/arf/1`, { method: 'POST', dispatcher: agent, body: compressed });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  const peak = await peakRssKb(proxy.pid);
  const growthMb = (peak - baseline) / 1024;
  t.diagnostic(`ARF ${(xml.length / 1048576).toFixed(1)} MB (${(compressed.length / 1048576).toFixed(2)} MB bzip2'd): proxy peak RSS ${(baseline / 1024).toFixed(0)} MB → ${(peak / 1024).toFixed(0)} MB (+${growthMb.toFixed(1)} MB)`);
  // Generous: a DOM of the document alone would take several times its 50 MB.
  assert.ok(growthMb < 100, `peak RSS grew by ${growthMb.toFixed(1)} MB while parsing`);

  // A hard bound: the same parse in a process whose JavaScript heap is capped at 16 MB succeeds;
  // a whole-document parse (what the reference forks a process for) dies under the same cap.
  const file = join(dir, 'big.arf.bz2');
  await writeFile(file, compressed);
  const streamed = await nodeWithHeapCap(
    `import { parseCompressedArf } from ${JSON.stringify(ARF_MODULE)};
     import { readFileSync } from 'node:fs';
     const s = await parseCompressedArf(readFileSync(${JSON.stringify(file)}), { bzip2: 'bzip2', timeoutMs: 300000 });
     console.log(s.logs.length);`,
  );
  assert.equal(streamed.code, 0, streamed.stderr);
  assert.equal(streamed.stdout.trim(), '357');
  const whole = await nodeWithHeapCap(
    `import { XMLParser } from 'fast-xml-parser';
     import { execFileSync } from 'node:child_process';
     const xml = execFileSync('bzip2', ['-dc', ${JSON.stringify(file)}], { maxBuffer: 1 << 30 }).toString();
     new XMLParser({ ignoreAttributes: false }).parse(xml);
     console.log('parsed');`,
  );
  assert.notEqual(whole.code, 0, 'a whole-document parse should not fit in 16 MB of heap');
  assert.match(whole.stderr, /heap out of memory|Allocation failed/i);
});

const ARF_MODULE = fileURLToPath(new URL('../../src/modules/openscap/arf.ts', import.meta.url));

function nodeWithHeapCap(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=16', '--input-type=module', '-e', source], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString().slice(0, 2000)));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
