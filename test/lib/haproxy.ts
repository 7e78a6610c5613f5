// HAProxy on 127.0.0.1 in front of N proxy replicas, as a deployment would run them.
//
// Mode tcp (TLS pass-through), not http: the replicas authenticate Foreman and pull-mode hosts by
// their client certificates, so the TLS session must end at the replica. Terminating TLS in HAProxy
// would need the proxy to trust certificate details forwarded in headers, which it (rightly) does
// not. Health checks are TCP connects every 300 ms (a dead replica's port refuses at once), one
// failure takes a server out; `option redispatch` + `retries` send a connection that hit a dead
// server before its check did to another one. The admin socket lets tests wait for a server to be
// marked DOWN instead of sleeping.

import { createConnection } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, stopDaemon, waitForDaemon, freeTcpPort, requireCommand, execFileP, type Daemon } from './procs.ts';

export interface HaproxyBackend {
  /** Server name in HAProxy (shown by serverStates). */
  name: string;
  host?: string;
  port: number;
}

export interface Haproxy {
  readonly port: number;
  readonly daemon: Daemon;
  /** Server name → status as HAProxy sees it (UP, DOWN, MAINT, …, with transitions like "UP 1/2"). */
  serverStates(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

function adminCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(socket);
    let out = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
    c.setTimeout(5000, () => c.destroy(new Error(`haproxy admin socket: '${command}' timed out`)));
    c.end(`${command}\n`);
  });
}

/** Starts HAProxy in `dir` (a temp dir the caller owns and removes) in front of `backends`. */
export async function startHaproxy(dir: string, backends: readonly HaproxyBackend[]): Promise<Haproxy> {
  if (backends.length === 0) throw new Error('startHaproxy: at least one backend');
  for (const b of backends) {
    if (!/^[A-Za-z0-9_.-]+$/.test(b.name)) throw new Error(`startHaproxy: backend name '${b.name}': use letters, digits, _ . -`);
  }
  const bin = requireCommand('haproxy');
  const port = await freeTcpPort();
  const adminSocket = join(dir, 'haproxy-admin.sock');
  const config = [
    'global',
    '  maxconn 512',
    `  stats socket ${adminSocket} mode 600 level admin`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 65s',
    '  timeout server 65s',
    '  retries 3',
    '  option redispatch',
    '',
    'frontend replicas',
    `  bind 127.0.0.1:${port}`,
    '  default_backend replicas',
    '',
    'backend replicas',
    '  balance roundrobin',
    ...backends.map((b) => `  server ${b.name} ${b.host ?? '127.0.0.1'}:${b.port} check inter 300ms fall 1 rise 2`),
    '',
  ].join('\n');
  const configFile = join(dir, 'haproxy.cfg');
  await writeFile(configFile, config);
  await execFileP(bin, ['-c', '-q', '-f', configFile]).catch((err: Error & { stderr?: string }) => {
    throw new Error(`haproxy rejects its test config: ${err.stderr ?? err.message}\n${config}`);
  });
  // -db: foreground, no daemonizing, so the PID we hold is HAProxy's own.
  const daemon = startDaemon('haproxy', bin, ['-db', '-f', configFile], dir);
  const serverStates = async (): Promise<Record<string, string>> => {
    const csv = await adminCommand(adminSocket, 'show stat');
    const lines = csv.split('\n').filter((l) => l.trim() !== '');
    const header = (lines[0] ?? '').replace(/^# /, '').split(',');
    const col = (name: string): number => header.indexOf(name);
    const out: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      const sv = f[col('svname')] ?? '';
      if (f[col('pxname')] === 'replicas' && sv !== 'FRONTEND' && sv !== 'BACKEND') out[sv] = f[col('status')] ?? '';
    }
    return out;
  };
  try {
    await waitForDaemon(daemon, 'haproxy to listen', async () => {
      await new Promise<void>((resolve, reject) => {
        const c = createConnection({ host: '127.0.0.1', port }, () => {
          c.destroy();
          resolve();
        });
        c.on('error', reject);
      });
      return (await adminCommand(adminSocket, 'show info')).includes('Name: HAProxy');
    });
  } catch (err) {
    await stopDaemon(daemon);
    throw err;
  }
  return { port, daemon, serverStates, stop: () => stopDaemon(daemon) };
}
