// GET/HEAD /httpboot/<path> and /EFI/<path> (spec httpboot.md §2), with conditional and Range
// requests. The file is opened once through the root confinement and streamed from that handle.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ProxyError } from '../../core/errors.ts';
import type { ModuleContext } from '../../core/module.ts';
import { openInsideRoot, ConfineError, type OpenedFile } from '../../lib/tftp/confine.ts';
import { bootRequestPath } from './path.ts';
import { parseRange } from './range.ts';
import { contentTypeFor } from './mime.ts';

const invalid = (): ProxyError => new ProxyError(403, 'Invalid or empty path', 'httpboot.invalid_path');

async function openBootFile(root: string, relative: string): Promise<OpenedFile> {
  let rootReal: string;
  try {
    rootReal = await realpath(root);
  } catch {
    throw new ProxyError(404, 'Not found', 'httpboot.not_found');
  }
  try {
    return await openInsideRoot(rootReal, relative);
  } catch (err) {
    if (!(err instanceof ConfineError)) throw err;
    switch (err.kind) {
      case 'not_found':
        throw new ProxyError(404, 'Not found', 'httpboot.not_found');
      case 'directory':
        throw new ProxyError(403, 'Directory listing not allowed', 'httpboot.directory');
      case 'not_file':
        throw new ProxyError(503, 'Not a regular file', 'httpboot.not_regular');
      case 'denied':
        throw new ProxyError(403, 'Permission denied', 'httpboot.denied');
      case 'outside':
        throw invalid();
    }
  }
}

function notModifiedSince(request: FastifyRequest, mtime: Date): boolean {
  const ims = request.headers['if-modified-since'];
  if (typeof ims !== 'string') return false;
  const t = Date.parse(ims);
  // HTTP dates have whole seconds.
  return Number.isFinite(t) && Math.floor(mtime.getTime() / 1000) * 1000 <= t;
}

export function httpbootRoutes(app: FastifyInstance, ctx: ModuleContext, prefix: string): void {
  const rootSetting = String(ctx.settings.root_dir);
  const root = isAbsolute(rootSetting) ? resolve(rootSetting) : resolve(ctx.global.settingsDir, rootSetting);

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = (q >= 0 ? url.slice(0, q) : url).slice(prefix.length);
    const target = bootRequestPath(path);
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
      if (range.kind === 'unsatisfiable') {
        throw new ProxyError(416, 'Requested range not satisfiable', 'httpboot.range', { 'content-range': `bytes */${file.size}` });
      }
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
