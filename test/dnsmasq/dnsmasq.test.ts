// dhcp_dnsmasq against a real dnsmasq (Debian dnsmasq-base) serving DHCP in a network namespace,
// configured as the plugin asks (dhcp-hostsfile=<target_dir>/dhcphosts,
// dhcp-optsfile=<target_dir>/dhcpopts.conf), and a real DHCP client (busybox udhcpc) in a client
// namespace joined by a veth pair: the reservation the proxy writes is what the client is offered.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { dhcpConformance, type BackendReservation } from '../lib/dhcp-conformance.ts';
import { createVethLab, deleteNamespaces, type VethLab } from '../lib/netns.ts';
import { removeDir, requireCommand, startDaemon, stopDaemon, tempDir, waitFor, waitForDaemon, type Daemon } from '../lib/procs.ts';
import { dhcpRequest, writeClientScript } from './dhcp-client.ts';

const NET = '192.168.160';

const DNSMASQ_CONF = `# written by the test
dhcp-range=${NET}.100,${NET}.200,255.255.255.0,12h
dhcp-option=option:router,${NET}.1
dhcp-option=6,${NET}.1,${NET}.2
dhcp-option=option:domain-name,example.test
dhcp-host=52:54:00:de:ad:01,${NET}.5,static-host
`;

interface DnsmasqLab {
  dir: string;
  targetDir: string;
  leaseFile: string;
  pidFile: string;
  confFile: string;
  veth: VethLab;
  daemon: Daemon;
  script: string;
  stop(): Promise<void>;
}

/** `hosts`: how dnsmasq reads the proxy's directory (the plugin documents dhcp-hostsfile). */
async function startDnsmasq(hosts: 'dhcp-hostsfile' | 'dhcp-hostsdir' = 'dhcp-hostsfile'): Promise<DnsmasqLab> {
  const dnsmasq = requireCommand('dnsmasq');
  const dir = await tempDir('dm');
  const id = randomBytes(3).toString('hex');
  const veth: VethLab = { nsServer: `spdm-s-${id}`, nsClient: `spdm-c-${id}`, ifServer: `dms${id}`, ifClient: `dmc${id}`, serverCidr: `${NET}.1/24` };
  const namespaces: string[] = [];
  let daemon: Daemon | undefined;
  const stop = async (): Promise<void> => {
    await stopDaemon(daemon);
    await deleteNamespaces(namespaces);
    await removeDir(dir);
  };
  try {
    const targetDir = join(dir, 'target');
    await mkdir(join(targetDir, 'dhcphosts'), { recursive: true });
    await writeFile(join(targetDir, 'dhcpopts.conf'), '');
    const confFile = join(dir, 'dnsmasq.conf');
    await writeFile(confFile, DNSMASQ_CONF);
    const leaseFile = join(dir, 'dhcp.leases');
    await writeFile(leaseFile, '');
    const pidFile = join(dir, 'dnsmasq.pid');
    await createVethLab(veth, namespaces);
    daemon = startDaemon('dnsmasq', 'ip', [
      'netns', 'exec', veth.nsServer, dnsmasq,
      '--keep-in-foreground', '--log-facility=-', '--log-dhcp',
      `--conf-file=${confFile}`,
      `--pid-file=${pidFile}`,
      `--dhcp-leasefile=${leaseFile}`,
      `--${hosts}=${join(targetDir, 'dhcphosts')}`,
      `--dhcp-optsfile=${join(targetDir, 'dhcpopts.conf')}`,
      '--port=0', // DHCP only
      `--interface=${veth.ifServer}`, '--bind-interfaces',
      // The temp dir is root's (0700): stay root to read the proxy's files.
      '--user=root', '--group=root',
    ], dir);
    const d = daemon;
    await waitForDaemon(d, 'dnsmasq to write its pid file', async () => (await readFile(pidFile, 'utf8')).trim() === String(d.pid), 15_000);
    const script = await writeClientScript(dir);
    return { dir, targetDir, leaseFile, pidFile, confFile, veth, daemon: d, script, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function proxyFiles(lab: DnsmasqLab, extra: Record<string, unknown> = {}): Record<string, Record<string, unknown>> {
  return {
    dhcp: { ':enabled': true, ':use_provider': 'dhcp_dnsmasq', ':ping_free_ip': false },
    dhcp_dnsmasq: {
      ':config': lab.confFile,
      ':target_dir': lab.targetDir,
      ':lease_file': lab.leaseFile,
      ':pid_file': lab.pidFile,
      ...extra,
    },
  };
}

/** What dnsmasq is told for a MAC: the proxy's host files, read as dnsmasq reads them (mac,…,ip,name). */
async function hostEntry(lab: DnsmasqLab, mac: string): Promise<BackendReservation | undefined> {
  for (const name of await readdir(join(lab.targetDir, 'dhcphosts'))) {
    for (const line of (await readFile(join(lab.targetDir, 'dhcphosts', name), 'utf8')).split('\n')) {
      const fields = line.trim().split(',');
      if (fields[0]?.toLowerCase() !== mac) continue;
      const plain = fields.filter((f) => !f.startsWith('set:'));
      return { mac, ip: plain[1]!, hostname: plain[2] };
    }
  }
  return undefined;
}

/** The line count of dnsmasq's log that says it re-read the hosts directory (SIGHUP handled). */
const rereads = (lab: DnsmasqLab): number => (lab.daemon.log().match(/read .*dhcphosts/g) ?? []).length;
/** How often dnsmasq has read the optsfile: once at start and once per SIGHUP handled. */
const optsReads = (lab: DnsmasqLab): number => (lab.daemon.log().match(/read .*dhcpopts\.conf/g) ?? []).length;

describe('dhcp_dnsmasq against a real dnsmasq and a real DHCP client', { timeout: 180_000 }, () => {
  let lab: DnsmasqLab;
  let proxy: TestProxy;
  before(async () => {
    lab = await startDnsmasq();
    proxy = await startTestProxy({ files: proxyFiles(lab) });
  });
  after(async () => {
    await proxy?.close();
    await lab?.stop();
  });

  describe('dhcp conformance', () => {
    dhcpConformance(() => ({
      request: (m, p, o) => proxy.request(m, p, o),
      network: `${NET}.0`,
      netmask: '255.255.255.0',
      freePair: [`${NET}.40`, `${NET}.41`],
      reservation: (mac) => hostEntry(lab, mac),
    }));
  });

  test('GET /dhcp: the subnet from dhcp-range with its dhcp-option values; a dhcp-host of the config is static', async () => {
    let r = await proxy.request('GET', '/dhcp');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), [
      {
        network: `${NET}.0`,
        netmask: '255.255.255.0',
        options: { routers: [`${NET}.1`], domain_name_servers: [`${NET}.1`, `${NET}.2`], domain_name: 'example.test', range: [`${NET}.100`, `${NET}.200`] },
      },
    ]);
    r = await proxy.request('GET', `/dhcp/${NET}.0/mac/52:54:00:de:ad:01`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), {
      name: 'static-host', ip: `${NET}.5`, mac: '52:54:00:de:ad:01', subnet: `${NET}.0/255.255.255.0`, type: 'reservation', deleteable: false, hostname: 'static-host',
    });
    r = await proxy.request('DELETE', `/dhcp/${NET}.0/mac/52:54:00:de:ad:01`);
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /static - unable to delete/);
  });

  test('the client gets the reserved address; its lease shows with the range’s lease time; after delete it gets a pool address', async () => {
    const mac = '52:54:00:aa:30:01';
    const ip = `${NET}.60`;
    const before = rereads(lab);
    let r = await proxy.request('POST', `/dhcp/${NET}.0`, { body: { mac, ip, name: 'plain-host.example.test', hostname: 'plain-host.example.test' } });
    assert.equal(r.status, 200, r.body);
    await waitFor('dnsmasq to re-read the hosts directory after SIGHUP', () => rereads(lab) > before, 10_000);
    const lease = await dhcpRequest(lab.veth.nsClient, lab.veth.ifClient, mac, lab.script);
    assert.equal(lease?.ip, ip, `${JSON.stringify(lease)}\n${lab.daemon.log().slice(-2000)}`);

    r = await proxy.request('GET', `/dhcp/${NET}.0`);
    const recs = JSON.parse(r.body) as { leases: { mac: string; ip: string; starts: string; ends: string; client_hostname?: string }[] };
    const l = recs.leases.find((x) => x.mac === mac);
    assert.ok(l, `lease listed: ${r.body}`);
    assert.equal(l.ip, ip);
    // 12h lease time of the range: starts is ends less 12 hours.
    assert.equal(Date.parse(l.ends.replace(' UTC', 'Z')) - Date.parse(l.starts.replace(' UTC', 'Z')), 12 * 3600 * 1000);

    const hups = optsReads(lab);
    r = await proxy.request('DELETE', `/dhcp/${NET}.0/mac/${mac}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(await hostEntry(lab, mac), undefined);
    await waitFor('dnsmasq to handle the SIGHUP', () => optsReads(lab) > hups, 10_000);
    // The reservation is gone from what dnsmasq hands out: .60 lies outside the dynamic range, so
    // the same host is moved into the pool.
    const other = await dhcpRequest(lab.veth.nsClient, lab.veth.ifClient, mac, lab.script);
    assert.match(other?.ip ?? '', new RegExp(`^${NET.replace(/\./g, '\\.')}\\.(1\\d\\d|200)$`), `${JSON.stringify(other)}\n${lab.daemon.log().slice(-3000)}`);
  });

  // Runs last against this dnsmasq: dnsmasq 2.90 (Debian 12) crashes on the first DHCP packet
  // after a SIGHUP once a host of its dhcp-hostsfile that carries a set: tag holds a lease (see the
  // README); so no DHCP packet follows this test's delete.
  test('boot file and TFTP server go through dhcpopts.conf tags: the client is offered them; delete prunes the tags', async () => {
    const mac = '52:54:00:aa:30:11';
    const ip = `${NET}.61`;
    const before = rereads(lab);
    let r = await proxy.request('POST', `/dhcp/${NET}.0`, {
      body: { mac, ip, name: 'pxe-host', hostname: 'pxe-host', filename: 'pxelinux.0', nextServer: `${NET}.1` },
    });
    assert.equal(r.status, 200, r.body);
    await waitFor('dnsmasq to re-read the hosts directory after SIGHUP', () => rereads(lab) > before, 10_000);
    assert.match(await readFile(join(lab.targetDir, 'dhcpopts.conf'), 'utf8'), /^tag:bf_pxelinux_0,option:bootfile-name,pxelinux\.0$/m);
    const lease = await dhcpRequest(lab.veth.nsClient, lab.veth.ifClient, mac, lab.script);
    assert.equal(lease?.ip, ip, `${JSON.stringify(lease)}\n${lab.daemon.log().slice(-2000)}`);
    assert.equal(lease.bootFile, 'pxelinux.0');
    assert.equal(lease.tftp, `${NET}.1`);
    r = await proxy.request('GET', `/dhcp/${NET}.0/mac/${mac}`);
    const res = JSON.parse(r.body) as { filename?: string; nextServer?: string };
    assert.equal(res.filename, 'pxelinux.0');
    assert.equal(res.nextServer, `${NET}.1`);
    r = await proxy.request('DELETE', `/dhcp/${NET}.0/mac/${mac}`);
    assert.equal(r.status, 200, r.body);
    assert.equal(await hostEntry(lab, mac), undefined);
    assert.equal(await readFile(join(lab.targetDir, 'dhcpopts.conf'), 'utf8'), '', 'the unused tags are pruned');
  });

  test('hostile values are refused with 400 naming the field, and nothing is written', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ filename: 'pxe,linux.0' }, /^Invalid filename: ',' is not allowed/],
      [{ filename: 'pxe linux.0' }, /^Invalid filename: whitespace is not allowed/],
      [{ filename: 'a#b' }, /^Invalid filename: '#' is not allowed/],
      [{ name: 'evil\ndhcp-range=10.0.0.1,10.0.0.2' }, /^Invalid name: control characters/],
      [{ name: 'a,b' }, /^Invalid name: ',' is not allowed/],
      [{ ip: '10.1.2.3' }, /^Invalid IP Address 10\.1\.2\.3: not in subnet/],
    ];
    const files = async (): Promise<string[]> => (await readdir(join(lab.targetDir, 'dhcphosts'))).sort();
    const beforeFiles = await files();
    for (const [extra, message] of cases) {
      const r = await proxy.request('POST', `/dhcp/${NET}.0`, { body: { mac: '52:54:00:aa:40:01', ip: `${NET}.70`, name: 'hostile', ...extra } });
      assert.equal(r.status, 400, `${JSON.stringify(extra)}: ${r.body}`);
      assert.match(r.body, message);
    }
    assert.deepEqual(await files(), beforeFiles);
  });
});

describe('dhcp_dnsmasq: reload faults and reload_cmd', { timeout: 120_000 }, () => {
  let lab: DnsmasqLab;
  before(async () => {
    lab = await startDnsmasq();
  });
  after(async () => {
    await lab?.stop();
  });

  const post = (proxy: TestProxy, mac: string, ip: string) => proxy.request('POST', `/dhcp/${NET}.0`, { body: { mac, ip, name: 'reload-host' } });

  test("the plugin's reload_cmd (here `kill -HUP <pid>`, no shell) makes dnsmasq re-read", async () => {
    const proxy = await startTestProxy({ files: proxyFiles(lab, { ':pid_file': null, ':reload_cmd': `/usr/bin/kill -HUP ${lab.daemon.pid}` }) });
    try {
      const before = rereads(lab);
      const r = await post(proxy, '52:54:00:aa:50:01', `${NET}.80`);
      assert.equal(r.status, 200, r.body);
      await waitFor('dnsmasq to re-read', () => rereads(lab) > before, 10_000);
      const lease = await dhcpRequest(lab.veth.nsClient, lab.veth.ifClient, '52:54:00:aa:50:01', lab.script);
      assert.equal(lease?.ip, `${NET}.80`);
      assert.equal((await proxy.request('DELETE', `/dhcp/${NET}.0/mac/52:54:00:aa:50:01`)).status, 200);
    } finally {
      await proxy.close();
    }
  });

  test('pid file missing: 400 saying so, and the reservation file is taken back', async () => {
    const proxy = await startTestProxy({ files: proxyFiles(lab, { ':pid_file': join(lab.dir, 'absent.pid') }) });
    try {
      const r = await post(proxy, '52:54:00:aa:50:02', `${NET}.81`);
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /^Failed to reload configuration: pid_file .*absent\.pid cannot be read \(ENOENT\); is dnsmasq running\?$/);
      assert.equal(await hostEntry(lab, '52:54:00:aa:50:02'), undefined);
      assert.equal((await proxy.request('GET', `/dhcp/${NET}.0/mac/52:54:00:aa:50:02`)).status, 404);
    } finally {
      await proxy.close();
    }
  });

  test('a stale pid file (no such process): 400 saying dnsmasq is not running', async () => {
    const stale = join(lab.dir, 'stale.pid');
    await writeFile(stale, '999999\n');
    const proxy = await startTestProxy({ files: proxyFiles(lab, { ':pid_file': stale }) });
    try {
      const r = await post(proxy, '52:54:00:aa:50:03', `${NET}.82`);
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /PID 999999 .*no such process; dnsmasq is not running/);
    } finally {
      await proxy.close();
      await rm(stale, { force: true });
    }
  });

  test('reload_cmd failing or hanging: 400 within reload_timeout, other requests still answered', async () => {
    let proxy = await startTestProxy({ files: proxyFiles(lab, { ':pid_file': null, ':reload_cmd': '/bin/false' }) });
    try {
      const r = await post(proxy, '52:54:00:aa:50:04', `${NET}.83`);
      assert.equal(r.status, 400, r.body);
      assert.equal(r.body, "Failed to reload configuration: '/bin/false' exited with 1");
    } finally {
      await proxy.close();
    }
    proxy = await startTestProxy({ files: proxyFiles(lab, { ':pid_file': null, ':reload_cmd': '/bin/sleep 30', ':reload_timeout': 1 }) });
    try {
      const [r, list] = await Promise.all([post(proxy, '52:54:00:aa:50:05', `${NET}.84`), proxy.request('GET', '/dhcp')]);
      assert.equal(list.status, 200, list.body);
      assert.equal(r.status, 400, r.body);
      assert.equal(r.body, "Failed to reload configuration: '/bin/sleep 30' did not finish within 1 s");
      assert.equal(await hostEntry(lab, '52:54:00:aa:50:05'), undefined);
    } finally {
      await proxy.close();
    }
  });

  test('settings: a reload_cmd that needs a shell, or a config that is not a path, fails the module with the key named', async () => {
    for (const [extra, message] of [
      [{ ':pid_file': null, ':reload_cmd': 'kill -HUP $(cat /run/dnsmasq.pid)' }, /reload_cmd.*without a shell: '\$' is not supported/],
      [{ ':config': [] }, /config must be a path or a non-empty list of paths/],
    ] as const) {
      const proxy = await startTestProxy({ files: proxyFiles(lab, extra) });
      try {
        const record = proxy.proxy.records.get('dhcp');
        assert.equal(record?.state, 'failed');
        assert.match(record?.failure ?? '', message);
      } finally {
        await proxy.close();
      }
    }
  });
});

describe('dhcp_dnsmasq with dnsmasq reading the directory as dhcp-hostsdir', { timeout: 60_000 }, () => {
  let lab: DnsmasqLab;
  let proxy: TestProxy;
  before(async () => {
    lab = await startDnsmasq('dhcp-hostsdir');
    proxy = await startTestProxy({ files: proxyFiles(lab) });
  });
  after(async () => {
    await proxy?.close();
    await lab?.stop();
  });

  test('a reservation is served; after its delete (and the SIGHUP dnsmasq needs for removals) the host gets a pool address', async () => {
    const mac = '52:54:00:aa:60:01';
    const ip = `${NET}.90`;
    let before = rereads(lab);
    let r = await proxy.request('POST', `/dhcp/${NET}.0`, { body: { mac, ip, name: 'dir-host.example.test' } });
    assert.equal(r.status, 200, r.body);
    await waitFor('dnsmasq to read the new host file', () => rereads(lab) > before, 10_000);
    const lease = await dhcpRequest(lab.veth.nsClient, lab.veth.ifClient, mac, lab.script);
    assert.equal(lease?.ip, ip, `${JSON.stringify(lease)}\n${lab.daemon.log().slice(-2000)}`);
    before = optsReads(lab);
    r = await proxy.request('DELETE', `/dhcp/${NET}.0/ip/${ip}`);
    assert.equal(r.status, 200, r.body);
    // SIGHUP re-reads the optsfile too: that line shows the signal was handled.
    await waitFor('dnsmasq to handle the SIGHUP', () => optsReads(lab) > before, 10_000);
    // The same host asks again: .90 lies outside the dynamic range, so without the reservation
    // dnsmasq moves it into the pool (had the removal not been read, it would offer .90 again).
    const again = await dhcpRequest(lab.veth.nsClient, lab.veth.ifClient, mac, lab.script);
    assert.match(again?.ip ?? '', new RegExp(`^${NET.replace(/\./g, '\\.')}\\.(1\\d\\d|200)$`), `${JSON.stringify(again)}\n${lab.daemon.log().slice(-2000)}`);
  });
});
