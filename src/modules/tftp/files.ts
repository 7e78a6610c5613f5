// File operations under the TFTP root. Every path is checked twice: lexically (it must resolve
// under the root) and physically (the real path of its directory, after symlinks, must be under
// the real root), so a symlinked `pxelinux.cfg` pointing elsewhere cannot redirect a write.

import { mkdir, readFile, realpath, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isInside } from '../../lib/tftp/confine.ts';
import { writeFileAtomic } from '../../lib/fs/atomic.ts';

export class OutsideRootError extends Error {
  constructor(path: string) {
    super(`${path} is outside the TFTP root`);
    this.name = 'OutsideRootError';
  }
}

export class TftpRoot {
  /** Absolute, normalised root as configured (used in messages, like the reference). */
  readonly path: string;

  constructor(root: string, relativeTo: string) {
    this.path = isAbsolute(root) ? resolve(root) : resolve(relativeTo, root);
  }

  /** Absolute path of `relative`; throws when it would leave the root. */
  resolve(relative: string): string {
    const full = resolve(this.path, relative);
    if (!isInside(this.path, full)) throw new OutsideRootError(full);
    return full;
  }

  private async realRoot(): Promise<string> {
    return realpath(this.path);
  }

  /** Create the directory of `full`; false when its real path (after symlinks) leaves the root. */
  async makeDirInside(full: string): Promise<boolean> {
    const dir = dirname(full);
    await mkdir(dir, { recursive: true });
    const [realRoot, realDir] = await Promise.all([this.realRoot(), realpath(dir)]);
    return realDir === realRoot || isInside(realRoot, realDir);
  }

  /** Create the directory of `full` and check that it physically lies under the root. */
  async prepareDir(full: string): Promise<void> {
    if (!(await this.makeDirInside(full))) throw new OutsideRootError(full);
  }

  async write(relative: string, content: string): Promise<void> {
    const full = this.resolve(relative);
    await this.prepareDir(full);
    await writeFileAtomic(full, content, { mode: 0o644 });
  }

  /** Content of `relative`, or undefined when it does not exist. */
  async read(relative: string): Promise<string | undefined> {
    const full = this.resolve(relative);
    let real: string;
    try {
      real = await realpath(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!isInside(await this.realRoot(), real)) throw new OutsideRootError(full);
    return readFile(real, 'utf8');
  }

  /** Remove `relative` if it exists (a missing file is not an error). */
  async remove(relative: string): Promise<void> {
    const full = this.resolve(relative);
    let realDir: string;
    try {
      realDir = await realpath(dirname(full));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
      throw err;
    }
    const realRoot = await this.realRoot();
    if (realDir !== realRoot && !isInside(realRoot, realDir)) throw new OutsideRootError(full);
    try {
      await unlink(join(realDir, relative.split('/').pop() as string));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
