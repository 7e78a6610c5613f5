// GET/HEAD /httpboot/<path> and /EFI/<path> (spec httpboot.md §2), with conditional and Range
// requests. The file is opened once through the root confinement and streamed from that handle.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { ModuleInstance } from '../../core/module.ts';
import { openInsideRoot, ConfineError, type OpenedFile } from '../../lib/tftp/confine.ts';
import { bootRequestPath } from './path.ts';
import { parseRange } from '../../lib/http/range.ts';
import { contentTypeFor } from './mime.ts';
import { HttpbootError, unsatisfiableRange } from './errors.ts';

const invalid = () => HttpbootError.invalid_path('Invalid or empty path');

async function openBootFile(root: string, relative: string): Promise<OpenedFile> {
  let rootReal: string;
  try {
    rootReal = await realpath(root);
  } catch {
    throw HttpbootError.not_found('Not found');
  }
  try {
    return await openInsideRoot(rootReal, relative);
  } catch (err) {
    if (!(err instanceof ConfineError)) throw err;
    switch (err.kind) {
      case 'not_found':
        throw HttpbootError.not_found('Not found');
      case 'directory':
        throw HttpbootError.directory('Directory listing not allowed');
      case 'not_file':
        throw HttpbootError.not_regular('Not a regular file');
      case 'denied':
        throw HttpbootError.denied('Permission denied');
      case 'outside':
        throw invalid();
    }
  }
}

/**
 * The still percent-encoded path after the prefix. The router matched the prefix on the decoded
 * path (`/%68ttpboot/x` is `/httpboot/x`), where an encoded separator stays encoded, so the prefix
 * spans as many raw segments as it has; the rest is decoded by bootRequestPath, segment by
 * segment, which can then refuse an encoded separator instead of following it.
 */
export function rawPathAfterPrefix(rawUrl: string, prefix: string): string {
  const q = rawUrl.indexOf('?');
  const path = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  return '/' + path.split('/').slice(prefix.split('/').length).join('/');
}

function notModifiedSince(request: FastifyRequest, mtime: Date): boolean {
  const ims = request.headers['if-modified-since'];
  if (typeof ims !== 'string') return false;
  const t = Date.parse(ims);
  // HTTP dates have whole seconds.
  return Number.isFinite(t) && Math.floor(mtime.getTime() / 1000) * 1000 <= t;
}

/** The running module: the boot root, resolved once, served under every prefix and listener. */
export function httpbootModule(rootDir: string, settingsDir: string): ModuleInstance {
  const root = isAbsolute(rootDir) ? resolve(rootDir) : resolve(settingsDir, rootDir);
  return {
    routes: (app, prefix) => httpbootRoutes(app, root, prefix),
  };
}

function httpbootRoutes(app: FastifyInstance, root: string, prefix: string): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const target = bootRequestPath(rawPathAfterPrefix(request.raw.url ?? '', prefix));
    if (!target.ok) throw invalid();
    const file = await openBootFile(root, target.relative);

    let keepOpen = false;
    try {
      const lastModified = file.mtime.toUTCString();
      reply.header('last-modified', lastModified).header('accept-ranges', 'bytes').type(contentTypeFor(target.relative));
      if (notModifiedSince(request, file.mtime)) return reply.code(304).send();

      const ifRange = request.headers['if-range'];
      const rangeHeader = typeof ifRange === 'string' && ifRange !== lastModified ? undefined : request.headers.range;
      const range = parseRange(rangeHeader, file.size);
      if (range.kind === 'unsatisfiable') throw unsatisfiableRange(file.size);
      let start = 0;
      let end = file.size - 1;
      if (range.kind === 'range') {
        ({ start, end } = range);
        reply.code(206).header('content-range', `bytes ${start}-${end}/${file.size}`);
      }
      reply.header('content-length', String(end - start + 1));
      if (request.method === 'HEAD' || file.size === 0) return reply.send();
      keepOpen = true; // the stream owns the handle now and closes it when done or aborted
      return reply.send(file.fh.createReadStream({ start, end, autoClose: true }));
    } finally {
      if (!keepOpen) await file.fh.close().catch(() => undefined);
    }
  };

  for (const url of ['/', '/*']) {
    app.route({ method: ['GET', 'HEAD'], url, exposeHeadRoute: false, handler });
  }
}
