// The DHCP module's pure rules (identical re-post, input checks), then its routes in-process
// (fastify inject) with a fake provider: shapes, statuses, error bodies and the error policy.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import { sameReservation } from './api.ts';
import { DhcpError } from './errors.ts';
import dhcp from './module.ts';
import type { DhcpProvider, DhcpRecord, DhcpSubnet, Lease, NewReservation, Reservation, SubnetRecords, UnusedIpQuery } from './provider.ts';
import { requireIp, requireMac, macList, checkText } from './validate.ts';

const stored: Reservation = {
  type: 'reservation',
  name: 'h.example',
  ip: '10.0.0.5',
  mac: '52:54:00:00:00:01',
  deleteable: true,
  options: { hostname: 'h.example', hardware_type: 'ethernet', nextServer: '10.0.0.1', filename: 'pxelinux.0' },
};

test('identical re-post ignores parser-derived attributes but not boot settings', () => {
  const posted = { name: 'h.example', ip: '10.0.0.5', mac: '52:54:00:00:00:01', hostname: 'h.example', nextServer: '10.0.0.1', filename: 'pxelinux.0' };
  assert.ok(sameReservation(stored, posted));
  assert.ok(sameReservation(stored, { ...posted, nextServer: 'tftp.example' }));
  assert.ok(!sameReservation(stored, { ...posted, filename: 'grubx64.efi' }));
  assert.ok(!sameReservation(stored, { ...posted, nextServer: '10.0.0.2' }));
  assert.ok(!sameReservation(stored, { ...posted, hostname: 'other' }));
  assert.ok(!sameReservation(stored, { ...posted, ip: '10.0.0.6' }));
  const { filename: _f, ...noFile } = posted;
  assert.ok(!sameReservation(stored, noFile));
});

test('validation messages name the value', () => {
  assert.throws(() => requireIp('10.0.0'), /^ProxyError: Invalid IP Address 10\.0\.0$/);
  assert.throws(() => requireIp(null), /Invalid IP Address $/);
  assert.equal(requireMac('52:54:00:AA:b:1'), '52:54:00:aa:0b:01');
  assert.throws(() => requireMac('52:54:00:AA:BB'), /Invalid MAC 52:54:00:aa:bb$/);
  assert.deepEqual(macList(null), []);
  assert.deepEqual(macList(['52:54:00:00:00:0A']), ['52:54:00:00:00:0a']);
  assert.throws(() => checkText('filename', 'a\nb'), /Invalid filename/);
});

// ---- routes through inject() with a fake provider -----------------------------------------

class FakeDhcp implements DhcpProvider {
  supportsVendorOptions = false;
  readonly subnet: DhcpSubnet = {
    network: '10.0.0.0',
    netmask: '255.255.255.0',
    options: { routers: ['10.0.0.1'], range: ['10.0.0.100', '10.0.0.200'] },
  };
  reservations: Reservation[] = [
    { type: 'reservation', name: 'static.example', ip: '10.0.0.10', mac: '52:54:00:00:00:10', deleteable: false, options: { hostname: 'static.example' } },
    { type: 'reservation', name: 'made.example', ip: '10.0.0.11', mac: '52:54:00:00:00:11', deleteable: true, options: { hostname: 'made.example', filename: 'pxelinux.0' } },
  ];
  leases: Lease[] = [
    { type: 'lease', name: 'lease-525400000020', ip: '10.0.0.20', mac: '52:54:00:00:00:20', starts: '2024-01-04 10:00:00 UTC', ends: null, state: 'active', options: { cltt: '2024-01-04 10:00:00 UTC' } },
  ];
  readonly calls: string[] = [];
  failure: Error | undefined;

  async subnets(): Promise<DhcpSubnet[]> {
    if (this.failure) throw this.failure;
    return [this.subnet];
  }
  async findSubnet(address: string): Promise<DhcpSubnet | undefined> {
    return address.startsWith('10.0.0.') ? this.subnet : undefined;
  }
  async subnetRecords(): Promise<SubnetRecords> {
    return { reservations: this.reservations, leases: this.leases };
  }
  async findByIp(_s: DhcpSubnet, ip: string): Promise<DhcpRecord[]> {
    const r = this.reservations.filter((x) => x.ip === ip);
    if (r.length > 0) return r;
    return this.leases.filter((x) => x.ip === ip);
  }
  async findByMac(_s: DhcpSubnet, mac: string): Promise<DhcpRecord | undefined> {
    return this.reservations.find((x) => x.mac === mac) ?? this.leases.find((x) => x.mac === mac);
  }
  async unusedIp(_s: DhcpSubnet, q: UnusedIpQuery): Promise<string | null> {
    this.calls.push(`unused ${q.from ?? '-'} ${q.to ?? '-'} ${q.mac ?? '-'}`);
    return '10.0.0.42';
  }
  async createReservation(_s: DhcpSubnet, r: NewReservation): Promise<void> {
    this.calls.push(`create ${r.name} ${r.ip} ${r.mac}`);
    if (this.failure) throw this.failure;
    const options: Record<string, unknown> = { hostname: r.hostname };
    if (r.filename !== undefined) options.filename = r.filename;
    this.reservations.push({ type: 'reservation', name: r.name, ip: r.ip, mac: r.mac, deleteable: true, options });
  }
  async deleteReservation(_s: DhcpSubnet, r: Reservation): Promise<void> {
    this.calls.push(`delete ${r.name}`);
    this.reservations = this.reservations.filter((x) => x !== r);
  }
}

async function mounted(t: TestContext, fake = new FakeDhcp()) {
  const m = await mountModule(dhcp, { settings: { use_provider: 'dhcp_fake' }, providers: { dhcp_fake: fake } }, t);
  return { ...m, fake };
}

const form = (fields: Record<string, string>) => ({
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  payload: new URLSearchParams(fields).toString(),
});

test('GET /dhcp and /dhcp/<network>: the reference shapes as application/json', async (t) => {
  const { app } = await mounted(t);
  const subnets = await app.inject({ method: 'GET', url: '/dhcp/' });
  assert.equal(subnets.statusCode, 200);
  assert.equal(subnets.headers['content-type'], 'application/json');
  assert.equal(subnets.body, '[{"network":"10.0.0.0","netmask":"255.255.255.0","options":{"routers":["10.0.0.1"],"range":["10.0.0.100","10.0.0.200"]}}]');

  const records = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0' });
  assert.equal(records.statusCode, 200);
  assert.equal(records.headers['content-type'], 'application/json');
  const body = JSON.parse(records.body) as { reservations: Array<Record<string, unknown>>; leases: Array<Record<string, unknown>> };
  assert.deepEqual(Object.keys(body.reservations[0]), ['name', 'ip', 'mac', 'subnet', 'type', 'deleteable', 'hostname']);
  assert.equal(body.reservations[0].subnet, '10.0.0.0/255.255.255.0');
  assert.deepEqual(body.leases[0], {
    name: 'lease-525400000020', ip: '10.0.0.20', mac: '52:54:00:00:00:20', subnet: '10.0.0.0/255.255.255.0',
    starts: '2024-01-04 10:00:00 UTC', ends: null, state: 'active', type: 'lease', cltt: '2024-01-04 10:00:00 UTC',
  });
  // Another address of the subnet: the reference's empty lists.
  assert.equal((await app.inject({ method: 'GET', url: '/dhcp/10.0.0.5' })).body, '{"reservations":[],"leases":[]}');

  const byIp = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/ip/10.0.0.20' });
  assert.equal(byIp.statusCode, 200);
  assert.equal((JSON.parse(byIp.body) as Array<{ type: string }>)[0].type, 'lease');
  const byMac = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/mac/52:54:00:00:00:0B' });
  assert.equal(byMac.statusCode, 404);
  const mac = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/mac/52:54:00:00:00:11' });
  assert.equal((JSON.parse(mac.body) as { name: string }).name, 'made.example');
});

test('404 and 400 texts of the reference', async (t) => {
  const { app } = await mounted(t);
  const cases: Array<[string, number, string]> = [
    ['/dhcp/192.168.1.0', 404, 'Subnet 192.168.1.0 could not found'],
    ['/dhcp/192.168.1.0/unused_ip', 404, 'Subnet 192.168.1.0 could not found'],
    ['/dhcp/10.0.0.0/ip/10.0.0.99', 404, 'No DHCP records for IP 10.0.0.0/10.0.0.99 found'],
    ['/dhcp/10.0.0.0/mac/52:54:00:00:00:99', 404, 'No DHCP record for MAC 10.0.0.0/52:54:00:00:00:99 found'],
    ['/dhcp/10.0.0', 400, 'Invalid IP Address 10.0.0'],
    ['/dhcp/10.0.0.0/mac/52:54:00:AA', 400, 'Invalid MAC 52:54:00:aa'],
  ];
  for (const [url, status, text] of cases) {
    const r = await app.inject({ method: 'GET', url, headers: { accept: 'text/plain' } });
    assert.equal(r.statusCode, status, url);
    assert.equal(r.body, text, url);
    assert.equal(r.headers['content-type'], 'text/html;charset=utf-8', url);
  }
});

test('unused_ip: range checks before the provider, which gets from, to and mac', async (t) => {
  const { app, fake } = await mounted(t);
  const outside = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/unused_ip?from=10.0.0.10&to=10.0.1.20' });
  assertAnswer(outside, 400, 'Range does not belong to provided subnet');
  const reversed = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/unused_ip?from=10.0.0.30&to=10.0.0.20' });
  assertAnswer(reversed, 400, "10.0.0.30 can't be lower IP address than 10.0.0.20 - change the order?");
  const badFrom = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/unused_ip?from=x&to=10.0.0.20' });
  assert.equal(badFrom.body, 'Invalid IP Address x');
  assert.deepEqual(fake.calls, []);
  const ok = await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/unused_ip?from=10.0.0.30&to=10.0.0.40&mac=52:54:00:00:00:01' });
  assert.equal(ok.statusCode, 200);
  assert.equal(ok.headers['content-type'], 'application/json');
  assert.equal(ok.body, '{"ip":"10.0.0.42"}');
  // from without to: the whole subnet.
  await app.inject({ method: 'GET', url: '/dhcp/10.0.0.0/unused_ip?from=10.0.0.30' });
  assert.deepEqual(fake.calls, ['unused 10.0.0.30 10.0.0.40 52:54:00:00:00:01', 'unused - - -']);
});

test('create: 409 for a different record in the way, 200 no-op for an identical one, 400 without a subnet', async (t) => {
  const { app, fake } = await mounted(t);
  const clash = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ name: 'other', ip: '10.0.0.11', mac: '52:54:00:00:00:99' }) });
  assertAnswer(clash, 409, 'Record 10.0.0.0/10.0.0.11 already exists');
  const same = await app.inject({
    method: 'POST',
    url: '/dhcp/10.0.0.0',
    ...form({ name: 'made.example', ip: '10.0.0.11', mac: '52:54:00:00:00:11', filename: 'pxelinux.0' }),
  });
  assertAnswer(same, 200, '', 'application/json');
  assert.deepEqual(fake.calls, []);
  // A bonded interface's related MAC does not count as a conflict.
  const bonded = await app.inject({
    method: 'POST',
    url: '/dhcp/10.0.0.0',
    ...form({ hostname: 'bond.example', ip: '10.0.0.11', mac: '52:54:00:00:00:12', 'related_macs[]': '52:54:00:00:00:11' }),
  });
  assert.equal(bonded.statusCode, 200);
  assert.deepEqual(fake.calls, ['create bond.example 10.0.0.11 52:54:00:00:00:12']);

  const noSubnet = await app.inject({ method: 'POST', url: '/dhcp/192.168.1.0', ...form({ name: 'x', ip: '192.168.1.5', mac: '52:54:00:00:00:01' }) });
  assertAnswer(noSubnet, 400, 'No Subnet detected for: 192.168.1.0');
  const noName = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ ip: '10.0.0.5', mac: '52:54:00:00:00:01' }) });
  assert.equal(noName.body, 'Must provide hostname');
  const vendor = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ name: 'v', ip: '10.0.0.5', mac: '52:54:00:00:00:01', '<SUNW.x>root_server_ip': '10.0.0.1' }) });
  assertAnswer(vendor, 400, 'DHCP implementation does not support Vendor Options');
  const control = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ name: 'a\nb', ip: '10.0.0.5', mac: '52:54:00:00:00:01' }) });
  assert.equal(control.body, 'Invalid name: control characters are not allowed');
});

test('POST refuses values dhcpd cannot write back to dhcpd.leases (or Kea would mis-store), naming the field', async (t) => {
  const fake = new FakeDhcp();
  fake.supportsVendorOptions = true;
  const { app } = await mounted(t, fake);
  const base = { name: 'ok.example', ip: '10.0.0.60', mac: '52:54:00:00:00:60' };
  const hostile: Array<[string, string]> = [
    ['hostname', 'x"; option routers 127.0.0.9; next-server 127.0.0.9; "y'],
    ['hostname', 'abc\\'],
    ['hostname', 'a b'],
    ['hostname', 'h\u00e9.example'],
    ['filename', 'f"x'],
    ['filename', 'f\\'],
    ['filename', 'pxe\u00e9.efi'],
    ['filename', 'a\tb'],
    ['name', 'a b'],
    ['name', 'a{b'],
    ['name', 'a}b'],
    ['name', 'a;b'],
    ['name', 'a#b'],
    ['name', 'a"b'],
    ['name', 'a\\b'],
    ['name', '_a.example'],
    ['name', 'a.._b'],
    ['name', '.a'],
    ['name', 'a..b'],
    ['name', `${'a'.repeat(250)}.example`],
    ['nextServer', 'tftp"x'],
    ['nextServer', 'tftp\\'],
    ['nextServer', 'a,b.example'],
    ['<SUNW.Ultra-5_10>root_path_name', '/export/"root'],
    ['<SUNW.Ultra-5_10>root_path_name', '/export/root\\'],
  ];
  for (const [field, value] of hostile) {
    const r = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ ...base, [field]: value }) });
    assert.equal(r.statusCode, 400, `${field}=${JSON.stringify(value)}: ${r.body}`);
    assert.ok(r.body.startsWith(`Invalid ${field}: `), `${field}=${JSON.stringify(value)}: ${r.body}`);
  }
  assert.deepEqual(fake.calls, []);
  const say = async (field: string, value: string): Promise<string> =>
    (await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ ...base, [field]: value }) })).body;
  assert.equal(await say('name', 'a{b'), "Invalid name: '{' is not allowed (a host name holds letters, digits, '-', '_' and '.')");
  assert.equal(await say('hostname', 'a..b'), "Invalid hostname: 'a..b' has an empty label (a leading '.' or '..')");
  assert.equal(await say('name', 'x._y'), "Invalid name: label '_y' starts with '_' (dhcpd cannot read such a name back)");
  assert.equal(await say('filename', 'a\\'), "Invalid filename: '\\' is not allowed (printable ASCII other than '\"' and '\\' only)");
  assert.equal(await say('name', 'a\nb'), 'Invalid name: control characters are not allowed');
  // What Foreman sends: FQDNs, short names, `-01` suffixes of extra NICs, IPs or names as next-server.
  const fine: Array<Record<string, string>> = [
    { name: 'host.example.com', hostname: 'host.example.com', filename: 'grub2/grubx64.efi', nextServer: '10.0.0.1' },
    { name: 'host.example.com-01', hostname: 'Host.Example.com.', filename: "pxelinux.0 $'`", nextServer: 'tftp.example.com' },
    { name: 'a_b-1', hostname: 'a_b-1', '<SUNW.Ultra-5_10>root_path_name': '/export/root/a b' },
  ];
  let n = 61;
  for (const f of fine) {
    const r = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ ip: `10.0.0.${n}`, mac: `52:54:00:00:00:${n}`, ...f }) });
    assert.equal(r.statusCode, 200, `${JSON.stringify(f)}: ${r.body}`);
    n++;
  }
});

test('delete: a static reservation or a lease is 400, a made one goes, a missing subnet or record is 200', async (t) => {
  const { app, fake } = await mounted(t);
  const fixed = await app.inject({ method: 'DELETE', url: '/dhcp/10.0.0.0/ip/10.0.0.10' });
  assertAnswer(fixed, 400, 'static.example (10.0.0.10 / 52:54:00:00:00:10) is static - unable to delete');
  const lease = await app.inject({ method: 'DELETE', url: '/dhcp/10.0.0.0/mac/52:54:00:00:00:20' });
  assertAnswer(lease, 400, '10.0.0.20 / 52:54:00:00:00:20 is static - unable to delete');
  const made = await app.inject({ method: 'DELETE', url: '/dhcp/10.0.0.0/mac/52:54:00:00:00:11' });
  assertAnswer(made, 200, '', 'text/html;charset=utf-8');
  assert.deepEqual(fake.calls, ['delete made.example']);
  assert.equal((await app.inject({ method: 'DELETE', url: '/dhcp/192.168.1.0/ip/192.168.1.5' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'DELETE', url: '/dhcp/10.0.0.0/ip/10.0.0.99' })).statusCode, 200);
});

test('method override: a POST with _method=DELETE or the header deletes; another method is 404', async (t) => {
  const { app, fake } = await mounted(t);
  const byField = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0/mac/52:54:00:00:00:11', ...form({ _method: 'delete' }) });
  assert.equal(byField.statusCode, 200);
  assert.deepEqual(fake.calls, ['delete made.example']);
  const byHeader = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0/ip/10.0.0.10', headers: { 'x-http-method-override': 'DELETE' } });
  assertAnswer(byHeader, 400, /is static - unable to delete$/);
  const plainPost = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0/ip/10.0.0.10' });
  assertAnswer(plainPost, 404, 'Requested url was not found');
  const put = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ _method: 'PUT', name: 'x', ip: '10.0.0.5', mac: '52:54:00:00:00:01' }) });
  assert.equal(put.statusCode, 404);
  assert.deepEqual(fake.calls, ['delete made.example']);
});

test('error policy: a table error keeps its status, a plain provider Error is 400 with its message', async (t) => {
  const { app, fake } = await mounted(t);
  fake.failure = new Error('dhcp/kea: cannot read the configuration: Kea Control Agent unreachable');
  const plain = await app.inject({ method: 'GET', url: '/dhcp' });
  assertAnswer(plain, 400, 'dhcp/kea: cannot read the configuration: Kea Control Agent unreachable', 'application/json');

  fake.failure = DhcpError.conflict('Hardware address conflict.');
  const table = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ name: 'n', ip: '10.0.0.50', mac: '52:54:00:00:00:50' }) });
  assertAnswer(table, 409, 'Hardware address conflict.');

  fake.failure = DhcpError.omapi_failed('Failed to add DHCP reservation for n (10.0.0.50 / 52:54:00:00:00:50): No response from DHCP server (timeout)');
  const omapi = await app.inject({ method: 'POST', url: '/dhcp/10.0.0.0', ...form({ name: 'n', ip: '10.0.0.50', mac: '52:54:00:00:00:50' }) });
  assertAnswer(omapi, 400, /^Failed to add DHCP reservation for n .*: No response from DHCP server/);
});

test('settings: ping_free_ip must be a boolean', async () => {
  await assert.rejects(
    mountModule(dhcp, { settings: { ping_free_ip: 'sometimes' }, providers: { dhcp_isc: new FakeDhcp() } }),
    /^Error: Setting 'ping_free_ip' is expected to be true\/false$/,
  );
});
