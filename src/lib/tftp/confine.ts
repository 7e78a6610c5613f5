// Confinement of file requests to a root directory. Used by the built-in TFTP server and by HTTP
// boot: a request can never open anything whose real path (after every symlink) lies outside the
// root, whatever it spells — `..`, absolute paths, backslashes, symlinks pointing out.

import { open, realpath, readlink, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join, sep } from 'node:path';

export type RequestPath = { ok: true; relative: string } | { ok: false; reason: string };

// Control characters have no business in boot file names and confuse logs.
const CONTROL = /[\u0000-\u001f\u007f\ufffd]/;

/**
 * The relative path a TFTP file name designates. Like tftpd-hpa with `--secure`, a leading `/`
 * means the root; backslashes (sent by some Windows-flavoured PXE stacks) are separators. Any `..`
 * segment is refused outright rather than collapsed, so it can never climb out. A name ending in
 * a separator (or in `/.`) keeps one trailing `/`: tftpd-hpa opens the name as given, so `file/`
 * names a directory and is not the file `file` (open() fails with ENOTDIR: File not found).
 */
export function tftpRequestPath(filename: string): RequestPath {
  if (CONTROL.test(filename)) return { ok: false, reason: 'control character in file name' };
  const parts: string[] = [];
  const segments = filename.replace(/\\/g, '/').split('/');
  for (const seg of segments) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: "'..' in file name" };
    parts.push(seg);
  }
  if (parts.length === 0) return { ok: false, reason: 'empty file name' };
  const last = segments[segments.length - 1];
  const namesDirectory = segments.length > 1 && (last === '' || last === '.');
  return { ok: true, relative: parts.join('/') + (namesDirectory ? '/' : '') };
}

export function isInside(root: string, path: string): boolean {
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(prefix);
}

export type ConfineFailure = 'not_found' | 'outside' | 'not_file' | 'directory' | 'denied';

export class ConfineError extends Error {
  readonly kind: ConfineFailure;
  constructor(kind: ConfineFailure, message: string) {
    super(message);
    this.name = 'ConfineError';
    this.kind = kind;
  }
}

export interface OpenedFile {
  fh: FileHandle;
  size: number;
  mtime: Date;
  realPath: string;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Open `relative` under `rootReal` (which must already be a real path) for reading, refusing
 * anything that resolves outside it and anything that is not a regular file.
 */
export async function openInsideRoot(rootReal: string, relative: string): Promise<OpenedFile> {
  const candidate = join(rootReal, relative);
  if (!isInside(rootReal, candidate)) throw new ConfineError('outside', 'path outside the root');
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (err) {
    const code = errno(err);
    if (code === 'EACCES') throw new ConfineError('denied', 'permission denied');
    // ENOENT, ENOTDIR, ELOOP (symlink loop), dangling symlink: all simply absent.
    throw new ConfineError('not_found', 'file not found');
  }
  if (!isInside(rootReal, real)) throw new ConfineError('outside', 'path outside the root');

  let fh: FileHandle;
  try {
    // O_NOFOLLOW: the last component cannot have been swapped for a symlink since realpath.
    // O_NONBLOCK: opening a FIFO must not hang the server.
    fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errno(err);
    if (code === 'EACCES' || code === 'EPERM') throw new ConfineError('denied', 'permission denied');
    if (code === 'ELOOP') throw new ConfineError('outside', 'path outside the root');
    throw new ConfineError('not_found', 'file not found');
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new ConfineError('directory', 'is a directory');
    if (!st.isFile()) throw new ConfineError('not_file', 'not a regular file');
    // Close the remaining race (a parent directory swapped for a symlink between realpath and
    // open): on Linux the kernel tells us what we actually opened.
    const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => real);
    if (!isInside(rootReal, opened)) throw new ConfineError('outside', 'path outside the root');
    return { fh, size: st.size, mtime: st.mtime, realPath: opened };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}
