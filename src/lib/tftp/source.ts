// Sequential block source over an open file: reads ahead in large chunks so that serving a block
// is usually a slice of memory, not a system call, and converts to netascii on the fly.

import type { FileHandle } from 'node:fs/promises';

export interface BlockSource {
  /** The next block: `blksize` bytes, or fewer (possibly 0) for the last one. */
  next(): Promise<Buffer>;
  close(): Promise<void>;
}

/** RFC 764 netascii as tftpd-hpa does it on Unix: LF → CR LF, CR → CR NUL. Stateless per byte. */
export function toNetascii(data: Buffer): Buffer {
  let extra = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0x0a || data[i] === 0x0d) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else {
      out[o++] = b;
    }
  }
  return out;
}

export class FileBlockSource implements BlockSource {
  private readonly fh: FileHandle;
  private readonly blksize: number;
  private readonly netascii: boolean;
  private readonly chunk: number;
  private pending: Buffer = Buffer.alloc(0);
  private position = 0;
  private eof = false;
  private inflight: Promise<Buffer> | null = null;
  private closed = false;

  constructor(fh: FileHandle, blksize: number, netascii: boolean, chunkBytes = 256 * 1024) {
    this.fh = fh;
    this.blksize = blksize;
    this.netascii = netascii;
    this.chunk = Math.max(chunkBytes, blksize);
  }

  private readChunk(): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(this.chunk);
    // Reads are never concurrent (one in flight at most), so the position can advance on completion.
    const at = this.position;
    return this.fh.read(buf, 0, this.chunk, at).then(({ bytesRead }) => {
      this.position = at + bytesRead;
      return buf.subarray(0, bytesRead);
    });
  }

  async next(): Promise<Buffer> {
    while (this.pending.length < this.blksize && !this.eof) {
      const data = await (this.inflight ?? this.readChunk());
      this.inflight = null;
      if (data.length === 0) {
        this.eof = true;
        break;
      }
      const converted = this.netascii ? toNetascii(data) : data;
      this.pending = this.pending.length === 0 ? converted : Buffer.concat([this.pending, converted]);
    }
    const n = Math.min(this.blksize, this.pending.length);
    const block = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    // Keep one read in flight so the next chunk is usually ready before it is needed.
    if (!this.eof && !this.closed && this.inflight === null && this.pending.length < this.chunk) {
      this.inflight = this.readChunk();
      this.inflight.catch(() => undefined);
    }
    return block;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inflight?.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }
}
