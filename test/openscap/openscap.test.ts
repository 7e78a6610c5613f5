// The openscap module over real HTTPS with client certificates, a stand-in Foreman, the real
// bzip2 and oscap tools. Each known problem of spec plugins.md §2.6 (and the 200-on-error quirk)
// has a test here that the reference's behaviour fails.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { makePki, httpsSettings, type Pki } from '../lib/certs.ts';
import { tempDir, removeDir, requireCommand, freeTcpPort, waitFor } from '../lib/procs.ts';
import { startStandInForeman, type StandInForeman } from '../lib/standin-foreman.ts';
import { makeArf, bzip2, ruleId } from './arf-fixture.ts';
import { scanWithOscap } from './scan-content.ts';

let dir: string;
let pki: Pki;
let foreman: StandInForeman;
let proxy: TestProxy;
let origin: string;
const agents: Agent[] = [];
let foremanReply: { status: number; body: string } = { status: 201, body: '{"result":"ok","id":"42"}' };

async function client(cn: string): Promise<Agent> {
  const c = await pki.client(cn);
  const agent = new Agent({ connect: { ca: await readFile(pki.caCert), cert: await readFile(c.cert), key: await readFile(c.key) } });
  agents.push(agent);
  return agent;
}

let host1: Agent;
let host2: Agent;
let foremanAgent: Agent;

async function call(agent: Agent, method: 'GET' | 'POST' | 'DELETE', path: string, body?: Buffer | string) {
  const res = await request(`${origin}${path}`, { method, dispatcher: agent, body, headers: body ? { 'content-type': 'text/xml', 'content-encoding': 'x-bzip2' } : {} });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, type: String(res.headers['content-type'] ?? ''), body: buf.toString(), raw: buf };
}

before(async () => {
  requireCommand('bzip2');
  requireCommand('oscap');
  dir = await tempDir('openscap');
  pki = await makePki(dir);
  foreman = await startStandInForeman((req) => {
    if (req.path.startsWith('/api/v2/compliance/arf_reports/')) return { ...foremanReply, headers: { 'content-type': 'application/json' } };
    if (req.path === '/api/v2/compliance/policies/3/content') return { status: 200, body: '<ds:data-stream-collection xmlns:ds="x"/>' };
    return { status: 404, body: 'not found' };
  });
  proxy = await startTestProxy({
    global: { ...httpsSettings(pki), foreman_url: foreman.origin, trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'proxy.log') },
    files: {
      openscap: {
        enabled: 'https',
        spooldir: join(dir, 'spool'),
        reportsdir: join(dir, 'reports'),
        failed_dir: join(dir, 'failed'),
        corrupted_dir: join(dir, 'corrupted'),
        contentdir: join(dir, 'content'),
        tailoring_dir: join(dir, 'tailoring'),
        registered_proxy_name: 'proxy-behind-lb',
        upload_wait: 5,
        spool_retry_initial: 0.05,
        spool_retry_max: 0.2,
      },
    },
  });
  const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
  origin = `https://127.0.0.1:${https?.addresses[0]?.port}`;
  host1 = await client('host1.example.com');
  host2 = await client('host2.example.com');
  foremanAgent = await client('foreman.example.com');
});

after(async () => {
  await proxy?.close();
  await foreman?.close();
  for (const a of agents) await a.close();
  await removeDir(dir);
});

test('stand-in Foreman: an upload is parsed, forwarded with the proxy identity and stored under Foreman id', async () => {
  foremanReply = { status: 201, body: '{"result":"ok","id":"42"}' };
  const before = foreman.requests.length;
  const arf = await bzip2(makeArf({ rules: 7, marker: 'upload' }));
  const res = await call(host1, 'POST', '/compliance/arf/5', arf);
  assert.equal(res.status, 200, res.body);
  assert.deepEqual(JSON.parse(res.body), { result: 'ok', id: '42' });
  const sent = foreman.requests.slice(before).find((r) => r.path.startsWith('/api/v2/compliance/arf_reports/'));
  assert.ok(sent);
  assert.match(sent.path, /^\/api\/v2\/compliance\/arf_reports\/host1\.example\.com\/5\/\d+$/);
  assert.equal(sent.headers.accept, 'application/json,version=2');
  const summary = JSON.parse(sent.body.toString()) as { logs: { source: string }[]; metrics: unknown; digest: string; openscap_proxy_name: string };
  assert.equal(summary.logs[0]?.source, ruleId(0, 'upload'));
  assert.deepEqual(summary.metrics, { passed: 2, failed: 1, othered: 2 });
  // Identifying the source proxy behind a load balancer (foreman_openscap PR 345).
  assert.equal(summary.openscap_proxy_name, 'proxy-behind-lb');
  const date = sent.path.split('/').pop() as string;
  const reportPath = `/compliance/arf/42/host1.example.com/${date}/${summary.digest}`;

  const own = await call(host1, 'GET', `${reportPath}/xml`);
  assert.equal(own.status, 200);
  assert.equal(own.type, 'application/x-bzip2');
  assert.ok(own.raw.equals(arf));
  const html = await call(foremanAgent, 'GET', `${reportPath}/html`);
  assert.equal(html.status, 200);
  assert.match(html.type, /^text\/html/);
  assert.match(html.body, /<!DOCTYPE html>/);

  // Known problem (spec §2.2 QUIRK, issue 32257's leftover): the reference lets any host with a
  // certificate read or delete any report.
  assert.equal((await call(host2, 'GET', `${reportPath}/xml`)).status, 403);
  assert.equal((await call(host2, 'GET', `${reportPath}/html`)).status, 403);
  assert.equal((await call(host2, 'DELETE', reportPath)).status, 403);
  assert.equal((await call(host1, 'DELETE', reportPath)).status, 403);
  const del = await call(foremanAgent, 'DELETE', reportPath);
  assert.equal(del.status, 200);
  assert.deepEqual(JSON.parse(del.body), { id: '42', deleted: true });
  assert.equal((await call(foremanAgent, 'GET', `${reportPath}/xml`)).status, 404);
});

test('stand-in Foreman: a real ARF from an oscap scan of this machine is summarised as oscap judged it', async () => {
  const scanDir = join(dir, 'scan');
  await (await import('node:fs/promises')).mkdir(scanDir);
  const scan = await scanWithOscap(requireCommand('oscap'), scanDir);
  assert.deepEqual(
    [...scan.printed],
    [
      ['xccdf_org.example_rule_limit', 'pass'],
      ['xccdf_org.example_rule_mode', 'fail'],
    ],
  );
  foremanReply = { status: 201, body: '{"result":"ok","id":"77"}' };
  const before = foreman.requests.length;
  const arf = await bzip2(scan.arf);
  const res = await call(host1, 'POST', '/compliance/arf/9', arf);
  assert.equal(res.status, 200, res.body);
  const sent = foreman.requests.slice(before).find((r) => r.path.includes('/arf_reports/host1.example.com/9/'));
  const summary = JSON.parse(sent?.body.toString() ?? '{}') as {
    metrics: unknown;
    logs: { source: string; result: string; title: string; severity: string; references: unknown[]; fixes: { full_text: string }[] }[];
  };
  assert.deepEqual(summary.metrics, { passed: 1, failed: 1, othered: 0 });
  assert.deepEqual(
    summary.logs.map((l) => [l.source, l.result]),
    [...scan.printed],
  );
  const [limit, mode] = summary.logs;
  assert.equal(limit?.title, 'Limit is 42');
  assert.equal(limit?.severity, 'high');
  assert.deepEqual(limit?.references, [{ href: 'https://example.com/limit', title: 'EX-1' }]);
  assert.equal(mode?.fixes[0]?.full_text, `sed -i s/^mode=.*/mode=lax/ ${join(scanDir, 'config')}`);
  const date = sent?.path.split('/').pop() ?? '';
  const digest = (await import('node:crypto')).createHash('sha256').update(arf).digest('hex');
  const html = await call(foremanAgent, 'GET', `/compliance/arf/77/host1.example.com/${date}/${digest}/html`);
  assert.equal(html.status, 200);
  assert.match(html.body, /xccdf_org\.example_rule_mode/);

  // The same content through Foreman's guide and profile calls.
  const content = await readFile(join(scanDir, 'xccdf.xml'));
  const guide = await call(foremanAgent, 'POST', '/compliance/scap_content/guide', content);
  assert.equal(guide.status, 200, guide.body);
  assert.match((JSON.parse(guide.body) as { html: string }).html, /Limit is 42/);
  const valid = await call(foremanAgent, 'POST', '/compliance/scap_file/validator/scap_content', content);
  assert.deepEqual(JSON.parse(valid.body), { errors: [] });
});

test('stand-in Foreman: failures have their own status, not 200 (the reference answers 200 with a result text)', async () => {
  const notBzip = await call(host1, 'POST', '/compliance/arf/5', Buffer.from('plain text'));
  assert.equal(notBzip.status, 400);
  assert.match(notBzip.body, /^Failed to decompress received report bzip, cause: /);

  const corrupted = await call(host1, 'POST', '/compliance/arf/5', await bzip2('<arf><unclosed></arf>'));
  assert.equal(corrupted.status, 422);
  assert.match(corrupted.body, /Failed to parse Arf Report .*moving to .*corrupted on proxy/);
  const errors = await call(foremanAgent, 'GET', '/compliance/spool_errors');
  assert.deepEqual(JSON.parse(errors.body), { errors_count: 1 });

  foremanReply = { status: 422, body: '{"result":"fail","errors":"Policy not found"}' };
  const rejected = await call(host1, 'POST', '/compliance/arf/99', await bzip2(makeArf({ rules: 2 })));
  assert.equal(rejected.status, 422);
  assert.match(rejected.body, /Policy not found/);
  foremanReply = { status: 201, body: '{"result":"ok","id":"43"}' };

  assert.equal((await call(host1, 'POST', '/compliance/arf/abc', await bzip2(makeArf()))).status, 400);
});

test('the module is announced in /v2/features as the plugin does', async () => {
  const res = await call(foremanAgent, 'GET', '/v2/features');
  const features = JSON.parse(res.body) as Record<string, { state: string; settings: unknown; capabilities: unknown; https_enabled: boolean }>;
  assert.equal(features.openscap?.state, 'running');
  assert.deepEqual(features.openscap?.settings, {});
  assert.deepEqual(features.openscap?.capabilities, []);
  assert.equal(features.openscap?.https_enabled, true);
});

test('stand-in Foreman: hosts cannot call Foreman-only routes (issue 32257)', async () => {
  assert.equal((await call(host1, 'GET', '/compliance/spool_errors')).status, 403);
  assert.equal((await call(host1, 'POST', '/compliance/scap_content/policies', '<x/>')).status, 403);
  const profiles = await call(foremanAgent, 'POST', '/compliance/scap_content/policies', makeArf());
  assert.equal(profiles.status, 200);
  assert.deepEqual(JSON.parse(profiles.body), { 'xccdf_org.example_profile_test': 'Test profile' });
});

test('stand-in Foreman: content is fetched once from Foreman and cached; a wrong policy gets Foreman status', async () => {
  const before = foreman.requests.length;
  const first = await call(host1, 'GET', '/compliance/policies/3/content/abc123');
  assert.equal(first.status, 200);
  assert.equal(first.type, 'application/xml');
  const second = await call(host2, 'GET', '/compliance/policies/3/content/abc123');
  assert.equal(second.body, first.body);
  assert.equal(foreman.requests.slice(before).filter((r) => r.path.endsWith('/content')).length, 1);
  const missing = await call(host1, 'GET', '/compliance/policies/4/tailoring/abc');
  assert.equal(missing.status, 404);
  assert.equal(missing.body, 'File not found on Foreman. Wrong policy id?');
});

test('stand-in Foreman down: the host gets 202, its spooled report can already be viewed (issue 38224), the reference\'s spool files are adopted', async () => {
  const port = await freeTcpPort();
  // A report the reference's proxy left in its spool (its cron script would have sent it).
  const legacy = join(dir, 'down-spool', 'arf', 'host3.example.com', '5', '1700000000');
  const { mkdir, writeFile } = await import('node:fs/promises');
  await mkdir(legacy, { recursive: true });
  await writeFile(join(legacy, 'left-by-the-ruby-proxy'), await bzip2(makeArf({ rules: 1 })));
  // A second proxy whose Foreman is a closed port.
  const down = await startTestProxy({
    global: { ...httpsSettings(pki), foreman_url: `http://127.0.0.1:${port}`, trusted_hosts: ['foreman.example.com'], log_file: join(dir, 'down.log') },
    files: {
      openscap: { enabled: 'https', spooldir: join(dir, 'down-spool'), reportsdir: join(dir, 'down-reports'), corrupted_dir: join(dir, 'down-corrupted'), spool_retry_initial: 0.05, spool_retry_max: 0.2, upload_wait: 1 },
    },
  });
  try {
    const https = down.proxy.listeners.find((l) => l.spec.scheme === 'https');
    const downOrigin = `https://127.0.0.1:${https?.addresses[0]?.port}`;
    const arf = await bzip2(makeArf({ rules: 3 }));
    const res = await request(`${downOrigin}/compliance/arf/5`, { method: 'POST', dispatcher: host1, body: arf });
    assert.equal(res.statusCode, 202);
    await res.body.dump();
    let stats = { pending: 0, lastError: '' };
    // The reference's file is adopted in the background at start-up.
    await waitFor('the legacy report adopted', async () => {
      const state = await request(`${downOrigin}/compliance/spool`, { dispatcher: foremanAgent });
      stats = (await state.body.json()) as typeof stats;
      return stats.pending === 2;
    });
    assert.match(stats.lastError, /connect/);
    // Foreman may have stored the report although the proxy did not hear its answer: it can ask
    // for it by any id while it is still spooled.
    const { createHash } = await import('node:crypto');
    const digest = createHash('sha256').update(arf).digest('hex');
    const files = await (await import('node:fs/promises')).readdir(join(dir, 'down-spool', 'arf', 'host1.example.com', '5'));
    const view = await request(`${downOrigin}/compliance/arf/7/host1.example.com/${files[0]}/${digest}/xml`, { dispatcher: foremanAgent });
    assert.equal(view.statusCode, 200);
    assert.ok(Buffer.from(await view.body.arrayBuffer()).equals(arf));
  } finally {
    await down.close();
  }
});
