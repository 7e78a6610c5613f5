// A real PowerDNS Authoritative server (gsqlite3 backend, HTTP API on) for tests, on free
// loopback ports, with zones created through its own API.

import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { digShort } from '../lib/dig.ts';
import {
  execFileP,
  freeTcpPort,
  freeUdpTcpPort,
  removeDir,
  requireCommand,
  startDaemon,
  stopDaemon,
  tempDir,
  waitForDaemon,
  type Daemon,
} from '../lib/procs.ts';

export interface Pdns {
  dir: string;
  dnsPort: number;
  apiPort: number;
  apiKey: string;
  apiUrl: string;
  daemon: Daemon | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }>;
  createZone(name: string): Promise<void>;
  dig(name: string, type: string, extra?: string[]): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function createPdns(): Promise<Pdns> {
  const bin = requireCommand('pdns_server');
  const sqlite = requireCommand('sqlite3');
  const dig = requireCommand('dig');
  const schema = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql';
  const dir = await tempDir('pdns');
  const dnsPort = await freeUdpTcpPort();
  const apiPort = await freeTcpPort();
  const apiKey = randomBytes(12).toString('hex');
  const db = join(dir, 'pdns.sqlite3');
  await execFileP(sqlite, [db, `.read ${schema}`]);
  await writeFile(
    join(dir, 'pdns.conf'),
    [
      'launch=gsqlite3',
      `gsqlite3-database=${db}`,
      'gsqlite3-pragma-synchronous=0',
      'local-address=127.0.0.1',
      `local-port=${dnsPort}`,
      `socket-dir=${dir}`,
      'daemon=no',
      'guardian=no',
      'disable-syslog=yes',
      'loglevel=4',
      'security-poll-suffix=',
      'only-notify=',
      'api=yes',
      `api-key=${apiKey}`,
      'webserver=yes',
      'webserver-address=127.0.0.1',
      `webserver-port=${apiPort}`,
      'webserver-allow-from=127.0.0.0/8,::1/128',
      'default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 3600',
      '',
    ].join('\n'),
  );
  const apiUrl = `http://127.0.0.1:${apiPort}/api/v1/servers/localhost`;
  const p: Pdns = {
    dir,
    dnsPort,
    apiPort,
    apiKey,
    apiUrl,
    daemon: undefined,
    async api(method, path, body) {
      const res = await request(`${apiUrl}${path}`, {
        method: method as 'GET',
        headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.statusCode, body: await res.body.text() };
    },
    async start() {
      const daemon = startDaemon('pdns', bin, [`--config-dir=${dir}`], dir);
      p.daemon = daemon;
      await waitForDaemon(daemon, `pdns_server API on 127.0.0.1:${apiPort}`, async () => (await p.api('GET', '')).status === 200, 20_000, 200);
    },
    async stop() {
      await stopDaemon(p.daemon);
      p.daemon = undefined;
    },
    async createZone(name) {
      const r = await p.api('POST', '/zones', { name: `${name}.`, kind: 'Native', nameservers: [`ns1.${name}.`] });
      if (r.status !== 201) throw new Error(`creating zone ${name}: ${r.status} ${r.body}`);
    },
    dig: (name, type, extra = []) => digShort(dig, dnsPort, name, type, extra),
    async cleanup() {
      await p.stop();
      await removeDir(dir);
    },
  };
  return p;
}
