// Helpers for the TFTP integration tests: tftpd-hpa started by PID on loopback, the real
// tftp-hpa and busybox clients, and a UDP relay that can drop chosen packets between a client
// and a server (fault injection on loopback; nothing leaves the machine).

import { createSocket, type Socket } from 'node:dgram';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { startDaemon, stopDaemon, waitFor, execFileP, requireCommand, type Daemon } from '../lib/procs.ts';
import { decode } from '../../src/lib/tftp/packet.ts';

export async function udpListening(port: number): Promise<boolean> {
  const { stdout } = await execFileP('ss', ['-Hlun', `sport = :${port}`]);
  return stdout.includes(`127.0.0.1:${port}`);
}

export async function startTftpdHpa(root: string, port: number, dir: string): Promise<Daemon> {
  const bin = requireCommand('in.tftpd');
  const d = startDaemon('tftpd', bin, ['--foreground', '--listen', '--address', `127.0.0.1:${port}`, '--secure', '--user', 'tftp', '--verbose', root], dir);
  try {
    await waitFor(`tftpd-hpa on 127.0.0.1:${port}`, async () => !d.exited && (await udpListening(port)), 15_000, 200);
  } catch (err) {
    await stopDaemon(d);
    throw err;
  }
  return d;
}

/** tftp-hpa client: `get remote local` in `cwd`. Returns its output (it exits 0 even on errors). */
export async function tftpHpaGet(port: number, remote: string, local: string, cwd: string, mode: 'binary' | 'netascii' = 'binary'): Promise<string> {
  const bin = requireCommand('tftp');
  const { stdout, stderr } = await execFileP(bin, ['-m', mode, '127.0.0.1', String(port), '-c', 'get', remote, local], { cwd, timeout: 300_000 });
  return stdout + stderr;
}

/** busybox tftp client with an optional blksize; rejects on failure (it exits non-zero). */
export async function busyboxGet(port: number, remote: string, local: string, cwd: string, blksize?: number): Promise<void> {
  const bin = requireCommand('busybox');
  const args = ['tftp', '-g', '-r', remote, '-l', local];
  if (blksize !== undefined) args.push('-b', String(blksize));
  args.push('127.0.0.1', String(port));
  await execFileP(bin, args, { cwd, timeout: 300_000 });
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}

/**
 * A relay on 127.0.0.1: the client talks to `port`, the relay talks to the server's listening
 * port and then to the transfer's TID. `drop` decides, per packet and direction, whether to lose it.
 */
export class DropRelay {
  readonly dropped: string[] = [];
  readonly seen: string[] = [];
  private readonly front: Socket = createSocket('udp4');
  private readonly back: Socket = createSocket('udp4');
  private readonly serverPort: number;
  private client: { address: string; port: number } | null = null;
  private serverTid: number | null = null;
  private readonly drop: (dir: 'c2s' | 's2c', what: string) => boolean;

  constructor(serverPort: number, drop: (dir: 'c2s' | 's2c', what: string) => boolean) {
    this.serverPort = serverPort;
    this.drop = drop;
  }

  private static label(m: Buffer): string {
    try {
      const p = decode(m);
      return p.op === 'DATA' || p.op === 'ACK' ? `${p.op} ${p.block}` : p.op;
    } catch {
      return 'garbage';
    }
  }

  async start(): Promise<number> {
    await Promise.all([this.front, this.back].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', r))));
    this.front.on('message', (m, rinfo) => {
      this.client = { address: rinfo.address, port: rinfo.port };
      const what = DropRelay.label(m);
      this.seen.push(`c2s ${what}`);
      if (this.drop('c2s', what)) return void this.dropped.push(`c2s ${what}`);
      this.back.send(m, this.serverTid ?? this.serverPort, '127.0.0.1');
    });
    this.back.on('message', (m, rinfo) => {
      if (rinfo.port !== this.serverPort) this.serverTid = rinfo.port;
      const what = DropRelay.label(m);
      this.seen.push(`s2c ${what}`);
      if (this.drop('s2c', what)) return void this.dropped.push(`s2c ${what}`);
      if (this.client) this.front.send(m, this.client.port, this.client.address);
    });
    return this.front.address().port;
  }

  close(): void {
    this.front.close();
    this.back.close();
  }
}
