// /pub (spec content.md §4.4): the CA bootstrap files hosts fetch before they trust anything
// (katello-server-ca.crt, the katello-ca-consumer RPM and its `latest` symlink, bootstrap.py),
// over HTTP and HTTPS, with a directory listing as Apache's autoindex gives. Files are opened
// through the root confinement the TFTP and HTTP boot servers use; Range requests are honoured.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfineError, isInside, openInsideRoot, type OpenedFile } from '../../lib/tftp/confine.ts';
import { parseRange } from '../../lib/http/range.ts';
import { CapsuleError } from './errors.ts';
import { PUB_PREFIX, rawRest, splitTarget } from './routes.ts';

/** Types of the files /pub holds (Apache's mime.types for these extensions). */
const TYPES: Record<string, string> = {
  '.rpm': 'application/x-rpm',
  '.crt': 'application/x-x509-ca-cert',
  '.pem': 'application/x-x509-ca-cert',
  '.py': 'text/x-python',
  '.sh': 'application/x-sh',
  '.txt': 'text/plain',
  '.html': 'text/html',
  '.json': 'application/json',
  '.gz': 'application/x-gzip',
  '.tar': 'application/x-tar',
};

export function pubContentType(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot > 0 && TYPES[name.slice(dot).toLowerCase()]) || 'application/octet-stream';
}

/** The decoded segments of the path below /pub, or undefined when one could climb or hide a separator. */
export function pubSegments(rawPath: string): string[] | undefined {
  const out: string[] = [];
  for (const raw of rawRest(rawPath, PUB_PREFIX).split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (seg === '' || seg === '.') continue;
    if (seg === '..' || seg.includes('/') || seg.includes('\\') || seg.includes('\0')) return undefined;
    out.push(seg);
  }
  return out;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface Entry {
  name: string;
  directory: boolean;
  size: number;
  mtime: Date;
}

async function listDirectory(dirReal: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (const d of await readdir(dirReal, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue; // Apache's IndexIgnore hides dot files
    try {
      // stat follows symlinks: katello-ca-consumer-latest.noarch.rpm shows as the RPM it points to
      const st = await stat(join(dirReal, d.name));
      if (!st.isFile() && !st.isDirectory()) continue;
      entries.push({ name: d.name, directory: st.isDirectory(), size: st.size, mtime: st.mtime });
    } catch {
      // dangling symlink, or removed since readdir: not listed
    }
  }
  return entries.sort((a, b) => a.name.localeCompare(b.name));
}

export function listingHtml(urlPath: string, entries: readonly Entry[], isRoot: boolean): string {
  const title = `Index of ${escapeHtml(urlPath)}`;
  const rows = entries.map((e) => {
    const href = encodeURIComponent(e.name) + (e.directory ? '/' : '');
    const when = e.mtime.toISOString().slice(0, 16).replace('T', ' ');
    return `<tr><td><a href="${href}">${escapeHtml(e.name)}${e.directory ? '/' : ''}</a></td><td>${when}</td><td align="right">${e.directory ? '-' : e.size}</td></tr>`;
  });
  const parent = isRoot ? '' : '<tr><td><a href="../">Parent Directory</a></td><td></td><td align="right">-</td></tr>';
  return (
    `<!DOCTYPE html>\n<html>\n<head><title>${title}</title></head>\n<body>\n<h1>${title}</h1>\n` +
    `<table>\n<tr><th>Name</th><th>Last modified</th><th>Size</th></tr>\n${parent}${rows.join('\n')}\n</table>\n</body>\n</html>\n`
  );
}

async function sendFile(request: FastifyRequest, reply: FastifyReply, file: OpenedFile, name: string): Promise<FastifyReply> {
  let handedOver = false;
  try {
    const lastModified = file.mtime.toUTCString();
    reply.header('last-modified', lastModified).header('accept-ranges', 'bytes').header('content-type', pubContentType(name));
    const ims = request.headers['if-modified-since'];
    if (typeof ims === 'string' && Math.floor(file.mtime.getTime() / 1000) * 1000 <= Date.parse(ims)) return reply.code(304).send();
    const ifRange = request.headers['if-range'];
    const range = parseRange(typeof ifRange === 'string' && ifRange !== lastModified ? undefined : request.headers.range, file.size);
    if (range.kind === 'unsatisfiable') {
      const err = CapsuleError.range_not_satisfiable('Requested range not satisfiable');
      err.headers['content-range'] = `bytes */${file.size}`;
      throw err;
    }
    let start = 0;
    let end = file.size - 1;
    if (range.kind === 'range') {
      ({ start, end } = range);
      reply.code(206).header('content-range', `bytes ${start}-${end}/${file.size}`);
    }
    reply.header('content-length', String(Math.max(0, end - start + 1)));
    if (request.method === 'HEAD' || file.size === 0) return reply.send();
    handedOver = true; // the stream closes the handle when done or aborted
    return reply.send(file.fh.createReadStream({ start, end, autoClose: true }));
  } finally {
    if (!handedOver) await file.fh.close().catch(() => undefined);
  }
}

/** GET/HEAD under /pub: a file, or a directory listing (a directory without its `/` is redirected). */
export function pubHandler(pubDir: string) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      reply.header('allow', 'GET, HEAD');
      throw CapsuleError.method_not_allowed(`${request.method} is not allowed on ${PUB_PREFIX}`);
    }
    const { path, query } = splitTarget(request.raw.url ?? '');
    const segments = pubSegments(path);
    if (segments === undefined) throw CapsuleError.bad_path('Invalid path');
    let rootReal: string;
    try {
      rootReal = await realpath(pubDir);
    } catch {
      throw CapsuleError.not_found('Not found');
    }
    const relative = segments.join('/');
    if (relative !== '') {
      try {
        return await sendFile(request, reply, await openInsideRoot(rootReal, relative), segments[segments.length - 1]);
      } catch (err) {
        if (!(err instanceof ConfineError)) throw err;
        if (err.kind !== 'directory') throw CapsuleError.not_found('Not found');
      }
    }
    // a directory: its real path must still be inside the root (a symlinked directory may point out)
    let dirReal: string;
    try {
      dirReal = await realpath(join(rootReal, relative));
    } catch {
      throw CapsuleError.not_found('Not found');
    }
    if (dirReal !== rootReal && !isInside(rootReal, dirReal)) throw CapsuleError.not_found('Not found');
    if (!path.endsWith('/')) return reply.code(301).header('location', `${path}/${query}`).send();
    const html = listingHtml(decodeURIComponent(path), await listDirectory(dirReal), relative === '');
    reply.header('content-type', 'text/html;charset=utf-8');
    return reply.send(request.method === 'HEAD' ? undefined : html);
  };
}
