// /facts over real HTTP, checked against independent sources on the same machine: `uname`,
// `nproc`, `ip -j addr`, /etc/os-release and /proc/meminfo.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { execFileP, requireCommand } from '../lib/procs.ts';

let proxy: TestProxy;

before(async () => {
  proxy = await startTestProxy({ files: { facts: { ':enabled': true } } });
});
after(async () => {
  await proxy?.close();
});

interface FactsShape {
  kernel: string;
  kernelrelease: string;
  processors: { count: number };
  processorcount: number;
  memory: { system: { total_bytes: number; total: string } };
  os: { release: { major: string }; family: string };
  operatingsystemmajrelease: string;
  osfamily: string;
  hostname: string;
  interfaces: string;
  networking: {
    hostname: string;
    primary?: string;
    interfaces: Record<string, { mtu?: number; mac?: string; network?: string; bindings?: Array<{ address: string }> }>;
  };
  [legacy: string]: unknown;
}

async function facts(): Promise<FactsShape> {
  const res = await proxy.request('GET', '/facts');
  assert.equal(res.status, 200, res.body);
  assert.match(res.headers['content-type'], /^application\/json/);
  return JSON.parse(res.body);
}

test('kernel, processors, memory and OS match the system tools', async () => {
  const f = await facts();
  assert.equal(f.kernel, (await execFileP(requireCommand('uname'), ['-s'])).stdout.trim());
  assert.equal(f.kernelrelease, (await execFileP(requireCommand('uname'), ['-r'])).stdout.trim());
  assert.equal(f.processors.count, Number((await execFileP(requireCommand('nproc'), ['--all'])).stdout.trim()));
  assert.equal(f.processorcount, f.processors.count);
  const memKb = Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);
  assert.equal(f.memory.system.total_bytes, memKb * 1024);
  assert.match(f.memory.system.total, /^\d+\.\d\d [KMGT]iB$/);
  const rel = readFileSync('/etc/os-release', 'utf8');
  const versionId = /^VERSION_ID="?([^"\n]*)"?/m.exec(rel)?.[1] ?? '';
  assert.equal(f.os.release.major, versionId.split('.')[0]);
  assert.equal(f.operatingsystemmajrelease, f.os.release.major);
  assert.equal(f.osfamily, f.os.family);
  const hostname = (await execFileP(requireCommand('hostname'), [])).stdout.trim().split('.')[0];
  assert.equal(f.hostname, hostname);
  assert.equal(f.networking.hostname, hostname);
});

test('interfaces and addresses match `ip -j addr`', async () => {
  const f = await facts();
  const ip = JSON.parse((await execFileP(requireCommand('ip'), ['-j', 'addr'])).stdout) as Array<{
    ifname: string;
    address?: string;
    mtu: number;
    addr_info: Array<{ family: string; local: string; prefixlen: number }>;
  }>;
  // Other tests may add or remove links meanwhile: compare the links both views have, and
  // require loopback and the primary interface.
  const shared = ip.filter((l) => f.networking.interfaces[l.ifname] !== undefined);
  assert.ok(shared.some((l) => l.ifname === 'lo'));
  if (f.networking.primary) assert.ok(shared.some((l) => l.ifname === f.networking.primary));
  for (const link of shared) {
    const iface = f.networking.interfaces[link.ifname];
    assert.equal(iface.mtu, link.mtu, `${link.ifname} mtu`);
    const v4 = link.addr_info.filter((a) => a.family === 'inet').map((a) => a.local);
    assert.deepEqual((iface.bindings ?? []).map((b) => b.address), v4, `${link.ifname} IPv4`);
    if (v4.length) assert.equal(f[`ipaddress_${link.ifname}`], v4[0]);
    if (link.address && link.address !== '00:00:00:00:00:00') assert.equal(iface.mac, link.address);
  }
  assert.deepEqual(f.interfaces.split(','), Object.keys(f.networking.interfaces));
  assert.equal(f.networking.interfaces.lo.network, '127.0.0.0');
});

test('one fact by name; unknown names are 400, null/false values 404', async () => {
  const k = await proxy.request('GET', '/facts/kernel');
  assert.equal(k.status, 200);
  assert.deepEqual(JSON.parse(k.body), { kernel: 'Linux' });
  const nested = JSON.parse((await proxy.request('GET', '/facts/os')).body);
  assert.equal(typeof nested.os.family, 'string');
  const unknown = await proxy.request('GET', '/facts/no_such_fact');
  assert.equal(unknown.status, 400);
  // The legacy selinux fact is false without SELinux (Debian's default), and false means 404.
  const selinux = await proxy.request('GET', '/facts/selinux');
  if (existsSync('/sys/fs/selinux/enforce')) assert.equal(selinux.status, 200);
  else {
    assert.equal(selinux.status, 404);
    assert.equal(selinux.body, 'Fact selinux not found');
  }
  assert.equal((await proxy.request('GET', '/facts/')).status, 200);
  const v2 = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, unknown>;
  assert.deepEqual(v2.facts, { http_enabled: true, https_enabled: true, settings: {}, state: 'running', capabilities: [] });
});
