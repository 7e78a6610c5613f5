// Atomic file replacement: write a temp file in the same directory, fsync it, rename it over the
// target, fsync the directory. A crash (even kill -9) leaves either the old or the new content,
// and a failed write leaves nothing behind.

import { open, rename, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644). */
  mode?: number;
}

/**
 * Replace `path` with what `write` puts into a fresh temp file beside it. When `write` throws, the
 * temp file is removed and `path` is untouched. `mtime`, when given, is set before the rename.
 */
export async function replaceFileAtomic(
  path: string,
  write: (fh: FileHandle) => Promise<void>,
  options: AtomicWriteOptions & { mtime?: Date } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    await write(fh);
    await fh.sync();
    await fh.close();
    if (options.mtime) await utimes(tmp, options.mtime, options.mtime);
    await rename(tmp, path);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  await replaceFileAtomic(path, (fh) => fh.writeFile(data), options);
}

async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
