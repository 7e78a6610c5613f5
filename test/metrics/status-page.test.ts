// The status page in a real headless browser (Debian chromium driven by puppeteer-core): a proxy
// with two listeners (the control plane and an operations listener serving only the metrics
// module), a module that failed, and a request refused by trusted_hosts (an ERROR in the log
// buffer). The page must show the modules with their states, the failure message, both listeners
// and the error; a screenshot of it is decoded and its badges' colours checked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { tempDir, removeDir, freeTcpPort, requireCommand, alive } from '../lib/procs.ts';
import { decodePng } from './png.ts';

let dir: string;
let proxy: TestProxy;
let browser: Browser | undefined;
let browserPid: number | undefined;
let page: Page;
let opsPort: number;
let controlPort: number;

before(async () => {
  const chromium = requireCommand('chromium'); // Debian's /usr/bin/chromium
  dir = await tempDir('metrics-status');
  controlPort = await freeTcpPort();
  opsPort = await freeTcpPort();
  proxy = await startTestProxy({
    global: {
      // Nobody is trusted: 127.0.0.1 (localhost) is refused everywhere but on the status page.
      trusted_hosts: ['foreman.example.com'],
      listeners: [
        { name: 'control', scheme: 'http', bind: ['127.0.0.1'], port: controlPort, audience: 'foreman', modules: ['logs', 'dns'] },
        { name: 'ops', scheme: 'http', bind: ['127.0.0.1'], port: opsPort, audience: 'foreman', modules: ['metrics'] },
      ],
    },
    files: {
      metrics: { ':enabled': true, ':status_addresses': ['127.0.0.1'], ':status_refresh': 0 },
      dns: { ':enabled': true, ':use_provider': 'dns_nowhere' },
    },
  });
  browser = await puppeteer.launch({ executablePath: chromium, args: ['--no-sandbox', '--headless=new'] });
  browserPid = browser.process()?.pid;
  page = await browser.newPage();
  await page.setViewport({ width: 1100, height: 800, deviceScaleFactor: 1 });
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    // A browser that did not close in time is stopped by its PID.
    if (browserPid !== undefined && alive(browserPid)) process.kill(browserPid, 'SIGKILL');
    await proxy?.close();
    if (dir) await removeDir(dir);
  }
});

test('the status page shows modules and states, the failure, the listeners, a recent error and request counts', async () => {
  // A request refused by trusted_hosts: an ERROR line in the log buffer, and a counted 403.
  const refused = await fetch(`http://127.0.0.1:${controlPort}/logs`);
  assert.equal(refused.status, 403);
  await refused.arrayBuffer();

  const response = await page.goto(`http://127.0.0.1:${opsPort}/status`, { waitUntil: 'load' });
  assert.equal(response?.status(), 200);
  assert.equal(await page.title(), 'Smart Proxy status');

  const state = (name: string) => page.$eval(`#modules tr[data-module="${name}"]`, (tr) => tr.getAttribute('data-state'));
  assert.equal(await state('logs'), 'running');
  assert.equal(await state('metrics'), 'running');
  assert.equal(await state('dns'), 'failed');
  assert.equal(await state('dhcp'), 'disabled');
  const failure = await page.$eval('#modules tr[data-module="dns"] td.failure', (td) => td.textContent ?? '');
  assert.match(failure, /following providers are not available \['dns_nowhere'\]/);

  const listeners = await page.$$eval('#listeners tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(listeners, [
    ['control', 'http', 'foreman', `127.0.0.1:${controlPort}`, 'logs'],
    ['ops', 'http', 'foreman', `127.0.0.1:${opsPort}`, 'metrics'],
  ]);

  const errors = await page.$$eval('#errors tbody tr.error td:nth-child(3)', (tds) => tds.map((td) => td.textContent ?? ''));
  assert.ok(
    errors.some((e) => e.startsWith('Untrusted client localhost attempted to access')),
    `the refused request is among the recent errors: ${JSON.stringify(errors)}`,
  );

  const logsRequests = await page.$eval('#requests tr[data-requests="logs"] td:nth-child(2)', (td) => td.textContent);
  assert.equal(logsRequests, '1');

  // The page loads nothing else (no script, no external style): the CSP forbids it anyway.
  assert.equal(await page.$$eval('script, link[rel="stylesheet"], img', (els) => els.length), 0);
});

test('a screenshot of the page decodes to the viewport size, is not blank, and shows the state badges in their colours', async () => {
  await page.goto(`http://127.0.0.1:${opsPort}/status`, { waitUntil: 'load' });
  const shot = decodePng(Buffer.from(await page.screenshot({ type: 'png' })));
  assert.equal(shot.width, 1100);
  assert.equal(shot.height, 800);
  const colours = new Set<string>();
  for (let y = 0; y < shot.height; y += 7) for (let x = 0; x < shot.width; x += 7) colours.add(shot.pixel(x, y).join(','));
  assert.ok(colours.size > 20, `a rendered page has many colours, got ${colours.size}`);
  // The header bar is dark, the body light.
  assert.deepEqual(shot.pixel(5, 5), [0x24, 0x29, 0x2f]);

  const badge = async (module: string): Promise<[number, number, number]> => {
    const el = await page.$(`#modules tr[data-module="${module}"] .badge`);
    assert.ok(el, `badge of ${module}`);
    const png = decodePng(Buffer.from(await el.screenshot({ type: 'png' })));
    // Left of the text, vertically centred: inside the rounded badge, off its corners and glyphs.
    return png.pixel(6, Math.floor(png.height / 2));
  };
  assert.deepEqual(await badge('dns'), [0xcf, 0x22, 0x2e]);
  assert.deepEqual(await badge('logs'), [0x1a, 0x7f, 0x37]);
  assert.deepEqual(await badge('dhcp'), [0x6e, 0x77, 0x81]);
});

test('/status.json on the operations listener carries the same facts', async () => {
  const res = await fetch(`http://127.0.0.1:${opsPort}/status.json`);
  assert.equal(res.status, 200);
  const data = (await res.json()) as { modules: { name: string; state: string; failure: string | null }[]; listeners: { name: string }[] };
  assert.equal(data.modules.find((m) => m.name === 'dns')?.state, 'failed');
  assert.deepEqual(
    data.listeners.map((l) => l.name),
    ['control', 'ops'],
  );
  // /metrics is not opened by status_addresses: trusted_hosts applies (localhost is not trusted).
  const scrape = await fetch(`http://127.0.0.1:${opsPort}/metrics`);
  assert.equal(scrape.status, 403);
  await scrape.arrayBuffer();
});
