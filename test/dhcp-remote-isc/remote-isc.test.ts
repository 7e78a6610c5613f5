// The DHCP module with the dhcp_remote_isc provider against a real ISC dhcpd (in a network
// namespace, OMAPI brought to a loopback port by isc-env) whose dhcpd.conf and leases file the
// proxy reads through another path: a bind mount of dhcpd's directory, as an NFS mount of the
// remote host's files would be. Reservations are observed in the leases file dhcpd itself writes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dhcpConformance } from '../lib/dhcp-conformance.ts';
import { execFileP, removeDir, tempDir } from '../lib/procs.ts';
import { hostFromLeases, startIscEnv, type IscEnv } from '../dhcp/isc-env.ts';

const NET = '192.168.122.0';

describe('/dhcp with dhcp_remote_isc: dhcpd files through a mount, OMAPI over the network', { timeout: 240_000 }, () => {
  let env: IscEnv;
  let proxy: TestProxy;
  let mountRoot: string;
  let mnt: string;
  let mounted = false;

  const remoteFiles = (extra: Record<string, unknown> = {}): Record<string, Record<string, unknown>> => ({
    dhcp: { ':enabled': true, ':use_provider': 'dhcp_remote_isc', ':server': '127.0.0.1', ':ping_free_ip': false },
    dhcp_remote_isc: {
      ':config': join(mnt, 'dhcpd.conf'),
      ':leases': join(mnt, 'dhcpd.leases'),
      ':omapi_port': env.omapiPort,
      ':key_name': env.keyName,
      ':key_secret': env.keySecret,
      ':omapi_timeout': 3,
      ...extra,
    },
  });

  before(async () => {
    env = await startIscEnv();
    await env.startDhcpd();
    mountRoot = await tempDir('spremote');
    mnt = join(mountRoot, 'mnt');
    await mkdir(mnt);
    await execFileP('mount', ['--bind', '-o', 'ro', env.dir, mnt], { timeout: 10_000 });
    mounted = true;
    proxy = await startTestProxy({ files: remoteFiles() });
  });
  after(async () => {
    await proxy?.close();
    if (mounted) await execFileP('umount', [mnt], { timeout: 10_000 });
    if (mountRoot) await removeDir(mountRoot);
    await env?.close();
  });

  describe('shared DHCP conformance', () => {
    dhcpConformance(() => ({
      request: (method, path, options) => proxy.request(method, path, options),
      network: NET,
      netmask: '255.255.255.0',
      freePair: ['192.168.122.120', '192.168.122.121'],
      reservation: async (mac) => hostFromLeases(await readFile(env.leases, 'utf8'), mac),
    }));
  });

  test('the files are read through the mount, not from where dhcpd keeps them', async () => {
    const r = await proxy.request('GET', '/v2/features');
    assert.equal(JSON.parse(r.body).dhcp.state, 'running');
    const { stdout } = await execFileP('findmnt', ['-n', '-o', 'OPTIONS', mnt]);
    assert.match(stdout, /\bro\b/, 'the proxy can only read the mount');
  });

  test('a lease dhcpd hands out to a real client is seen through the mount', async () => {
    const mac = '52:54:00:5e:00:01';
    const lease = await env.dhclient(mac);
    assert.ok(lease, 'dhclient got an address');
    // No waiting: each request first applies what dhcpd appended (on a real NFS mount no
    // change notification would arrive; on this bind mount one does, so this alone does not
    // tell the two apart — the dhcpd.conf test below does).
    const r = await proxy.request('GET', `/dhcp/${NET}/mac/${mac}`);
    assert.equal(r.status, 200, r.body);
    const rec = JSON.parse(r.body) as { type: string; ip: string; state: string };
    assert.equal(rec.type, 'lease');
    assert.equal(rec.ip, lease.ip);
    assert.equal(rec.state, 'active');
  });

  test('a subnet added to the remote dhcpd.conf is listed by the next request (the plugin re-reads it)', async () => {
    await appendFile(
      env.conf,
      ['', 'subnet 10.99.0.0 netmask 255.255.255.0 {', '  range 10.99.0.100 10.99.0.150;', '  option routers 10.99.0.1;', '}', ''].join('\n'),
    );
    const r = await proxy.request('GET', '/dhcp');
    assert.equal(r.status, 200, r.body);
    const nets = (JSON.parse(r.body) as { network: string }[]).map((s) => s.network);
    assert.deepEqual(nets.sort(), ['10.99.0.0', NET]);
    // and the reservations written before are still known (the leases file was read again too)
    const u = await proxy.request('GET', '/dhcp/10.99.0.0/unused_ip');
    assert.equal(u.status, 200, u.body);
    assert.match(JSON.parse(u.body).ip as string, /^10\.99\.0\./);
  });

  test('the remote dhcpd down: a write fails with a clear error within omapi_timeout, reads still answer from the files', async () => {
    await env.stopDhcpd();
    try {
      const r = await proxy.request('POST', `/dhcp/${NET}`, {
        body: { ip: '192.168.122.140', mac: '52:54:00:5e:00:02', name: 'down.example.test', hostname: 'down.example.test' },
      });
      assert.ok(r.status === 503 || r.status === 400, `${r.status} ${r.body}`);
      assert.match(r.body, /No response from DHCP server/);
      const list = await proxy.request('GET', `/dhcp/${NET}`);
      assert.equal(list.status, 200, list.body);
    } finally {
      await env.startDhcpd();
    }
  });

  test('a mount that is missing at start fails the module with the path and the reason', async () => {
    const missing = join(mountRoot, 'not-mounted');
    const p = await startTestProxy({ files: { ...remoteFiles(), dhcp_remote_isc: { ...remoteFiles().dhcp_remote_isc, ':config': join(missing, 'dhcpd.conf') } } });
    try {
      const v2 = JSON.parse((await p.request('GET', '/v2/features')).body) as Record<string, { state: string; settings?: unknown }>;
      assert.equal(v2.dhcp?.state, 'failed', JSON.stringify(v2.dhcp));
      // the reason, as GET /logs reports it
      const failed = p.proxy.failedModules;
      assert.match(failed.dhcp ?? '', new RegExp(`${missing.replace(/[/.]/g, '\\$&')}/dhcpd\\.conf`), JSON.stringify(failed));
    } finally {
      await p.close();
    }
  });
});
