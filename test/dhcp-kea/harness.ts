// Real Kea for tests: kea-dhcp4 inside a network namespace of its own, kea-ctrl-agent on
// 127.0.0.1 (it reaches kea-dhcp4 through the unix control socket, which namespaces do not
// isolate), and a second namespace joined by a veth pair where busybox udhcpc plays the host
// being provisioned. Everything lives in a fresh temp dir and is torn down by PID and by name of
// the namespaces this run created (prefix `spkea-`), also when a test fails.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { Agent, request } from 'undici';
import { makePki } from '../lib/certs.ts';
import { join } from 'node:path';
import {
  execFileP,
  freeTcpPort,
  removeDir,
  requireCommand,
  startDaemon,
  stopDaemon,
  tempDir,
  waitForDaemon,
  type Daemon,
} from '../lib/procs.ts';
import { createVethLab, deleteNamespaces, ip } from '../lib/netns.ts';

export const SUBNET = '192.168.122.0';
export const NETMASK = '255.255.255.0';
export const SERVER_IP = '192.168.122.1';

export interface KeaLab {
  dir: string;
  /** Control Agent URL. */
  url: string;
  user: string;
  password: string;
  passwordFile: string;
  dhcp4ConfigFile: string;
  /** With `tls`: the CA that signed the agent's certificate, and a client certificate it accepts. */
  tlsFiles?: { ca: string; cert: string; key: string; otherCert: string; otherKey: string };
  nsServer: string;
  nsClient: string;
  /** Run one DHCP exchange from the client namespace with this MAC. */
  dhcpClient(mac: string): Promise<DhcpOffer>;
  /** Send one command straight to the agent (bypassing the proxy) for checks. */
  agent(command: string, args?: unknown): Promise<{ result: number; text?: string; arguments?: unknown }>;
  stopDhcp4(): Promise<void>;
  startDhcp4(): Promise<void>;
  /** SIGSTOP / SIGCONT the agent: a hung backend that accepts connections and never answers. */
  freezeAgent(): void;
  thawAgent(): void;
  stopAgent(): Promise<void>;
  close(): Promise<void>;
}

export interface DhcpOffer {
  /** udhcpc exit code: 0 bound, 1 no lease. */
  code: number;
  ip?: string;
  siaddr?: string;
  bootFile?: string;
  hostname?: string;
  output: string;
}

/**
 * Settings files that enable the dhcp module with the dhcp_kea provider pointed at this lab's
 * agent and credentials, plus the test's own dhcp_kea keys.
 */
export function keaProxyFiles(lab: KeaLab, kea: Record<string, unknown>): Record<string, Record<string, unknown>> {
  return {
    dhcp: { ':enabled': true, ':use_provider': 'dhcp_kea', ':ping_free_ip': false },
    dhcp_kea: { ':url': lab.url, ':user': lab.user, ':password_file': lab.passwordFile, ...kea },
  };
}

/** Once its reservation is deleted, the real client gets a pool address other than `reservedIp` and no boot file. */
export async function assertPoolLeaseOnly(lab: KeaLab, mac: string, reservedIp: string): Promise<void> {
  const after = await lab.dhcpClient(mac);
  assert.equal(after.code, 0, after.output);
  assert.notEqual(after.ip, reservedIp, after.output);
  assert.match(after.ip ?? '', /^192\.168\.122\.1\d\d$/, after.output);
  assert.equal(after.bootFile, undefined, after.output);
}

function hooksDir(): string {
  for (const base of ['/usr/lib', '/usr/lib64']) {
    let entries: string[] = [];
    try {
      entries = readdirSync(base);
    } catch {
      continue;
    }
    for (const e of entries) {
      const dir = join(base, e, 'kea', 'hooks');
      try {
        if (statSync(join(dir, 'libdhcp_lease_cmds.so')).isFile()) return dir;
      } catch {
        /* not this one */
      }
    }
  }
  throw new Error('Kea hooks directory with libdhcp_lease_cmds.so not found (install kea-dhcp4-server)');
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

export interface LabOptions {
  /** Extra keys merged into the Dhcp4 object. */
  dhcp4?: Record<string, unknown>;
  /** More subnet4 entries after the test subnet (they are not attached to an interface). */
  extraSubnets?: unknown[];
  /** Serve the agent over HTTPS with a test CA, requiring a client certificate. */
  tls?: boolean;
}

/**
 * Namespaces of earlier runs of this harness whose test process died before its teardown (they
 * carry that process's PID). Only empty ones are removed: processes are never killed by name.
 */
async function sweepAbandonedNamespaces(): Promise<void> {
  const { stdout } = await execFileP('ip', ['netns', 'list'], { timeout: 15_000 });
  for (const line of stdout.split('\n')) {
    const m = /^(spkea-(\d+)-[0-9a-f]{6}-[sc])\b/.exec(line);
    if (!m || Number(m[2]) === process.pid) continue;
    try {
      process.kill(Number(m[2]), 0);
      continue; // its test process is still running
    } catch {
      /* owner gone */
    }
    const pids = await execFileP('ip', ['netns', 'pids', m[1]], { timeout: 15_000 }).catch(() => ({ stdout: 'x' }));
    if (pids.stdout.trim() === '') await ip(['netns', 'del', m[1]]).catch(() => undefined);
  }
}

export async function startKeaLab(options: LabOptions = {}): Promise<KeaLab> {
  const keaDhcp4 = requireCommand('kea-dhcp4');
  const keaAgent = requireCommand('kea-ctrl-agent');
  requireCommand('busybox');
  requireCommand('ip');
  const hooks = hooksDir();
  await sweepAbandonedNamespaces();

  const tag = randomBytes(3).toString('hex');
  const nsServer = `spkea-${process.pid}-${tag}-s`;
  const nsClient = `spkea-${process.pid}-${tag}-c`;
  const ifServer = `spk${tag}`;
  const ifClient = `spc${tag}`;
  const dir = await tempDir('spkea');
  const daemons: { dhcp4?: Daemon; agent?: Daemon } = {};
  const createdNs: string[] = [];

  const teardown = async (): Promise<void> => {
    if (daemons.agent && !daemons.agent.exited) tryCont(daemons.agent.pid);
    await stopDaemon(daemons.agent).catch(() => undefined);
    await stopDaemon(daemons.dhcp4).catch(() => undefined);
    await deleteNamespaces(createdNs.reverse());
    await removeDir(dir).catch(() => undefined);
  };

  try {
    await createVethLab({ nsServer, nsClient, ifServer, ifClient, serverCidr: `${SERVER_IP}/24` }, createdNs);

    const sock = join(dir, 'k4.sock');
    const dhcp4ConfigFile = join(dir, 'kea-dhcp4.conf');
    const dhcp4 = {
      Dhcp4: {
        'interfaces-config': { interfaces: [ifServer], 'dhcp-socket-type': 'raw' },
        'control-socket': { 'socket-type': 'unix', 'socket-name': sock },
        'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases4.csv'), 'lfc-interval': 0 },
        'hooks-libraries': [{ library: join(hooks, 'libdhcp_lease_cmds.so') }],
        'valid-lifetime': 600,
        'renew-timer': 300,
        'rebind-timer': 500,
        'host-reservation-identifiers': ['hw-address'],
        'option-data': [{ name: 'domain-name-servers', data: SERVER_IP }],
        subnet4: [
          {
            id: 1,
            subnet: `${SUBNET}/24`,
            interface: ifServer,
            pools: [{ pool: '192.168.122.100 - 192.168.122.199' }],
            'option-data': [
              { name: 'routers', data: SERVER_IP },
              { name: 'domain-name', data: 'example.test' },
            ],
            reservations: [
              { 'hw-address': '52:54:00:aa:bb:20', 'ip-address': '192.168.122.20', hostname: 'static20.example.test' },
            ],
          },
          ...(options.extraSubnets ?? []),
        ],
        loggers: [
          {
            name: 'kea-dhcp4',
            output_options: [{ output: join(dir, 'kea-dhcp4.log'), maxsize: 10485760, maxver: 1 }],
            severity: 'INFO',
          },
        ],
        ...options.dhcp4,
      },
    };
    await writeFile(dhcp4ConfigFile, JSON.stringify(dhcp4, null, 2));

    const user = 'foreman';
    const password = randomBytes(12).toString('hex');
    const passwordFile = join(dir, 'kea-password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    const port = await freeTcpPort();
    let tlsFiles: KeaLab['tlsFiles'];
    const tlsConf: Record<string, unknown> = {};
    if (options.tls) {
      const pki = await makePki(dir);
      const client = await pki.client('foreman-proxy');
      const stranger = await pki.client('stranger', { ca: await pki.otherCa() });
      tlsFiles = { ca: pki.caCert, cert: client.cert, key: client.key, otherCert: stranger.cert, otherKey: stranger.key };
      Object.assign(tlsConf, { 'trust-anchor': pki.caCert, 'cert-file': pki.serverCert, 'key-file': pki.serverKey, 'cert-required': true });
    }
    const agentConf = join(dir, 'kea-ctrl-agent.conf');
    await writeFile(
      agentConf,
      JSON.stringify({
        'Control-agent': {
          'http-host': '127.0.0.1',
          'http-port': port,
          ...tlsConf,
          authentication: { type: 'basic', realm: 'kea-test', clients: [{ user, password }] },
          'control-sockets': { dhcp4: { 'socket-type': 'unix', 'socket-name': sock } },
          loggers: [{ name: 'kea-ctrl-agent', output_options: [{ output: join(dir, 'kea-ctrl-agent.log') }], severity: 'INFO' }],
        },
      }),
    );

    const env = { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
    await execFileP('ip', ['netns', 'exec', nsServer, keaDhcp4, '-t', dhcp4ConfigFile], {
      timeout: 20_000,
      env,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`kea-dhcp4 -t rejected the generated config: ${err.stdout ?? ''}${err.stderr ?? ''}`);
    });

    const startDhcp4 = async (): Promise<void> => {
      const d = startDaemon('kea-dhcp4', 'ip', ['netns', 'exec', nsServer, keaDhcp4, '-c', dhcp4ConfigFile], dir, env);
      daemons.dhcp4 = d;
      await waitForDaemon(d, 'kea-dhcp4 control socket', () => isSocket(sock), 20_000);
    };
    await startDhcp4();
    const agentDaemon = startDaemon('kea-ctrl-agent', keaAgent, ['-c', agentConf], dir, env);
    daemons.agent = agentDaemon;

    const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/`;
    const dispatcher = tlsFiles
      ? new Agent({ connect: { ca: readFileSync(tlsFiles.ca), cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key) } })
      : undefined;
    const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const agent = async (command: string, args?: unknown): Promise<{ result: number; text?: string; arguments?: unknown }> => {
      const body: Record<string, unknown> = { command, service: ['dhcp4'] };
      if (args !== undefined) body.arguments = args;
      const res = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: auth },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
        ...(dispatcher ? { dispatcher } : {}),
      });
      const data = (await res.body.json()) as unknown;
      return (Array.isArray(data) ? data[0] : data) as { result: number; text?: string; arguments?: unknown };
    };
    await waitForDaemon(agentDaemon, 'kea-ctrl-agent', async () => (await agent('version-get')).result === 0, 20_000, 200);

    const script = join(dir, 'udhcpc.sh');
    await writeFile(
      script,
      '#!/bin/sh\n[ "$1" = bound ] && echo "OFFER ip=$ip siaddr=$siaddr boot_file=$boot_file hostname=$hostname"\nexit 0\n',
    );
    await chmod(script, 0o755);

    const dhcpClient = async (mac: string): Promise<DhcpOffer> => {
      await ip(['-n', nsClient, 'link', 'set', ifClient, 'address', mac]);
      let out = '';
      let code = 0;
      try {
        const r = await execFileP(
          'ip',
          ['netns', 'exec', nsClient, 'busybox', 'udhcpc', '-i', ifClient, '-f', '-q', '-n', '-t', '4', '-T', '2', '-s', script],
          { timeout: 30_000 },
        );
        out = `${r.stdout}${r.stderr}`;
      } catch (err) {
        const e = err as { code?: number; stdout?: string; stderr?: string };
        code = typeof e.code === 'number' ? e.code : 1;
        out = `${e.stdout ?? ''}${e.stderr ?? ''}`;
      }
      const m = /OFFER ip=(\S*) siaddr=(\S*) boot_file=(\S*) hostname=(\S*)/.exec(out);
      const offer: DhcpOffer = { code, output: out };
      if (m) {
        if (m[1]) offer.ip = m[1];
        if (m[2]) offer.siaddr = m[2];
        if (m[3]) offer.bootFile = m[3];
        if (m[4]) offer.hostname = m[4];
      }
      return offer;
    };

    return {
      dir,
      url,
      user,
      password,
      passwordFile,
      dhcp4ConfigFile,
      ...(tlsFiles ? { tlsFiles } : {}),
      nsServer,
      nsClient,
      dhcpClient,
      agent,
      stopDhcp4: async () => {
        await stopDaemon(daemons.dhcp4);
      },
      startDhcp4,
      freezeAgent: () => {
        if (daemons.agent && !daemons.agent.exited) process.kill(daemons.agent.pid, 'SIGSTOP');
      },
      thawAgent: () => {
        if (daemons.agent && !daemons.agent.exited) tryCont(daemons.agent.pid);
      },
      stopAgent: async () => {
        if (daemons.agent) tryCont(daemons.agent.pid);
        await stopDaemon(daemons.agent);
      },
      close: async () => {
        await dispatcher?.close();
        await teardown();
      },
    };
  } catch (err) {
    await teardown();
    throw err;
  }
}

function tryCont(pid: number): boolean {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    /* gone */
  }
  return true;
}
