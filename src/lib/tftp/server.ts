// A read-only TFTP server (RFC 1350, options per RFC 2347/2348/2349/7440) confined to one root.
// Each transfer gets its own UDP socket (its TID) connected to the client, so the kernel drops
// datagrams from anyone else and a flood on the listening port cannot disturb running transfers.

import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { realpath } from 'node:fs/promises';
import { isIP } from 'node:net';
import { decode, encodeError, ERROR_CODE, TftpDecodeError } from './packet.ts';
import { negotiate, type NegotiationLimits } from './options.ts';
import { openInsideRoot, tftpRequestPath, ConfineError } from './confine.ts';
import { FileBlockSource } from './source.ts';
import { ReadTransfer, type TransferResult } from './transfer.ts';

export interface TftpLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export interface TftpServerOptions extends NegotiationLimits {
  root: string;
  /** Address to bind: an IPv4 or IPv6 literal (`0.0.0.0`, `::`, `127.0.0.1`). */
  host: string;
  /** UDP port; 0 picks a free one. */
  port: number;
  /** Transfers served at once; further requests get an error straight away. */
  maxTransfers: number;
  maxRetries: number;
  log?: TftpLog;
  /** Told of every transfer that starts and how it ends (the proxy's metrics). */
  observer?: TransferObserver;
}

/** How a transfer ended: sent whole, ended by the client (an ERROR packet), or failed here. */
export type TransferOutcome = 'completed' | 'client_ended' | 'failed';

export interface TransferObserver {
  /** A read request's file is open and its transfer is being set up. */
  started(): void;
  /** Once per started transfer, with the file bytes sent (0 when it failed to start). */
  ended(outcome: TransferOutcome, bytes: number): void;
}

const silent: TftpLog = { debug() {}, info() {}, warn() {} };

/** dgram throws when a socket is closed twice; several paths may end a transfer. */
function closeQuietly(sock: Socket | null): void {
  try {
    sock?.close();
  } catch {
    /* already closed */
  }
}

export class TftpServer {
  private readonly o: TftpServerOptions;
  private readonly log: TftpLog;
  private socket: Socket | null = null;
  private rootReal = '';
  /** Active transfers by client `address|port`; a retransmitted RRQ finds its entry here. */
  private readonly active = new Map<string, { transfer: ReadTransfer | null; socket: Socket | null }>();
  private closing = false;

  constructor(options: TftpServerOptions) {
    this.o = options;
    this.log = options.log ?? silent;
  }

  get activeTransfers(): number {
    return this.active.size;
  }

  async listen(): Promise<{ address: string; port: number }> {
    const family = isIP(this.o.host);
    if (family === 0) throw new Error(`TFTP bind address '${this.o.host}' is not an IP address`);
    this.rootReal = await realpath(this.o.root);
    const sock = createSocket({ type: family === 6 ? 'udp6' : 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(this.o.port, this.o.host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (err) => this.log.warn(`listening socket error: ${err.message}`));
    sock.on('message', (msg, rinfo) => this.onRequest(msg, rinfo));
    this.socket = sock;
    const a = sock.address();
    return { address: a.address, port: a.port };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const entry of this.active.values()) {
      entry.transfer?.abort('server shutting down');
      closeQuietly(entry.socket);
    }
    this.active.clear();
    const sock = this.socket;
    this.socket = null;
    if (sock) await new Promise<void>((resolve) => sock.close(() => resolve()));
  }

  private reply(rinfo: RemoteInfo, code: number, message: string): void {
    this.socket?.send(encodeError(code, message), rinfo.port, rinfo.address);
  }

  private onRequest(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closing) return;
    let pkt;
    try {
      pkt = decode(msg);
    } catch (err) {
      if (err instanceof TftpDecodeError) this.reply(rinfo, ERROR_CODE.ILLEGAL_OPERATION, `Illegal TFTP operation: ${err.message}`);
      return;
    }
    if (pkt.op === 'WRQ') {
      this.reply(rinfo, ERROR_CODE.ACCESS_VIOLATION, 'Access violation: this server is read-only');
      return;
    }
    if (pkt.op !== 'RRQ') return; // stray packet of a finished transfer: nothing to say

    const key = `${rinfo.address}|${rinfo.port}`;
    if (this.active.has(key)) return; // the client retransmitted its RRQ; the transfer is under way
    if (this.active.size >= this.o.maxTransfers) {
      this.log.warn(`refused ${pkt.filename} to ${rinfo.address}: ${this.active.size} transfers running`);
      this.reply(rinfo, ERROR_CODE.NOT_DEFINED, 'Server busy, too many transfers; try again later');
      return;
    }
    if (pkt.mode !== 'octet' && pkt.mode !== 'netascii') {
      this.reply(rinfo, ERROR_CODE.ILLEGAL_OPERATION, `Unsupported transfer mode '${pkt.mode}'`);
      return;
    }
    const path = tftpRequestPath(pkt.filename);
    if (!path.ok) {
      this.log.warn(`refused ${JSON.stringify(pkt.filename)} to ${rinfo.address}: ${path.reason}`);
      this.reply(rinfo, ERROR_CODE.ACCESS_VIOLATION, 'Access violation');
      return;
    }
    const entry = { transfer: null as ReadTransfer | null, socket: null as Socket | null };
    this.active.set(key, entry);
    // A transfer starts once its file is open (a missing file is a refusal, not a transfer);
    // every path out of a started transfer reports its end, once.
    let state: 'pending' | 'started' | 'ended' = 'pending';
    const started = (): void => {
      state = 'started';
      this.o.observer?.started();
    };
    const ended = (outcome: TransferOutcome, bytes: number): void => {
      if (state !== 'started') return;
      state = 'ended';
      this.o.observer?.ended(outcome, bytes);
    };
    this.startTransfer(key, entry, pkt.filename, path.relative, pkt.mode === 'netascii', pkt.options, rinfo, { started, ended }).catch(
      (err: unknown) => {
        ended('failed', 0);
        this.log.warn(`transfer of ${pkt.filename} to ${rinfo.address} failed to start: ${(err as Error).message}`);
        closeQuietly(entry.socket);
        this.active.delete(key);
      },
    );
  }

  private async startTransfer(
    key: string,
    entry: { transfer: ReadTransfer | null; socket: Socket | null },
    filename: string,
    relative: string,
    netascii: boolean,
    options: Map<string, string>,
    rinfo: RemoteInfo,
    report: { started(): void; ended(outcome: TransferOutcome, bytes: number): void },
  ): Promise<void> {
    let opened;
    try {
      opened = await openInsideRoot(this.rootReal, relative);
    } catch (err) {
      this.active.delete(key);
      if (!(err instanceof ConfineError)) throw err;
      const [code, text] =
        err.kind === 'not_found' ? [ERROR_CODE.FILE_NOT_FOUND, 'File not found'] : [ERROR_CODE.ACCESS_VIOLATION, 'Access violation'];
      if (err.kind !== 'not_found') this.log.warn(`refused ${JSON.stringify(filename)} to ${rinfo.address}: ${err.message}`);
      this.reply(rinfo, code, text);
      return;
    }
    if (this.closing || this.active.get(key) !== entry) {
      await opened.fh.close();
      return;
    }
    const neg = negotiate(options, this.o, netascii ? null : opened.size);
    const source = new FileBlockSource(opened.fh, neg.blksize, netascii);
    const sock = createSocket({ type: rinfo.family === 'IPv6' ? 'udp6' : 'udp4' });
    entry.socket = sock;
    report.started();
    const started = Date.now();
    const transfer = new ReadTransfer(
      source,
      { blksize: neg.blksize, windowsize: neg.windowsize, timeoutMs: neg.timeoutMs, maxRetries: this.o.maxRetries, oack: neg.oack },
      {
        send: (p) => {
          try {
            sock.send(p);
          } catch {
            /* socket already closed: the transfer is ending */
          }
        },
      },
      (r: TransferResult) => {
        closeQuietly(sock);
        if (this.active.get(key) === entry) this.active.delete(key);
        report.ended(r.ok ? 'completed' : r.clientEnded ? 'client_ended' : 'failed', r.bytes);
        const what = `${filename} to ${rinfo.address}:${rinfo.port} (${r.bytes} bytes, blksize ${neg.blksize}, windowsize ${neg.windowsize}, ${r.retransmits} retransmits, ${Date.now() - started} ms)`;
        if (r.ok) this.log.info(`sent ${what}`);
        else if (r.clientEnded) this.log.info(`transfer of ${what} ended by the client: ${r.reason}`);
        else this.log.warn(`transfer of ${what} failed: ${r.reason}`);
      },
    );
    entry.transfer = transfer;
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        // Same address as the listener, so replies leave from the address the client asked
        // (when the listener is bound to one); the kernel chooses otherwise.
        sock.bind(0, this.o.host, () => {
          sock.connect(rinfo.port, rinfo.address, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      });
    } catch (err) {
      await source.close();
      throw err;
    }
    // ICMP port unreachable surfaces here on a connected socket: the client has gone away.
    sock.on('error', (err) => transfer.abort(`socket error: ${err.message}`));
    sock.on('message', (m) => transfer.onPacket(m));
    transfer.start();
  }
}
