// /ipam routes in-process (fastify inject) with a fake provider: parameter validation and its
// messages, JSON answers and error bodies, the `group` parameter (empty, encoded, absent), and the
// next_ip holds (same MAC → same address, other MACs → other addresses, also when concurrent).

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mountModule } from '../../core/inject.ts';
import { HttpClientError } from '../../lib/http/client.ts';
import externalipam from './module.ts';
import { IpamError } from './errors.ts';
import { formatAddress, parseAddress, parseNetwork, type Address, type Network } from './net.ts';
import type { CallOptions, ExternalIpamProvider, FirstFree, FoundSubnet, IpamGroup, IpamSubnet } from './provider.ts';

/** An IPAM in memory: subnets by group ('' = none), taken addresses by cidr. */
class FakeIpam implements ExternalIpamProvider {
  readonly calls: string[] = [];
  readonly subnets = new Map<string, IpamSubnet[]>([
    ['', [{ id: '7', subnet: '10.0.0.0', mask: '24', description: 'lab' }, { id: '8', subnet: '2001:db8::', mask: '124', description: 'v6' }]],
    ['Prod Net', [{ id: '9', subnet: '10.1.0.0', mask: '29', description: 'prod' }]],
  ]);
  readonly taken = new Map<string, Set<string>>();
  failure: Error | undefined;
  /** Answer firstFree slowly, so concurrent requests overlap. */
  delayMs = 0;

  private used(cidr: string): Set<string> {
    let s = this.taken.get(cidr);
    if (!s) this.taken.set(cidr, (s = new Set()));
    return s;
  }
  async findSubnet(n: Network, group: string | undefined): Promise<FoundSubnet | undefined> {
    this.calls.push(`find ${n.cidr} ${group ?? '-'}`);
    if (this.failure) throw this.failure;
    const list = this.subnets.get(group ?? '');
    if (!list) throw IpamError.unknown_group('Group not found in External IPAM');
    const s = list.find((x) => `${x.subnet}/${x.mask}` === n.cidr);
    return s && { subnet: s };
  }
  async firstFree(_f: FoundSubnet, n: Network): Promise<FirstFree> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const used = this.used(n.cidr);
    for (let v = n.base + 1n; ; v++) {
      const a: Address = { family: n.family, value: v };
      const text = formatAddress(a);
      if (v >= n.base + (1n << BigInt((n.family === 4 ? 32 : 128) - n.prefix)) - 1n) return { none: true };
      if (!used.has(text)) return { ip: text };
    }
    return { none: true };
  }
  async ipExists(_f: FoundSubnet, n: Network, ip: Address): Promise<boolean> {
    this.calls.push(`exists ${formatAddress(ip)}`);
    return this.used(n.cidr).has(formatAddress(ip));
  }
  async addIp(_f: FoundSubnet, n: Network, ip: Address): Promise<void> {
    this.calls.push(`add ${formatAddress(ip)}`);
    this.used(n.cidr).add(formatAddress(ip));
  }
  async deleteIp(_f: FoundSubnet, n: Network, ip: Address): Promise<void> {
    this.calls.push(`delete ${formatAddress(ip)}`);
    this.used(n.cidr).delete(formatAddress(ip));
  }
  async groups(): Promise<IpamGroup[]> {
    return [{ id: '1', name: 'Prod Net', description: 'production' }];
  }
  async group(name: string, _c: CallOptions): Promise<IpamGroup | undefined> {
    return name === 'Prod Net' ? { id: '1', name, description: 'production' } : undefined;
  }
  async groupSubnets(name: string): Promise<IpamSubnet[] | undefined> {
    if (name === 'Empty') return [];
    return this.subnets.get(name);
  }
  async close(): Promise<void> {}
}

async function mounted(t: TestContext, settings: Record<string, unknown> = {}) {
  const fake = new FakeIpam();
  const m = await mountModule(externalipam, { settings, providers: { externalipam_phpipam: fake } }, t);
  const get = async (url: string, method: 'GET' | 'POST' | 'DELETE' = 'GET') => {
    const r = await m.app.inject({ method, url });
    return { status: r.statusCode, body: r.body, json: r.body === '' ? undefined : (JSON.parse(r.body) as unknown), type: r.headers['content-type'] };
  };
  return { ...m, fake, get };
}

test('net: parses, checks and prints IPv4 and IPv6 networks', () => {
  assert.deepEqual(parseNetwork('10.0.0.0', '24'), { family: 4, base: 0x0a000000n, prefix: 24, cidr: '10.0.0.0/24' });
  assert.equal(parseNetwork('10.0.0.1', '24'), 'Network address 10.0.0.1 should be 10.0.0.0 with prefix 24');
  assert.match(String(parseNetwork('10.0.0.0', '33')), /prefix '33' must be a number from 0 to 32/);
  assert.match(String(parseNetwork('10.0.0', '24')), /not an IPv4 or IPv6 address/);
  assert.equal((parseNetwork('2001:DB8:0:0::', '64') as Network).cidr, '2001:db8::/64');
  assert.equal(formatAddress(parseAddress('2001:db8:0:0:1:0:0:1') as Address), '2001:db8::1:0:0:1');
  assert.equal(formatAddress(parseAddress('::ffff:10.0.0.1') as Address), '::ffff:a00:1');
});

test('next_ip answers {"data": ip} as JSON; the same MAC gets its held address, other MACs the next ones', async (t) => {
  const { get } = await mounted(t);
  const a = await get('/ipam/subnet/10.0.0.0/24/next_ip?mac=00:11:22:33:44:55&group=');
  assert.equal(a.status, 200);
  assert.equal(a.type, 'application/json');
  assert.deepEqual(a.json, { data: '10.0.0.1' });
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip?mac=00:11:22:33:44:55&group=')).json, { data: '10.0.0.1' });
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip?mac=00:11:22:33:44:66&group=')).json, { data: '10.0.0.2' });
  // Upper-case MAC is the same interface.
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip?mac=00:11:22:33:44:66')).json, { data: '10.0.0.2' });
  // No MAC: held anonymously, never handed out twice.
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip')).json, { data: '10.0.0.3' });
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip')).json, { data: '10.0.0.4' });
});

test('next_ip skips addresses taken in the IPAM after a held one, and IPv6 works the same', async (t) => {
  const { get, fake } = await mounted(t);
  fake.taken.set('10.0.0.0/24', new Set(['10.0.0.2', '10.0.0.3']));
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip?mac=00:00:00:00:00:01')).json, { data: '10.0.0.1' });
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24/next_ip?mac=00:00:00:00:00:02')).json, { data: '10.0.0.4' });
  assert.deepEqual((await get('/ipam/subnet/2001:db8::/124/next_ip?mac=00:00:00:00:00:03')).json, { data: '2001:db8::1' });
  assert.deepEqual((await get('/ipam/subnet/2001:db8::/124/next_ip?mac=00:00:00:00:00:04')).json, { data: '2001:db8::2' });
});

test('next_ip: concurrent requests for different MACs get different addresses (the reference hands out duplicates)', async (t) => {
  const { get, fake } = await mounted(t);
  fake.delayMs = 5;
  const macs = Array.from({ length: 12 }, (_, i) => `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`);
  const answers = await Promise.all(macs.map((mac) => get(`/ipam/subnet/10.0.0.0/24/next_ip?mac=${mac}`)));
  const ips = answers.map((a) => (a.json as { data: string }).data);
  assert.equal(new Set(ips).size, macs.length, `duplicates among ${ips.join(' ')}`);
});

test('next_ip: a full subnet is 404, and so is one whose free addresses are all held', async (t) => {
  const { get, fake } = await mounted(t);
  fake.subnets.get('')?.push({ id: '10', subnet: '10.2.0.0', mask: '30', description: '' });
  const first = await get('/ipam/subnet/10.2.0.0/30/next_ip?mac=00:00:00:00:00:01');
  assert.deepEqual(first.json, { data: '10.2.0.1' });
  const second = await get('/ipam/subnet/10.2.0.0/30/next_ip?mac=00:00:00:00:00:02');
  assert.deepEqual(second.json, { data: '10.2.0.2' });
  const third = await get('/ipam/subnet/10.2.0.0/30/next_ip?mac=00:00:00:00:00:03');
  assert.equal(third.status, 404);
  assert.match((third.json as { error: string }).error, /^No free addresses found in subnet 10\.2\.0\.0\/30\. Some available ip's may be cached\. Try again in 60 seconds/);
  fake.taken.set('10.2.0.0/30', new Set(['10.2.0.1', '10.2.0.2']));
  const none = await get('/ipam/subnet/10.2.0.0/30/next_ip?mac=00:00:00:00:00:04');
  assert.deepEqual([none.status, none.json], [404, { error: 'No free addresses found' }]);
});

test('bad parameters are 400 with a JSON error naming the problem, before the provider is called', async (t) => {
  const { get, fake } = await mounted(t);
  const cases: [string, string | RegExp][] = [
    ['/ipam/subnet/10.0.0.1/24/next_ip', 'Network address 10.0.0.1 should be 10.0.0.0 with prefix 24'],
    ['/ipam/subnet/10.0.0.0/24/next_ip?mac=zz', 'Mac address is invalid'],
    ['/ipam/subnet/10.0.0.0/40', /prefix '40'/],
    ['/ipam/subnet/10.0.0.0/24/10.0.1.5', 'IP 10.0.1.5 is not in 10.0.0.0/24'],
    ['/ipam/subnet/10.0.0.0/24/not-an-ip', 'IP address is invalid'],
    ['/ipam/subnet/10.0.0.0/24/2001:db8::1', 'IP 2001:db8::1 is not in 10.0.0.0/24'],
  ];
  for (const [url, message] of cases) {
    const r = await get(url);
    assert.equal(r.status, 400, url);
    assert.equal(r.type, 'application/json');
    const error = (r.json as { error: string }).error;
    if (typeof message === 'string') assert.equal(error, message, url);
    else assert.match(error, message, url);
  }
  assert.deepEqual(fake.calls, []);
});

test('group: empty means none, an encoded name is decoded once, an unknown one is 500', async (t) => {
  const { get, fake } = await mounted(t);
  assert.equal((await get('/ipam/subnet/10.0.0.0/24?group=')).status, 200);
  const prod = await get('/ipam/subnet/10.1.0.0/29?group=Prod%20Net');
  assert.deepEqual([prod.status, prod.json], [200, { id: '9', subnet: '10.1.0.0', mask: '29', description: 'prod' }]);
  assert.deepEqual(fake.calls, ['find 10.0.0.0/24 -', 'find 10.1.0.0/29 Prod Net']);
  const missing = await get('/ipam/subnet/10.0.0.0/24?group=Prod%20Net');
  assert.deepEqual([missing.status, missing.json], [404, { error: 'Subnet not found in External IPAM' }]);
  const unknown = await get('/ipam/subnet/10.0.0.0/24/10.0.0.5?group=Nope', 'POST');
  assert.deepEqual([unknown.status, unknown.json], [500, { error: 'Group not found in External IPAM' }]);
});

test('ip exists, add 201, delete 204: Foreman\'s reservation calls', async (t) => {
  const { get, fake } = await mounted(t);
  assert.deepEqual(await get('/ipam/subnet/10.0.0.0/24/10.0.0.9?group='), { status: 200, body: 'false', json: false, type: 'application/json' });
  const added = await get('/ipam/subnet/10.0.0.0/24/10.0.0.9?group=', 'POST');
  assert.deepEqual([added.status, added.body], [201, '']);
  assert.equal((await get('/ipam/subnet/10.0.0.0/24/10.0.0.9')).body, 'true');
  const deleted = await get('/ipam/subnet/10.0.0.0/24/10.0.0.9?group=', 'DELETE');
  assert.deepEqual([deleted.status, deleted.body], [204, '']);
  assert.ok(fake.calls.includes('add 10.0.0.9') && fake.calls.includes('delete 10.0.0.9'));
});

test('groups: list, one, subnets; unknown and empty groups are 404', async (t) => {
  const { get } = await mounted(t);
  assert.deepEqual((await get('/ipam/groups')).json, [{ id: '1', name: 'Prod Net', description: 'production' }]);
  assert.deepEqual((await get('/ipam/groups/Prod%20Net')).json, { id: '1', name: 'Prod Net', description: 'production' });
  assert.deepEqual(await get('/ipam/groups/Nope'), { status: 404, body: '{"error":"Group not found in External IPAM"}', json: { error: 'Group not found in External IPAM' }, type: 'application/json' });
  assert.deepEqual((await get('/ipam/groups/Prod%20Net/subnets')).json, [{ id: '9', subnet: '10.1.0.0', mask: '29', description: 'prod' }]);
  assert.deepEqual((await get('/ipam/groups/Empty/subnets')).json, { error: 'No subnets found in External IPAM group' });
  assert.equal((await get('/ipam/groups/Nope/subnets')).status, 404);
});

test('an unreachable IPAM is 500 "Unable to connect to External IPAM server"; a timeout is 504', async (t) => {
  const { get, fake } = await mounted(t);
  fake.failure = new HttpClientError('connect', 'http://ipam/', 'Failed to open TCP connection to ipam:80 (ECONNREFUSED)');
  assert.deepEqual((await get('/ipam/subnet/10.0.0.0/24')).json, { error: 'Unable to connect to External IPAM server' });
  fake.failure = new HttpClientError('timeout', 'http://ipam/', 'Timed out');
  const slow = await get('/ipam/subnet/10.0.0.0/24');
  assert.deepEqual([slow.status, slow.json], [504, { error: 'External IPAM server did not answer in time' }]);
});
