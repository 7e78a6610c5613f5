// The reports module over real HTTPS (trusted_hosts + client certificate) with a stand-in Foreman
// that fails first: reports are retried until delivered, in order (facts before their report),
// where the reference filed a report Foreman answered 5xx under done/ and never sent it again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile, readdir } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { startTestProxy } from '../../src/core/testing.ts';
import { makePki, httpsSettings } from '../lib/certs.ts';
import { tempDir, removeDir, waitFor } from '../lib/procs.ts';
import { startStandInForeman } from '../lib/standin-foreman.ts';
import { ANSIBLE_REPORT, PUPPET_REPORT } from './fixtures.ts';


/** Cleanups run newest first (node:test runs `t.after` hooks in registration order). */
function cleanupStack(t: { after(fn: () => Promise<void>): void }): (fn: () => unknown) => void {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  return (fn) => void stack.push(fn);
}

test('stand-in Foreman failing at first: host reports are retried and delivered in order; refused ones are kept apart', async (t) => {
  const cleanup = cleanupStack(t);
  const dir = await tempDir('reports');
  cleanup(() => removeDir(dir));
  const pki = await makePki(dir);
  let failures = 2;
  const foreman = await startStandInForeman((req) => {
    const body = JSON.parse(req.body.toString()) as { host_report?: { host: string } };
    if (body.host_report?.host === 'unknown.example.com') return { status: 422, body: '{"error":"Host not found"}' };
    if (failures > 0) {
      failures--;
      return { status: 503, body: 'maintenance' };
    }
    return { status: 201, body: '{}' };
    // Foreman over TLS, requiring a client certificate: the proxy presents its own.
  }, { cert: pki.serverCert, key: pki.serverKey, clientCa: pki.caCert });
  cleanup(() => foreman.close());
  const proxyCert = await pki.client('proxy.example.com');
  const proxy = await startTestProxy({
    global: {
      ...httpsSettings(pki),
      foreman_url: foreman.origin,
      foreman_ssl_ca: pki.caCert,
      foreman_ssl_cert: proxyCert.cert,
      foreman_ssl_key: proxyCert.key,
      trusted_hosts: ['puppet.example.com'],
      log_file: join(dir, 'proxy.log'),
    },
    files: { reports: { enabled: 'https', spool_dir: join(dir, 'spool'), reported_proxy_hostname: 'proxy.example.com', spool_retry_initial: 0.05, spool_retry_max: 0.2 } },
  });
  cleanup(() => proxy.close());
  const origin = `https://127.0.0.1:${proxy.proxy.listeners.find((l) => l.spec.scheme === 'https')?.addresses[0]?.port}`;
  const agentFor = async (cn: string): Promise<Agent> => {
    const c = await pki.client(cn);
    const agent = new Agent({ connect: { ca: await readFile(pki.caCert), cert: await readFile(c.cert), key: await readFile(c.key) } });
    cleanup(() => agent.close());
    return agent;
  };
  const trusted = await agentFor('puppet.example.com');
  const stranger = await agentFor('host9.example.com');
  const post = async (agent: Agent, path: string, type: string, body: string) => {
    const res = await request(`${origin}${path}`, { method: 'POST', dispatcher: agent, body, headers: { 'content-type': type } });
    return { status: res.statusCode, body: await res.body.text() };
  };

  assert.equal((await post(stranger, '/reports/ansible', 'application/json', ANSIBLE_REPORT)).status, 403);
  assert.equal((await post(trusted, '/reports/ansible', 'application/json', ANSIBLE_REPORT)).status, 202);
  assert.equal((await post(trusted, '/host_reports/puppet', 'application/x-yaml; charset=utf-8', PUPPET_REPORT)).status, 202);
  const unknown = PUPPET_REPORT.replace('host: web1.example.com', 'host: unknown.example.com');
  assert.equal((await post(trusted, '/reports/puppet', 'application/x-yaml', unknown)).status, 202);
  assert.equal((await post(trusted, '/reports/puppet', 'application/x-yaml', PUPPET_REPORT)).status, 202);

  const accepted = () => foreman.requests.filter((r) => !r.body.includes('unknown.example.com'));
  await waitFor('reports delivered', () => accepted().length >= 6, 15_000);
  const sent = accepted().map((r) => {
    const body = JSON.parse(r.body.toString()) as { host_report?: { host: string; format: string }; name?: string };
    return `${r.path} ${body.host_report ? `${body.host_report.format}:${body.host_report.host}` : `facts:${body.name}`}`;
  });
  // Two 503s on the head, then everything once, in upload order.
  assert.deepEqual(sent, [
    '/api/v2/hosts/facts facts:db1.example.com',
    '/api/v2/hosts/facts facts:db1.example.com',
    '/api/v2/hosts/facts facts:db1.example.com',
    '/api/v2/host_reports ansible:db1.example.com',
    '/api/v2/host_reports puppet:web1.example.com',
    '/api/v2/host_reports puppet:web1.example.com',
  ]);
  assert.equal(foreman.requests.filter((r) => r.body.includes('unknown.example.com')).length, 1, 'a refused report is not retried');
  assert.ok(foreman.requests.every((r) => r.clientCn === 'proxy.example.com'), 'every upload carries the proxy certificate');
  const spool = await request(`${origin}/reports/spool`, { dispatcher: trusted });
  const state = (await spool.body.json()) as { pending: number; rejected_reports: { reason: string }[] };
  assert.equal(state.pending, 0);
  assert.match(state.rejected_reports[0]?.reason ?? '', /422/);
  assert.equal((await readdir(join(dir, 'spool', 'fail'))).length, 1, 'the refused report is kept in fail/');
});
