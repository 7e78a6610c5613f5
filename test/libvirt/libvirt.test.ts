// dns_libvirt and dhcp_libvirt against a real libvirtd (started by the test in its own network and
// mount namespaces, see libvirtd.ts) with a real network: libvirt runs dnsmasq for it, which
// answers DNS for the hosts the proxy adds and leases the reserved address to a real DHCP client
// (busybox udhcpc) in a namespace plugged into the network's bridge.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dhcpConformance, type BackendReservation } from '../lib/dhcp-conformance.ts';
import { dnsConformance, type ConformanceRecordType } from '../lib/dns-conformance.ts';
import { deleteNamespaces } from '../lib/netns.ts';
import { execFileP, requireCommand } from '../lib/procs.ts';
import { parseNetworkXml } from '../../src/lib/libvirt/network-xml.ts';
import { dhcpRequest, writeClientScript } from '../dnsmasq/dhcp-client.ts';
import { attachClient, startLibvirtd, startNetwork, type LibvirtLab } from './libvirtd.ts';

const NETWORK = 'foreman';
const GATEWAY = '192.168.150.1';

function networkXml(bridge: string): string {
  return `<network>
  <name>${NETWORK}</name>
  <bridge name="${bridge}" stp="off"/>
  <domain name="example.test"/>
  <ip address="${GATEWAY}" netmask="255.255.255.0">
    <dhcp>
      <range start="192.168.150.100" end="192.168.150.200"/>
    </dhcp>
  </ip>
</network>
`;
}

function proxyFiles(url: string, extra: Record<string, unknown> = {}): Record<string, Record<string, unknown>> {
  return {
    dns: { ':enabled': true, ':use_provider': 'dns_libvirt' },
    dns_libvirt: { ':url': url, ':network': NETWORK, ...extra },
    dhcp: { ':enabled': true, ':use_provider': 'dhcp_libvirt', ':ping_free_ip': false },
    dhcp_libvirt: { ':url': url, ':network': NETWORK, ...extra },
  };
}

describe('dns_libvirt and dhcp_libvirt against a real libvirtd', { timeout: 240_000 }, () => {
  let lab: LibvirtLab;
  let proxy: TestProxy;
  const bridge = `spvb${randomBytes(3).toString('hex')}`;
  const clientNs = `splvc-${randomBytes(3).toString('hex')}`;
  const clientNamespaces: string[] = [];
  let clientIf = '';
  let script = '';

  before(async () => {
    requireCommand('dig');
    lab = await startLibvirtd();
    await startNetwork(lab, NETWORK, networkXml(bridge));
    proxy = await startTestProxy({ files: proxyFiles(lab.url) });
    clientIf = await attachClient(lab, bridge, clientNs, clientNamespaces);
    script = await writeClientScript(lab.dir);
  });
  after(async () => {
    await proxy?.close();
    await deleteNamespaces(clientNamespaces);
    await lab?.stop();
  });

  /** What the network's dnsmasq answers, asked inside the namespace (the backend, not the proxy). */
  const dig = async (type: string, name: string): Promise<string[]> => {
    const { stdout } = await execFileP('ip', ['netns', 'exec', lab.ns, 'dig', '+short', '+time=2', '+tries=1', `@${GATEWAY}`, name, type], { timeout: 10_000 });
    return stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith(';'));
  };
  const xml = async () => parseNetworkXml(await lab.virsh(['net-dumpxml', NETWORK]));

  describe('dns conformance', () => {
    // libvirt's DNS has host entries only: dnsmasq derives PTR answers from them and CNAME is not
    // a section net-update can change, so the suite runs its A and AAAA checks.
    dnsConformance(() => ({
      request: (m, p, o) => proxy.request(m, p, o),
      zone: 'example.test',
      reverseNet: '192.168.150',
      types: ['A', 'AAAA'] satisfies ConformanceRecordType[],
      // What the network's dnsmasq answers (no upstream in the namespace: unknown names are empty).
      lookup: (type, name) => dig(type, name),
    }));
  });

  describe('dhcp conformance', () => {
    dhcpConformance(() => ({
      request: (m, p, o) => proxy.request(m, p, o),
      network: '192.168.150.0',
      netmask: '255.255.255.0',
      freePair: ['192.168.150.40', '192.168.150.41'],
      reservation: async (mac): Promise<BackendReservation | undefined> => {
        const h = (await xml()).ipv4[0]?.hosts.find((x) => x.mac === mac);
        return h?.ip ? { ip: h.ip, mac, ...(h.name ? { hostname: h.name } : {}) } : undefined;
      },
    }));
  });

  test('a PTR follows the A entry: dnsmasq answers it; a PTR naming another host is 409', async () => {
    const name = 'rev-host.example.test';
    let r = await proxy.request('POST', '/dns/', { body: { fqdn: name, value: '192.168.150.31', type: 'A' } });
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('POST', '/dns/', { body: { fqdn: name, value: '31.150.168.192.in-addr.arpa', type: 'PTR' } });
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await dig('PTR', '31.150.168.192.in-addr.arpa'), [`${name}.`]);
    r = await proxy.request('POST', '/dns/', { body: { fqdn: 'other.example.test', value: '31.150.168.192.in-addr.arpa', type: 'PTR' } });
    assert.equal(r.status, 409, r.body);
    r = await proxy.request('DELETE', '/dns/31.150.168.192.in-addr.arpa');
    assert.equal(r.status, 200, r.body);
    r = await proxy.request('DELETE', `/dns/${name}`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await dig('PTR', '31.150.168.192.in-addr.arpa'), []);
  });

  test('two names for one address share libvirt’s one entry; deleting one keeps the other', async () => {
    const ip = '192.168.150.32';
    for (const fqdn of ['one.example.test', 'two.example.test']) {
      const r = await proxy.request('POST', '/dns/', { body: { fqdn, value: ip, type: 'A' } });
      assert.equal(r.status, 200, r.body);
    }
    assert.deepEqual((await xml()).dnsHosts.find((h) => h.ip === ip)?.hostnames, ['one.example.test', 'two.example.test']);
    assert.deepEqual(await dig('A', 'two.example.test'), [ip]);
    let r = await proxy.request('DELETE', '/dns/one.example.test/A');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(await dig('A', 'one.example.test'), []);
    assert.deepEqual(await dig('A', 'two.example.test'), [ip]);
    r = await proxy.request('DELETE', '/dns/two.example.test/A');
    assert.equal(r.status, 200, r.body);
    assert.equal((await xml()).dnsHosts.some((h) => h.ip === ip), false);
  });

  test('concurrent creates: one writer at a time per network, every distinct name lands, identical ones once', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `burst${i}.example.test`);
    const results = await Promise.all([
      ...names.map((fqdn, i) => proxy.request('POST', '/dns/', { body: { fqdn, value: `192.168.150.${140 + i}`, type: 'A' } })),
      ...Array.from({ length: 4 }, () => proxy.request('POST', '/dns/', { body: { fqdn: 'same.example.test', value: '192.168.150.139', type: 'A' } })),
    ]);
    assert.deepEqual(results.map((r) => r.status), Array(12).fill(200), results.map((r) => r.body).join('|'));
    const hosts = (await xml()).dnsHosts;
    for (const [i, fqdn] of names.entries()) assert.deepEqual(hosts.find((h) => h.ip === `192.168.150.${140 + i}`)?.hostnames, [fqdn]);
    assert.equal(hosts.filter((h) => h.hostnames.includes('same.example.test')).length, 1);
    for (const fqdn of [...names, 'same.example.test']) assert.equal((await proxy.request('DELETE', `/dns/${fqdn}`)).status, 200);
  });

  test('CNAME and SRV are refused with 400 naming the type', async () => {
    let r = await proxy.request('POST', '/dns/', { body: { fqdn: 'alias.example.test', value: 'one.example.test', type: 'CNAME' } });
    assert.equal(r.status, 400);
    assert.equal(r.body, 'Creation of CNAME not implemented');
    r = await proxy.request('DELETE', '/dns/alias.example.test/CNAME');
    assert.equal(r.status, 400);
    assert.equal(r.body, 'Deletion of CNAME not implemented');
  });

  test('GET /dhcp shows what Foreman imports from the network: range, DNS server, domain', async () => {
    const r = await proxy.request('GET', '/dhcp');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), [
      {
        network: '192.168.150.0',
        netmask: '255.255.255.0',
        options: { domain_name: 'example.test', domain_name_servers: [GATEWAY], range: ['192.168.150.100', '192.168.150.200'] },
      },
    ]);
    // The bridge's own address is never suggested.
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const u = await proxy.request('GET', `/dhcp/192.168.150.0/unused_ip?from=192.168.150.1&to=192.168.150.3`);
      seen.add((JSON.parse(u.body) as { ip: string | null }).ip ?? 'null');
    }
    assert.equal(seen.has(GATEWAY), false, [...seen].join(','));
  });

  test('a real DHCP client gets the reserved address, its lease shows in GET /dhcp/:network; after the delete it gets a pool address', async () => {
    const mac = '52:54:00:aa:10:01';
    const ip = '192.168.150.60';
    let r = await proxy.request('POST', '/dhcp/192.168.150.0', { body: { mac, ip, name: 'pxe-host.example.test', hostname: 'pxe-host.example.test' } });
    assert.equal(r.status, 200, r.body);
    const lease = await dhcpRequest(clientNs, clientIf, mac, script);
    assert.equal(lease?.ip, ip, JSON.stringify(lease));
    r = await proxy.request('GET', '/dhcp/192.168.150.0');
    const recs = JSON.parse(r.body) as { leases: { mac: string; ip: string; type: string; ends: string; state: string }[] };
    const l = recs.leases.find((x) => x.mac === mac);
    assert.ok(l, r.body);
    assert.equal(l.ip, ip);
    assert.equal(l.state, 'active');
    assert.match(l.ends, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    // By IP the reservation comes first (the lease is listed only when no reservation has the IP).
    r = await proxy.request('GET', `/dhcp/192.168.150.0/ip/${ip}`);
    assert.equal((JSON.parse(r.body) as { type: string }[])[0]?.type, 'reservation');
    r = await proxy.request('DELETE', `/dhcp/192.168.150.0/mac/${mac}`);
    assert.equal(r.status, 200, r.body);
    // libvirt's dnsmasq no longer holds .60 for it: outside the dynamic range, the host is moved
    // into the pool.
    const again = await dhcpRequest(clientNs, clientIf, mac, script);
    assert.match(again?.ip ?? '', /^192\.168\.150\.(1\d\d|200)$/, JSON.stringify(again));
  });

  test('an address outside the subnet (libvirt would store it) and a non-Ethernet MAC are refused with 400 before libvirt is asked', async () => {
    let r = await proxy.request('POST', '/dhcp/192.168.150.0', { body: { mac: '52:54:00:aa:10:02', ip: '10.9.8.7', name: 'outside.example.test' } });
    assert.equal(r.status, 400, r.body);
    assert.equal(r.body, 'Invalid IP Address 10.9.8.7: not in subnet 192.168.150.0/255.255.255.0');
    assert.equal((await xml()).ipv4[0]?.hosts.some((h) => h.mac === '52:54:00:aa:10:02'), false);
    // 20 octets (InfiniBand): libvirt's <host mac> is Ethernet only.
    const mac20 = Array.from({ length: 20 }, (_, i) => (i + 16).toString(16)).join(':');
    r = await proxy.request('POST', '/dhcp/192.168.150.0', { body: { mac: mac20, ip: '192.168.150.61', name: 'ib.example.test' } });
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /6-octet/);
    assert.equal((await xml()).ipv4[0]?.hosts.some((h) => h.ip === '192.168.150.61'), false);
  });
});

describe('dns_libvirt and dhcp_libvirt: backend faults', { timeout: 120_000 }, () => {
  let lab: LibvirtLab;
  before(async () => {
    lab = await startLibvirtd();
    await startNetwork(lab, NETWORK, networkXml(`spvf${randomBytes(3).toString('hex')}`));
  });
  after(async () => {
    await lab?.stop();
  });

  test('a network libvirt does not have: 400 naming the network and libvirt’s reason', async () => {
    const proxy = await startTestProxy({ files: { ...proxyFiles(lab.url), dhcp_libvirt: { ':url': lab.url, ':network': 'nosuch' }, dns_libvirt: { ':url': lab.url, ':network': 'nosuch' } } });
    try {
      let r = await proxy.request('GET', '/dhcp');
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /nosuch/);
      assert.match(r.body, /Network not found/);
      r = await proxy.request('POST', '/dns/', { body: { fqdn: 'x.example.test', value: '192.168.150.9', type: 'A' } });
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /^Error adding DNS A record: libvirt network 'nosuch'/);
    } finally {
      await proxy.close();
    }
  });

  test('libvirtd not answering (stopped with SIGSTOP): 400 within the deadline, other routes still answer', async () => {
    const proxy = await startTestProxy({ files: proxyFiles(lab.url, { ':timeout': 1.5 }) });
    process.kill(lab.daemon.pid, 'SIGSTOP');
    try {
      const [dhcp, dns, features] = await Promise.all([
        proxy.request('GET', '/dhcp'),
        proxy.request('POST', '/dns/', { body: { fqdn: 'slow.example.test', value: '192.168.150.8', type: 'A' } }),
        proxy.request('GET', '/features'),
      ]);
      assert.equal(features.status, 200);
      assert.equal(dhcp.status, 400, dhcp.body);
      assert.match(dhcp.body, /got no answer from libvirt .* within 1\.5 s/);
      assert.equal(dns.status, 400, dns.body);
      assert.match(dns.body, /within 1\.5 s/);
    } finally {
      process.kill(lab.daemon.pid, 'SIGCONT');
      await proxy.close();
    }
  });

  test('libvirtd down (no socket): 400 saying libvirt cannot be reached', async () => {
    const url = `qemu:///system?socket=${lab.dir}/sock/absent-sock`;
    const proxy = await startTestProxy({ files: proxyFiles(url) });
    try {
      const r = await proxy.request('POST', '/dhcp/192.168.150.0', { body: { mac: '52:54:00:aa:20:01', ip: '192.168.150.70', name: 'down.example.test' } });
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /failed to connect to the hypervisor/);
      const d = await proxy.request('DELETE', '/dns/down.example.test');
      assert.equal(d.status, 400, d.body);
      assert.match(d.body, /^Error removing DNS A record: .*Failed to connect socket/);
    } finally {
      await proxy.close();
    }
  });
});
