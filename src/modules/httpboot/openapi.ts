// OpenAPI docs of the HTTP boot file server (spec httpboot.md); merged by
// core/openapi/generate.ts. Client audience, no authorization; /EFI serves the same root.

import { empty, error, header, path } from '../../core/openapi/components.ts';
import type { ModuleApiDocs, OpenApiOperation } from '../../core/openapi/types.ts';

const file = (prefix: string, method: 'GET' | 'HEAD'): OpenApiOperation => ({
  summary: `${method === 'HEAD' ? 'Headers of a boot file' : 'A boot file'} under root_dir (${prefix})`,
  description:
    `\`${prefix}/<path>\` serves \`<root_dir>/<path>\` (the prefix is not part of the file path). Conditional requests (If-Modified-Since → 304) ` +
    'and byte ranges (→ 206) are honoured. Symlinks are followed only inside root_dir.',
  parameters: [
    path('path', 'File path relative to root_dir; may contain `/`.'),
    header('Range', 'A byte range, e.g. `bytes=0-1023`.'),
    header('If-Modified-Since', 'HTTP date: 304 when the file is not newer.'),
  ],
  responses: {
    '200': {
      description: 'The file; Content-Type from the extension (default application/octet-stream), Content-Length, Last-Modified.',
      headers: { 'Last-Modified': { schema: { type: 'string' } }, 'Content-Length': { schema: { type: 'integer' } } },
      ...(method === 'GET' ? { content: { 'application/octet-stream': { schema: { type: 'string', contentEncoding: 'binary' } } } } : {}),
    },
    '206': empty('The requested range (Content-Range).'),
    '304': empty('Not modified.'),
    '403': error('A path outside root_dir, the root itself, or a directory.', 'Directory listing not allowed'),
    '404': error('No such file.', 'Not found'),
    '416': error('The range cannot be satisfied.'),
    '503': error('Not a regular file.', 'Not a regular file'),
  },
});

const root = (prefix: string): OpenApiOperation => ({
  summary: `The root of ${prefix} (always refused)`,
  description: 'The root directory is never listed.',
  responses: { '403': error('Always.', 'Invalid or empty path') },
});

const docs: Record<string, OpenApiOperation> = {};
for (const prefix of ['/httpboot', '/EFI']) {
  for (const method of ['GET', 'HEAD'] as const) {
    docs[`${method} ${prefix}`] = root(prefix);
    docs[`${method} ${prefix}/*`] = file(prefix, method);
  }
}

export default docs satisfies ModuleApiDocs;
