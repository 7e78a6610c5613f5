// /dns with the dns_nsupdate_gss provider against real daemons: an MIT Kerberos KDC with a realm
// made for this run and BIND named accepting GSS-TSIG (tkey-gssapi-keytab, update-policy granting
// some principals). Every record is observed independently with dig; Kerberos activity through
// the KDC's own log.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dnsConformance } from '../lib/dns-conformance.ts';
import { freeTcpPort } from '../lib/procs.ts';
import { REALM, REV4, ZONE, startGssEnv, type GssEnv } from './gss-env.ts';

const PROXY = `foreman-proxy/proxy.${ZONE}@${REALM}`;
const INTRUDER = `intruder/proxy.${ZONE}@${REALM}`;
const SHORT = `shortlived/proxy.${ZONE}@${REALM}`;
const FORGOTTEN = `forgotten/proxy.${ZONE}@${REALM}`;
const LATE = `late/proxy.${ZONE}@${REALM}`;

let env: GssEnv;
const proxies: TestProxy[] = [];

const form = (fqdn: string, value: string, type: string): Record<string, string> => ({ fqdn, value, type });

async function proxyFor(principal: string, keytab: string, extra: Record<string, unknown> = {}): Promise<TestProxy> {
  // kinit and nsupdate find the test realm through KRB5_CONFIG, passed on by the provider.
  process.env.KRB5_CONFIG = env.krb5Conf;
  const p = await startTestProxy({
    global: { dns_resolv_timeouts: [1, 2] },
    files: {
      dns: { enabled: true, use_provider: 'dns_nsupdate_gss', dns_ttl: 300 },
      dns_nsupdate_gss: { dns_server: `127.0.0.1:${env.dnsPort}`, dns_tsig_keytab: keytab, dns_tsig_principal: principal, ...extra },
    },
  });
  proxies.push(p);
  return p;
}

describe('/dns with dns_nsupdate_gss against a real KDC and GSS-TSIG named', { timeout: 180_000 }, () => {
  let proxy: TestProxy;

  before(async () => {
    env = await startGssEnv();
    await env.addPrincipal(PROXY);
    await env.addPrincipal(INTRUDER);
    await env.addPrincipal(LATE);
    // Tickets of 5 s: a burst of updates outlives several of them.
    await env.addPrincipal(SHORT, { maxLife: '5 seconds' });
    // In its keytab, then removed from the KDC: "principal unknown".
    await env.addPrincipal(FORGOTTEN);
    await env.deletePrincipal(FORGOTTEN);
    await env.startKdc();
    await env.startNamed([PROXY, SHORT]);
    proxy = await proxyFor(PROXY, env.keytab(PROXY));
  });
  after(async () => {
    for (const p of proxies) await p.close();
    await env?.close();
  });

  describe('shared DNS conformance', () => {
    dnsConformance(() => ({
      request: (m, p, o) => proxy.request(m, p, o),
      zone: ZONE,
      reverseNet: '192.0.2',
      hostPrefix: 'gss',
      lookup: (type, name) => env.dig(name, type),
    }));
  });

  test('signed updates are accepted: A and PTR created, seen by dig, deleted; named logged GSS-TSIG signer', async () => {
    const name = `web1.${ZONE}`;
    let r = await proxy.request('POST', '/dns/', { body: form(name, '192.0.2.10', 'A') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await env.dig(name, 'A'), ['192.0.2.10']);
    r = await proxy.request('POST', '/dns/', { body: form(name, `10.${REV4}`, 'PTR') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await env.dig(`10.${REV4}`, 'PTR'), [`${name}.`]);
    // named names the GSS-TSIG identity that signed the update (it escapes the @)
    assert.match(await env.namedLog(), /key foreman-proxy\/proxy\.gss\.test\\?@GSS\.TEST: updating zone 'gss\.test\/IN': adding an RR at 'web1\.gss\.test' A/);
    r = await proxy.request('DELETE', `/dns/${name}/A`);
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('DELETE', `/dns/10.${REV4}/PTR`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await env.dig(name, 'A'), []);
    assert.deepEqual(await env.dig(`10.${REV4}`, 'PTR'), []);
  });

  test('a principal the update-policy does not grant is refused with a clear 400', async () => {
    const intruder = await proxyFor(INTRUDER, env.keytab(INTRUDER));
    const name = `intruder.${ZONE}`;
    const r = await intruder.request('POST', '/dns/', { body: form(name, '192.0.2.66', 'A') });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /REFUSED/);
    assert.match(r.body, new RegExp(`does not allow ${INTRUDER.replace(/[/.]/g, '\\$&')}`));
    assert.deepEqual(await env.dig(name, 'A'), []);
  });

  test('a principal unknown to the KDC, and a keytab that is no keytab: clear 400s', async () => {
    const forgotten = await proxyFor(FORGOTTEN, env.keytab(FORGOTTEN));
    let r = await forgotten.request('POST', '/dns/', { body: form(`forgotten.${ZONE}`, '192.0.2.67', 'A') });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /the KDC does not know the principal forgotten\/proxy\.gss\.test@GSS\.TEST \(dns_tsig_principal\)/);

    const garbage = join(env.dir, 'keytabs', 'garbage.keytab');
    await writeFile(garbage, 'this is not a keytab\n');
    const broken = await proxyFor(PROXY, garbage);
    r = await broken.request('POST', '/dns/', { body: form(`broken.${ZONE}`, '192.0.2.68', 'A') });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /keytab .*garbage\.keytab \(dns_tsig_keytab\)/);
    assert.deepEqual(await env.dig(`forgotten.${ZONE}`, 'A'), []);
    assert.deepEqual(await env.dig(`broken.${ZONE}`, 'A'), []);
  });

  test('a burst of updates outliving several 5 s tickets: renewed in time, no request fails', async (t) => {
    const short = await proxyFor(SHORT, env.keytab(SHORT));
    const before = await env.asRequests(SHORT);
    const results: { name: string; status: number; body: string }[] = [];
    const until = Date.now() + 13_000;
    let n = 0;
    // Four clients in parallel, each creating records one after the other, for 13 s.
    await Promise.all(
      [0, 1, 2, 3].map(async () => {
        while (Date.now() < until) {
          const name = `burst${n++}.${ZONE}`;
          const r = await short.request('POST', '/dns/', { body: form(name, `192.0.2.${(n % 200) + 20}`, 'A') });
          results.push({ name, status: r.status, body: r.body });
        }
      }),
    );
    const failed = results.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], 'every update of the burst succeeds');
    assert.ok(results.length >= 8, `the burst made ${results.length} updates`);
    const kinits = (await env.asRequests(SHORT)) - before;
    t.diagnostic(`${results.length} GSS-TSIG updates in 13 s by 4 clients, ${kinits} tickets issued`);
    assert.ok(kinits >= 3, `13 s of 5 s tickets need at least 3 tickets; the KDC issued ${kinits}`);
    const zone = await env.axfr();
    for (const r of results) assert.ok(zone.some((l) => l.startsWith(`${r.name}.`)), `${r.name} is in the zone`);
  });

  test('a ticket the server refuses (its key rotated): one new kinit, the update retried, no failed request', async () => {
    // The proxy's cache holds a service ticket for named's old key; named now has only a new one.
    const warm = await proxy.request('POST', '/dns/', { body: form(`warm.${ZONE}`, '192.0.2.80', 'A') });
    assert.equal(warm.status, 200, warm.body);
    await env.rotateServerKey([PROXY, SHORT]);
    const before = await env.asRequests(PROXY);
    const r = await proxy.request('POST', '/dns/', { body: form(`rotated.${ZONE}`, '192.0.2.81', 'A') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await env.dig(`rotated.${ZONE}`, 'A'), ['192.0.2.81']);
    assert.equal((await env.asRequests(PROXY)) - before, 1, 'exactly one new ticket was obtained');
  });

  test('a KDC that does not answer: a clear 400 when dns_timeout runs out, the proxy stays responsive', async () => {
    // A stand-in for a hung KDC: a TCP listener that accepts and never answers (the realm's
    // krb5.conf prefers TCP), used through a second krb5.conf naming it as the KDC.
    const port = await freeTcpPort();
    const sockets = new Set<Socket>();
    const hung: Server = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => hung.listen(port, '127.0.0.1', resolve));
    const conf = join(env.dir, 'krb5-hung.conf');
    await writeFile(conf, (await readFile(env.krb5Conf, 'utf8')).replace(`127.0.0.1:${env.kdcPort}`, `127.0.0.1:${port}`));
    const saved = env.krb5Conf;
    try {
      env.krb5Conf = conf;
      const p = await proxyFor(LATE, env.keytab(LATE), { dns_timeout: 3 });
      const r = await p.request('POST', '/dns/', { body: form(`late.${ZONE}`, '192.0.2.69', 'A') });
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /late\/proxy\.gss\.test@GSS\.TEST/);
      // the deadline's own message: kinit was stopped, not left to libkrb5's retries
      assert.match(r.body, /within (3 s|the deadline).*KDC|KDC does not answer/);
      const features = await p.request('GET', '/features');
      assert.equal(features.status, 200);
    } finally {
      env.krb5Conf = saved;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });

  test('KDC down: a proxy without a ticket yet gets a clear 400 naming the KDC', async () => {
    await env.stopKdc();
    try {
      const p = await proxyFor(LATE, env.keytab(LATE), { dns_timeout: 5 });
      const r = await p.request('POST', '/dns/', { body: form(`down.${ZONE}`, '192.0.2.70', 'A') });
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /KDC of the realm cannot be reached/);
      assert.deepEqual(await env.dig(`down.${ZONE}`, 'A'), []);
      // The proxy that already holds a ticket keeps working while the KDC is away.
      const ok = await proxy.request('POST', '/dns/', { body: form(`still.${ZONE}`, '192.0.2.71', 'A') });
      assert.equal(ok.status, 200, ok.body);
      assert.deepEqual(await env.dig(`still.${ZONE}`, 'A'), ['192.0.2.71']);
    } finally {
      await env.startKdc();
    }
  });

  test('the DNS server down: a clear 400 naming the server, within dns_timeout', async () => {
    await env.stopNamed();
    try {
      const p = await proxyFor(PROXY, env.keytab(PROXY), { dns_timeout: 4 });
      const r = await p.request('POST', '/dns/', { body: form(`nodns.${ZONE}`, '192.0.2.72', 'A') });
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, new RegExp(`127\\.0\\.0\\.1:${env.dnsPort}`));
    } finally {
      await env.startNamed([PROXY, SHORT]);
    }
  });
});
