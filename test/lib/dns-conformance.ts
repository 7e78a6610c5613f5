// The same assertions of Foreman's DNS calls (spec dns.md, foreman-client.md) for every DNS
// provider: create, idempotent repeat, conflict 409, delete, delete of what is gone → 404, for
// each record type the backend supports. A provider's integration test starts its backend and a
// proxy, then calls `dnsConformance()` inside its `describe`; every record is observed through the
// backend itself (dig, the vendor API, the stand-in's state), never through the proxy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestResponse } from '../../src/core/testing.ts';

export type ConformanceRecordType = 'A' | 'AAAA' | 'PTR' | 'CNAME';

export interface DnsConformanceTarget {
  /** `proxy.request` of a `TestProxy` (or the same shape over another transport). */
  request(method: string, path: string, options?: { body?: Record<string, string> }): Promise<TestResponse>;
  /** Forward zone the backend serves, without a trailing dot: `example.test`. */
  zone: string;
  /** First three octets of an IPv4 /24 whose reverse zone the backend serves: `192.0.2`. */
  reverseNet: string;
  /**
   * What the backend holds now for `name` (for PTR: the reverse name `10.2.0.192.in-addr.arpa`),
   * values normalised: addresses as text, names without a trailing dot, lower case.
   */
  lookup(type: ConformanceRecordType, name: string): Promise<string[]>;
  /** Record types to check (default: A, PTR, CNAME, AAAA). */
  types?: readonly ConformanceRecordType[];
  /** Prefix of the host names the suite creates, so several suites can share one zone (default `conf`). */
  hostPrefix?: string;
}

const form = (fqdn: string, value: string, type: string): Record<string, string> => ({ fqdn, value, type });
const stripDot = (s: string): string => s.replace(/\.$/, '').toLowerCase();

/**
 * Register the suite's tests in the current `describe`. `target()` is called when the tests run,
 * so it can return what a `before` hook set up.
 */
export function dnsConformance(target: () => DnsConformanceTarget): void {
  const has = (type: ConformanceRecordType): boolean => (target().types ?? ['A', 'PTR', 'CNAME', 'AAAA']).includes(type);
  const host = (n: string): string => {
    const t = target();
    return `${t.hostPrefix ?? 'conf'}-${n}.${t.zone}`;
  };
  const lookup = async (type: ConformanceRecordType, name: string): Promise<string[]> => (await target().lookup(type, name)).map(stripDot);

  test('conformance: /features lists dns and /v2/features shows it running', async () => {
    const t = target();
    const features = await t.request('GET', '/features');
    assert.equal(features.status, 200, features.body);
    assert.ok((JSON.parse(features.body) as string[]).includes('dns'), features.body);
    const v2 = JSON.parse((await t.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
    assert.equal(v2.dns?.state, 'running', JSON.stringify(v2.dns));
  });

  test('conformance: A record create, repeat, conflict 409, delete, delete again 404', async (ctx) => {
    if (!has('A')) return ctx.skip('the backend has no A records');
    const t = target();
    const name = host('a');
    const ip = `${t.reverseNet}.21`;
    let r = await t.request('POST', '/dns/', { body: form(name, ip, 'A') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('A', name), [ip]);
    r = await t.request('POST', '/dns/', { body: form(name, ip, 'A') });
    assert.equal(r.status, 200, `the same record again is not a conflict: ${r.body}`);
    r = await t.request('POST', '/dns/', { body: form(name, `${t.reverseNet}.22`, 'A') });
    assert.equal(r.status, 409, r.body);
    assert.deepEqual(await lookup('A', name), [ip], 'a conflict changes nothing');
    r = await t.request('DELETE', `/dns/${name}/A`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('A', name), []);
    r = await t.request('DELETE', `/dns/${name}/A`);
    assert.equal(r.status, 404, r.body);
  });

  test('conformance: PTR record create at the reverse name, conflict 409, delete', async (ctx) => {
    if (!has('PTR')) return ctx.skip('the backend has no PTR records');
    const t = target();
    const name = host('ptr');
    const octets = t.reverseNet.split('.');
    const rev = `23.${[...octets].reverse().join('.')}.in-addr.arpa`;
    let r = await t.request('POST', '/dns/', { body: form(name, rev, 'PTR') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('PTR', rev), [name.toLowerCase()]);
    r = await t.request('POST', '/dns/', { body: form(name, rev, 'PTR') });
    assert.equal(r.status, 200, r.body);
    r = await t.request('POST', '/dns/', { body: form(host('other'), rev, 'PTR') });
    assert.equal(r.status, 409, r.body);
    r = await t.request('DELETE', `/dns/${rev}/PTR`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('PTR', rev), []);
    r = await t.request('DELETE', `/dns/${rev}/PTR`);
    assert.equal(r.status, 404, r.body);
  });

  test('conformance: CNAME create, repeat, other target 409, delete', async (ctx) => {
    if (!has('CNAME')) return ctx.skip('the backend has no CNAME records');
    const t = target();
    const alias = host('alias');
    const targetName = host('a-target');
    let r = await t.request('POST', '/dns/', { body: form(alias, targetName, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('CNAME', alias), [targetName.toLowerCase()]);
    r = await t.request('POST', '/dns/', { body: form(alias, targetName, 'CNAME') });
    assert.equal(r.status, 200, r.body);
    r = await t.request('POST', '/dns/', { body: form(alias, host('elsewhere'), 'CNAME') });
    assert.equal(r.status, 409, r.body);
    r = await t.request('DELETE', `/dns/${alias}/CNAME`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('CNAME', alias), []);
  });

  test('conformance: AAAA create (normalised), conflict 409, delete', async (ctx) => {
    if (!has('AAAA')) return ctx.skip('the backend has no AAAA records');
    const t = target();
    const name = host('v6');
    let r = await t.request('POST', '/dns/', { body: form(name, '2001:0DB8:0:0:0:0:0:21', 'AAAA') });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('AAAA', name), ['2001:db8::21']);
    r = await t.request('POST', '/dns/', { body: form(name, '2001:db8::22', 'AAAA') });
    assert.equal(r.status, 409, r.body);
    r = await t.request('DELETE', `/dns/${name}/AAAA`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await lookup('AAAA', name), []);
  });

  test('conformance: bad input is refused with 400 and names the problem; the backend is not touched', async () => {
    const t = target();
    let r = await t.request('POST', '/dns/', { body: form(host('bad'), 'not-an-address', 'A') });
    assert.equal(r.status, 400, r.body);
    assert.notEqual(r.body, '');
    r = await t.request('POST', '/dns/', { body: form(host('bad'), `${t.reverseNet}.24`, 'MX') });
    assert.equal(r.status, 400, r.body);
    assert.deepEqual(await lookup('A', host('bad')), []);
  });
}
