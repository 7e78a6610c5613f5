// One read transfer, server side: optional OACK, then DATA in windows (RFC 7440; a window of 1 is
// plain RFC 1350 lock-step), retransmission on timeout, block numbers rolling over to 0 after
// 65535 so files over 32 MB work with 512-byte blocks.
//
// Duplicate ACKs never trigger an immediate resend with a window of 1: that is the Sorcerer's
// Apprentice bug (RFC 1123 §4.2.3.1), where every duplicate doubles the traffic. With larger
// windows a duplicate of the previous ACK means the first block of the window was lost, so the
// window is resent once.

import { decode, encodeData, encodeError, encodeOack, ERROR_CODE, TftpDecodeError, type Options } from './packet.ts';
import type { BlockSource } from './source.ts';

export interface TransferParams {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Retransmissions of the same packet before the transfer is abandoned. */
  maxRetries: number;
  /** Options to acknowledge; empty means no OACK (DATA 1 is sent straight away). */
  oack: Options;
}

export interface TransferIO {
  send(packet: Buffer): void;
}

export interface TransferResult {
  ok: boolean;
  /** Why it ended early (timeout, client error, …). */
  reason?: string;
  /**
   * The client ended it with an ERROR packet. PXE ROMs routinely do this after learning the size
   * from the OACK (error 8), so it is not a server-side failure.
   */
  clientEnded?: boolean;
  blocks: number;
  bytes: number;
  retransmits: number;
}

type State = 'oack' | 'data' | 'done';

export class ReadTransfer {
  private readonly source: BlockSource;
  private readonly p: TransferParams;
  private readonly io: TransferIO;
  private readonly onDone: (r: TransferResult) => void;
  private state: State = 'oack';
  /** Absolute number of the first unacknowledged block. */
  private base = 1;
  /** Built but unacknowledged DATA packets, by absolute block number. */
  private readonly packets = new Map<number, Buffer>();
  private highest = 0;
  private lastBlock: number | null = null;
  private retries = 0;
  private retransmits = 0;
  private bytes = 0;
  private dupResent = false;
  private timer: NodeJS.Timeout | undefined;
  /** Packets are handled strictly in order, even while a block read is pending. */
  private chain: Promise<void> = Promise.resolve();

  constructor(source: BlockSource, params: TransferParams, io: TransferIO, onDone: (r: TransferResult) => void) {
    this.source = source;
    this.p = params;
    this.io = io;
    this.onDone = onDone;
  }

  get done(): boolean {
    return this.state === 'done';
  }

  start(): void {
    if (this.p.oack.size > 0) {
      this.io.send(encodeOack(this.p.oack));
      this.arm();
    } else {
      this.state = 'data';
      this.enqueue(() => this.sendWindow());
    }
  }

  /** A datagram from the client's TID. */
  onPacket(buf: Buffer): void {
    this.enqueue(() => this.handle(buf));
  }

  /** Stop without telling the client (it is gone, or the server shuts down). */
  abort(reason: string): void {
    this.finish(false, reason);
  }

  private enqueue(fn: () => Promise<void> | void): void {
    this.chain = this.chain
      .then(() => (this.state === 'done' ? undefined : fn()))
      .catch((err: unknown) => this.fail(ERROR_CODE.NOT_DEFINED, `read error: ${(err as Error).message}`));
  }

  private async handle(buf: Buffer): Promise<void> {
    let pkt;
    try {
      pkt = decode(buf);
    } catch (err) {
      if (err instanceof TftpDecodeError) return this.fail(ERROR_CODE.ILLEGAL_OPERATION, `Illegal TFTP operation: ${err.message}`);
      throw err;
    }
    if (pkt.op === 'ERROR') return this.finish(false, `client error ${pkt.code}: ${pkt.message}`, true);
    if (pkt.op !== 'ACK') return this.fail(ERROR_CODE.ILLEGAL_OPERATION, 'Illegal TFTP operation');

    if (this.state === 'oack') {
      if (pkt.block !== 0) return; // stray; the OACK timer keeps running
      this.state = 'data';
      this.retries = 0;
      return this.sendWindow();
    }

    // Map the 16-bit block number onto [base-1, highest]; anything else is stale or bogus.
    const lo = this.base - 1;
    const acked = lo + ((pkt.block - lo) & 0xffff);
    if (acked > this.highest) return;
    if (acked === lo) {
      if (this.p.windowsize > 1 && !this.dupResent) {
        this.dupResent = true;
        this.retransmits++;
        return this.sendWindow();
      }
      return;
    }
    for (let b = this.base; b <= acked; b++) this.packets.delete(b);
    this.base = acked + 1;
    this.retries = 0;
    this.dupResent = false;
    if (this.lastBlock !== null && acked >= this.lastBlock) return this.finish(true);
    return this.sendWindow();
  }

  /** (Re)send every block of the current window, reading the ones not built yet. */
  private async sendWindow(): Promise<void> {
    const end = this.base + this.p.windowsize - 1;
    for (let b = this.base; b <= end; b++) {
      if (this.lastBlock !== null && b > this.lastBlock) break;
      let pkt = this.packets.get(b);
      if (pkt === undefined) {
        const data = await this.source.next();
        if (this.state === 'done') return;
        pkt = encodeData(b, data);
        this.packets.set(b, pkt);
        this.highest = b;
        this.bytes += data.length;
        if (data.length < this.p.blksize) this.lastBlock = b;
      } else {
        this.retransmits++;
      }
      this.io.send(pkt);
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimeout(), this.p.timeoutMs);
  }

  private onTimeout(): void {
    this.timer = undefined;
    if (this.state === 'done') return;
    if (++this.retries > this.p.maxRetries) {
      this.fail(ERROR_CODE.NOT_DEFINED, 'Transfer timed out');
      return;
    }
    if (this.state === 'oack') {
      this.retransmits++;
      this.io.send(encodeOack(this.p.oack));
      this.arm();
      return;
    }
    this.enqueue(() => this.sendWindow());
  }

  private fail(code: number, message: string): void {
    if (this.state === 'done') return;
    this.io.send(encodeError(code, message));
    this.finish(false, message);
  }

  private finish(ok: boolean, reason?: string, clientEnded = false): void {
    if (this.state === 'done') return;
    this.state = 'done';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.packets.clear();
    void this.source.close();
    this.onDone({ ok, reason, clientEnded, blocks: this.highest, bytes: this.bytes, retransmits: this.retransmits });
  }
}
