// The same assertions of Foreman's DHCP calls (spec dhcp.md, foreman-client.md) for every DHCP
// provider: subnet listing, unused_ip, create a reservation, the identical repeat, conflict 409,
// lookups by MAC and IP, delete, and what is gone. A provider's integration test starts its backend
// and a proxy, then calls `dhcpConformance()` inside its `describe`; reservations are observed
// through the backend itself (its files, its API, the stand-in's state), never through the proxy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestResponse } from '../../src/core/testing.ts';

export interface BackendReservation {
  ip: string;
  /** lower case, colon separated */
  mac: string;
  hostname?: string;
}

export interface DhcpConformanceTarget {
  /** `proxy.request` of a `TestProxy`. */
  request(method: string, path: string, options?: { body?: Record<string, string> }): Promise<TestResponse>;
  /** A subnet the backend serves: network address and dotted netmask (a /24 is assumed). */
  network: string;
  netmask: string;
  /**
   * Two free addresses of the subnet, inside whatever range the backend hands out `unused_ip`
   * from, with the second right after the first (`192.0.2.120`, `192.0.2.121`).
   */
  freePair: readonly [string, string];
  /** What the backend holds for this MAC now (undefined: no reservation). */
  reservation(mac: string): Promise<BackendReservation | undefined>;
  /**
   * false when the backend cannot honour `unused_ip`'s from/to (the range check is then skipped;
   * say why in the provider's README).
   */
  unusedIpRange?: boolean;
  /** MACs the suite uses start with this (default `52:54:00:c0:`), so suites can share a backend. */
  macPrefix?: string;
}

/**
 * Register the suite's tests in the current `describe`. `target()` is called when the tests run,
 * so it can return what a `before` hook set up.
 */
export function dhcpConformance(target: () => DhcpConformanceTarget): void {
  const mac = (last: string): string => `${target().macPrefix ?? '52:54:00:c0:'}00:${last}`;
  const json = <T>(r: TestResponse): T => {
    assert.match(String(r.headers['content-type'] ?? ''), /application\/json/, r.body);
    return JSON.parse(r.body) as T;
  };

  test('conformance: /features lists dhcp and GET /dhcp lists the subnet', async () => {
    const t = target();
    const features = await t.request('GET', '/features');
    assert.ok((JSON.parse(features.body) as string[]).includes('dhcp'), features.body);
    const r = await t.request('GET', '/dhcp');
    assert.equal(r.status, 200, r.body);
    const subnets = json<{ network: string; netmask: string; options: unknown }[]>(r);
    const s = subnets.find((x) => x.network === t.network);
    assert.ok(s, `subnet ${t.network} listed: ${r.body}`);
    assert.equal(s.netmask, t.netmask);
    assert.equal(typeof s.options, 'object');
  });

  test('conformance: unused_ip answers a free address of the subnet', async () => {
    const t = target();
    const r = await t.request('GET', `/dhcp/${t.network}/unused_ip`);
    assert.equal(r.status, 200, r.body);
    const { ip } = json<{ ip: string }>(r);
    const prefix = t.network.split('.').slice(0, 3).join('.');
    assert.ok(ip.startsWith(`${prefix}.`), `${ip} in ${t.network}/${t.netmask}`);
  });

  test('conformance: reservation create, repeat, conflict 409, lookups, delete', async () => {
    const t = target();
    const [ip, next] = t.freePair;
    const m = mac('01');
    const name = 'conf-host1.example.test';
    let r = await t.request('POST', `/dhcp/${t.network}`, { body: { ip, mac: m, name, hostname: name } });
    assert.equal(r.status, 200, r.body);
    const held = await t.reservation(m);
    assert.equal(held?.ip, ip, 'the backend holds the reservation');
    r = await t.request('POST', `/dhcp/${t.network}`, { body: { ip, mac: m, name, hostname: name } });
    assert.equal(r.status, 200, `the identical reservation again is not a conflict: ${r.body}`);
    r = await t.request('POST', `/dhcp/${t.network}`, { body: { ip, mac: mac('02'), name: 'conf-host2.example.test', hostname: 'conf-host2.example.test' } });
    assert.equal(r.status, 409, r.body);
    assert.equal(await t.reservation(mac('02')), undefined, 'a conflict creates nothing');

    r = await t.request('GET', `/dhcp/${t.network}/mac/${m}`);
    assert.equal(r.status, 200, r.body);
    const byMac = json<{ ip: string; mac: string; type: string; hostname?: string; name: string }>(r);
    assert.equal(byMac.ip, ip);
    assert.equal(byMac.mac, m);
    assert.equal(byMac.type, 'reservation');
    r = await t.request('GET', `/dhcp/${t.network}/ip/${ip}`);
    assert.equal(r.status, 200, r.body);
    assert.ok(json<{ mac: string }[]>(r).some((x) => x.mac === m), r.body);
    r = await t.request('GET', `/dhcp/${t.network}`);
    assert.equal(r.status, 200, r.body);
    assert.ok(json<{ reservations: { mac: string }[] }>(r).reservations.some((x) => x.mac === m), r.body);

    if (t.unusedIpRange !== false) {
      r = await t.request('GET', `/dhcp/${t.network}/unused_ip?from=${ip}&to=${next}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(json<{ ip: string }>(r).ip, next, 'a reserved address is not offered');
    }

    r = await t.request('DELETE', `/dhcp/${t.network}/mac/${m}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(await t.reservation(m), undefined, 'the backend no longer holds it');
    r = await t.request('GET', `/dhcp/${t.network}/mac/${m}`);
    assert.equal(r.status, 404, r.body);
    r = await t.request('DELETE', `/dhcp/${t.network}/mac/${m}`);
    assert.equal(r.status, 200, `deleting what is gone is not an error: ${r.body}`);
  });

  test('conformance: delete by IP', async () => {
    const t = target();
    const [, ip] = t.freePair;
    const m = mac('03');
    let r = await t.request('POST', `/dhcp/${t.network}`, { body: { ip, mac: m, name: 'conf-host3.example.test', hostname: 'conf-host3.example.test' } });
    assert.equal(r.status, 200, r.body);
    r = await t.request('DELETE', `/dhcp/${t.network}/ip/${ip}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(await t.reservation(m), undefined);
  });

  test('conformance: bad input is refused with 400 naming the problem; unknown subnet 404', async () => {
    const t = target();
    let r = await t.request('POST', `/dhcp/${t.network}`, { body: { ip: t.freePair[0], mac: 'not-a-mac', name: 'x.example.test' } });
    assert.equal(r.status, 400, r.body);
    assert.notEqual(r.body, '');
    r = await t.request('POST', `/dhcp/${t.network}`, { body: { ip: t.freePair[0], mac: mac('04'), name: 'bad\nname' } });
    assert.equal(r.status, 400, r.body);
    assert.equal(await t.reservation(mac('04')), undefined);
    r = await t.request('GET', '/dhcp/203.0.113.0/unused_ip');
    assert.equal(r.status, 404, r.body);
  });
}
