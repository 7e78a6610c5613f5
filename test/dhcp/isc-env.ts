// A real ISC dhcpd with OMAPI inside a network namespace created for this run, a second namespace
// for the DHCP client joined to it by a veth pair, and a socat forwarder that brings dhcpd's
// OMAPI port to 127.0.0.1 (OMAPI has no bind option; the namespace keeps it off the host).
// Everything is torn down by PID and by the names created here, also when setup fails midway.

import { randomBytes, randomInt } from 'node:crypto';
import { writeFile, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createVethLab, deleteNamespaces, ip } from '../lib/netns.ts';
import {
  execFileP,
  freeTcpPort,
  removeDir,
  requireCommand,
  startDaemon,
  stopDaemon,
  tempDir,
  waitFor,
  waitForDaemon,
  sleep,
  type Daemon,
} from '../lib/procs.ts';
import type { BackendReservation } from '../lib/dhcp-conformance.ts';

export interface IscEnv {
  dir: string;
  conf: string;
  leases: string;
  omapiPort: number;
  keyName: string;
  keySecret: string;
  keyAlgorithm: string;
  nsServer: string;
  nsClient: string;
  clientIf: string;
  dhcpd(): Daemon | undefined;
  startDhcpd(): Promise<void>;
  stopDhcpd(): Promise<void>;
  /** One DORA exchange from the client namespace with `mac`; the offered address and options. */
  dhclient(mac: string): Promise<ClientLease | undefined>;
  close(): Promise<void>;
}

export interface ClientLease {
  ip: string;
  nextServer?: string;
  filename?: string;
}

export interface IscEnvOptions {
  /** Extra dhcpd.conf text appended after the subnet. */
  extraConf?: string;
  keyAlgorithm?: string;
}

/** Deadline of each `ip` call setting up the namespaces. */
const IP_TIMEOUT_MS = 10_000;

export async function startIscEnv(opts: IscEnvOptions = {}): Promise<IscEnv> {
  requireCommand('dhcpd');
  requireCommand('dhclient');
  requireCommand('socat');
  requireCommand('ip');
  const dir = await tempDir('spisc');
  const tag = randomBytes(3).toString('hex');
  const nsServer = `spisc-${tag}-srv`;
  const nsClient = `spisc-${tag}-cli`;
  const srvIf = `spi${tag}s`;
  const clientIf = `spi${tag}c`;
  const keyName = 'omapi_key';
  const keyAlgorithm = opts.keyAlgorithm ?? 'hmac-md5';
  const keySecret = randomBytes(32).toString('base64');
  const conf = join(dir, 'dhcpd.conf');
  const leases = join(dir, 'dhcpd.leases');
  let dhcpd: Daemon | undefined;
  let forwarder: Daemon | undefined;
  const clients: number[] = [];
  const namespaces: string[] = [];
  const omapiPort = await freeTcpPort();

  const close = async (): Promise<void> => {
    for (const pid of clients) await killByPid(pid, 'dhclient');
    await stopDaemon(forwarder);
    await stopDaemon(dhcpd);
    await deleteNamespaces(namespaces);
    await removeDir(dir);
  };

  try {
    await writeFile(
      conf,
      [
        'authoritative;',
        'ddns-update-style none;',
        'default-lease-time 600;',
        'max-lease-time 7200;',
        'omapi-port 7911;',
        `key ${keyName} {`,
        `  algorithm ${keyAlgorithm};`,
        `  secret "${keySecret}";`,
        '};',
        `omapi-key ${keyName};`,
        '',
        'subnet 192.168.122.0 netmask 255.255.255.0 {',
        '  range 192.168.122.100 192.168.122.199;',
        '  option routers 192.168.122.1;',
        '  option subnet-mask 255.255.255.0;',
        '  option domain-name "example.test";',
        '  option domain-name-servers 192.168.122.1;',
        '}',
        opts.extraConf ?? '',
        '',
      ].join('\n'),
    );
    await writeFile(leases, '');
    await mkdir(join(dir, 'client'));
    await execFileP('dhcpd', ['-t', '-q', '-cf', conf], { timeout: 10_000 });

    await createVethLab(
      { nsServer, nsClient, ifServer: srvIf, ifClient: clientIf, serverCidr: '192.168.122.1/24' },
      namespaces,
      IP_TIMEOUT_MS,
    );
  } catch (e) {
    await close();
    throw e;
  }

  const env: IscEnv = {
    dir,
    conf,
    leases,
    omapiPort,
    keyName,
    keySecret,
    keyAlgorithm,
    nsServer,
    nsClient,
    clientIf,
    dhcpd: () => dhcpd,
    async startDhcpd() {
      const daemon = startDaemon(
        'dhcpd',
        'ip',
        ['netns', 'exec', nsServer, 'dhcpd', '-4', '-f', '-d', '-cf', conf, '-lf', leases, '-pf', join(dir, 'dhcpd.pid'), srvIf],
        dir,
      );
      dhcpd = daemon;
      await waitForDaemon(daemon, 'dhcpd OMAPI listening', async () => {
        const { stdout } = await execFileP('ip', ['netns', 'exec', nsServer, 'ss', '-Hltn', 'sport = :7911']);
        return stdout.includes('LISTEN');
      });
      if (!forwarder || forwarder.exited) {
        forwarder = startDaemon(
          'omapi-forwarder',
          'socat',
          [
            `TCP4-LISTEN:${omapiPort},bind=127.0.0.1,reuseaddr,fork`,
            `EXEC:ip netns exec ${nsServer} socat STDIO TCP4\\:127.0.0.1\\:7911`,
          ],
          dir,
        );
        await waitFor('OMAPI forwarder', async () => {
          const { stdout } = await execFileP('ss', ['-Hltn', `sport = :${omapiPort}`]);
          return stdout.includes('LISTEN');
        });
      }
    },
    async stopDhcpd() {
      await stopDaemon(dhcpd);
      dhcpd = undefined;
    },
    async dhclient(mac: string) {
      await ip(['-n', nsClient, 'link', 'set', clientIf, 'address', mac], IP_TIMEOUT_MS);
      const n = randomInt(1, 1_000_000);
      const lf = join(dir, 'client', `c${n}.leases`);
      const pf = join(dir, 'client', `c${n}.pid`);
      // -1: one attempt; without -sf the script would rewrite the host's resolver config.
      const r = await execFileP(
        'timeout',
        ['40', 'ip', 'netns', 'exec', nsClient, 'dhclient', '-4', '-1', '-v', '-sf', '/usr/bin/env', '-lf', lf, '-pf', pf, clientIf],
        { timeout: 60_000 },
      ).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
      if (existsSync(pf)) {
        const pid = Number((await readFile(pf, 'utf8')).trim());
        if (pid > 0) {
          clients.push(pid);
          await killByPid(pid, 'dhclient');
        }
      }
      // Release nothing: just forget the address so the next exchange starts from scratch.
      await execFileP('ip', ['-n', nsClient, 'addr', 'flush', 'dev', clientIf]).catch(() => undefined);
      // The -sf program is /usr/bin/env: dhclient hands it the lease as new_* variables.
      const vars = new Map<string, string>();
      for (const line of r.stdout.split('\n')) {
        const eq = line.indexOf('=');
        if (line.startsWith('new_') && eq > 0) vars.set(line.slice(0, eq), line.slice(eq + 1));
      }
      const ack = /DHCPACK of (\d+\.\d+\.\d+\.\d+)/.exec(r.stderr);
      if (!ack) return undefined;
      const lease: ClientLease = { ip: ack[1] };
      const nextServer = vars.get('new_next_server');
      if (nextServer) lease.nextServer = nextServer;
      const filename = vars.get('new_filename');
      if (filename) lease.filename = filename;
      return lease;
    },
    close,
  };
  return env;
}

async function killByPid(pid: number, comm: string): Promise<void> {
  try {
    const c = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
    if (c !== comm) return;
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50; i++) {
    if (!existsSync(`/proc/${pid}`)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** The proxy's dhcp and dhcp_isc settings files for a dhcpd set-up (for startTestProxy's `files`). */
export function iscProxyFiles(o: {
  config: string;
  leases: string;
  omapiPort: number;
  omapiTimeout: number;
  key?: { name: string; secret: string };
}): Record<string, Record<string, unknown>> {
  return {
    dhcp: { ':enabled': true, ':use_provider': 'dhcp_isc', ':server': '127.0.0.1', ':ping_free_ip': false },
    dhcp_isc: {
      ':config': o.config,
      ':leases': o.leases,
      ':omapi_port': o.omapiPort,
      ...(o.key ? { ':key_name': o.key.name, ':key_secret': o.key.secret } : {}),
      ':omapi_timeout': o.omapiTimeout,
    },
  };
}

/** iscProxyFiles for the dhcpd of `env`. */
export function envProxyFiles(env: IscEnv, omapiTimeout: number): Record<string, Record<string, unknown>> {
  return iscProxyFiles({ config: env.conf, leases: env.leases, omapiPort: env.omapiPort, omapiTimeout, key: { name: env.keyName, secret: env.keySecret } });
}

/**
 * What dhcpd's leases file says of `mac` now: host declarations are appended in order, and a
 * deletion is a later declaration of the same host name with `deleted;` (and no address).
 */
export function hostFromLeases(text: string, mac: string): BackendReservation | undefined {
  const byName = new Map<string, BackendReservation | undefined>();
  for (const m of text.matchAll(/host\s+(\S+)\s*\{([^}]*)\}/g)) {
    const [, name, body] = m;
    if (/\bdeleted;/.test(body)) {
      byName.set(name, undefined);
      continue;
    }
    const hw = /hardware ethernet ([0-9a-f:]+);/i.exec(body)?.[1]?.toLowerCase();
    const ip = /fixed-address ([0-9.]+);/.exec(body)?.[1];
    if (hw && ip) byName.set(name, { ip, mac: hw });
  }
  return [...byName.values()].find((r) => r?.mac === mac);
}
