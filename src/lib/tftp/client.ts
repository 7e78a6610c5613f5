// A TFTP read client (RFC 1350 + blksize/tsize/timeout/windowsize). The proxy itself never
// downloads over TFTP; this exists so tests and benchmarks can drive windowsize transfers, which
// neither tftp-hpa's nor busybox's client can request.

import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIP } from 'node:net';
import { decode, encodeAck, encodeError, encodeRequest, ERROR_CODE, TftpDecodeError, type Options } from './packet.ts';

export interface TftpGetOptions {
  host: string;
  port: number;
  filename: string;
  mode?: 'octet' | 'netascii';
  blksize?: number;
  windowsize?: number;
  /** Ask for the transfer size (tsize=0). */
  tsize?: boolean;
  /** Negotiated retransmission timeout in seconds (RFC 2349). */
  timeout?: number;
  /** The client's own retransmission timeout. */
  retransmitMs?: number;
  retries?: number;
  /** Receives the file's bytes in order. */
  sink: (chunk: Buffer) => void;
  /** Fault injection for tests: return true to drop (not send) this ACK. */
  dropAck?: (block: number) => boolean;
}

export interface TftpGetResult {
  bytes: number;
  blksize: number;
  windowsize: number;
  /** Size announced by the server, when tsize was asked for and granted. */
  tsize?: number;
  /** Options the server acknowledged (empty when it ignored them all). */
  oack: Options;
}

export class TftpClientError extends Error {
  readonly code: number | undefined;
  constructor(message: string, code?: number) {
    super(message);
    this.name = 'TftpClientError';
    this.code = code;
  }
}

export function tftpGet(o: TftpGetOptions): Promise<TftpGetResult> {
  const family = isIP(o.host) === 6 ? 'udp6' : 'udp4';
  const sock = createSocket(family);
  const requested: Options = new Map();
  if (o.blksize !== undefined) requested.set('blksize', String(o.blksize));
  if (o.tsize) requested.set('tsize', '0');
  if (o.timeout !== undefined) requested.set('timeout', String(o.timeout));
  if (o.windowsize !== undefined) requested.set('windowsize', String(o.windowsize));
  const rrq = encodeRequest('RRQ', o.filename, o.mode ?? 'octet', requested);
  const retransmitMs = o.retransmitMs ?? 1000;
  const maxRetries = o.retries ?? 5;

  return new Promise<TftpGetResult>((resolve, reject) => {
    let serverPort: number | null = null;
    let blksize = 512;
    let windowsize = 1;
    let tsize: number | undefined;
    let oack: Options = new Map();
    let expected = 1; // absolute number of the next block wanted
    let inWindow = 0;
    let bytes = 0;
    let lastSent: Buffer = rrq;
    let retries = 0;
    let reacked = false; // one immediate re-ACK per loss episode
    let timer: NodeJS.Timeout | undefined;
    let finished = false;

    const send = (pkt: Buffer, ack?: number): void => {
      lastSent = pkt;
      if (ack !== undefined && o.dropAck?.(ack)) return;
      sock.send(pkt, serverPort ?? o.port, o.host);
    };
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        if (++retries > maxRetries) return end(new TftpClientError('transfer timed out'));
        sock.send(lastSent, serverPort ?? o.port, o.host);
        arm();
      }, retransmitMs);
    };
    const end = (err?: Error): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve({ bytes, blksize, windowsize, tsize, oack });
    };
    const ack = (wire: number): void => {
      send(encodeAck(wire), wire);
      inWindow = 0;
    };

    sock.on('error', (err) => end(err));
    sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (finished) return;
      if (serverPort === null) serverPort = rinfo.port;
      else if (rinfo.port !== serverPort) {
        sock.send(encodeError(ERROR_CODE.UNKNOWN_TID, 'Unknown transfer ID'), rinfo.port, rinfo.address);
        return;
      }
      let pkt;
      try {
        pkt = decode(msg);
      } catch (err) {
        if (err instanceof TftpDecodeError) return end(new TftpClientError(`bad packet from server: ${err.message}`));
        throw err;
      }
      if (pkt.op === 'ERROR') return end(new TftpClientError(`server error ${pkt.code}: ${pkt.message}`, pkt.code));
      if (pkt.op === 'OACK') {
        if (expected !== 1) return; // duplicate OACK after data started
        oack = pkt.options;
        if (oack.has('blksize')) blksize = Number(oack.get('blksize'));
        if (oack.has('windowsize')) windowsize = Number(oack.get('windowsize'));
        if (oack.has('tsize')) tsize = Number(oack.get('tsize'));
        retries = 0;
        ack(0);
        arm();
        return;
      }
      if (pkt.op !== 'DATA') return end(new TftpClientError(`unexpected ${pkt.op} from server`));
      const wire = expected & 0xffff;
      if (pkt.block !== wire) {
        // A gap or a duplicate: confirm what we have so the server resumes right after it.
        if (!reacked) {
          reacked = true;
          ack((expected - 1) & 0xffff);
        }
        return;
      }
      o.sink(pkt.data);
      bytes += pkt.data.length;
      expected++;
      inWindow++;
      retries = 0;
      reacked = false;
      if (pkt.data.length < blksize) {
        ack(wire);
        return end();
      }
      if (inWindow >= windowsize) ack(wire);
      arm();
    });

    sock.send(rrq, o.port, o.host);
    arm();
  });
}
