// A stand-in for Pulp's content app (pulpcore-content cannot run here): a plain node HTTP server
// serving a directory under /pulp/content/ and /pulp/container/, on a TCP port or a unix socket,
// with single-range Range requests, streaming from disk with backpressure. It records the path
// and headers of every request (X-CLIENT-CERT is what Pulp's cert guard would read).

import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

export interface ContentOriginStandIn {
  /** `http://127.0.0.1:<port>` or `unix:<path>`: what pulp_content_url is set to. */
  url: string;
  requests: { method: string; path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

const BASES = ['/pulp/content/', '/pulp/container/'];

export async function startContentOrigin(root: string, socketPath?: string): Promise<ContentOriginStandIn> {
  const requests: ContentOriginStandIn['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    requests.push({ method: req.method ?? '', path: url, headers: req.headers });
    const path = decodeURIComponent(url.split('?')[0]);
    const base = BASES.find((b) => path.startsWith(b));
    const relative = base === undefined ? undefined : normalize(path.slice(base.length));
    if (relative === undefined || relative.startsWith('..')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404: Not Found');
      return;
    }
    const file = join(root, base === '/pulp/container/' ? 'container' : 'content', relative);
    void (async () => {
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404: Not Found');
        return;
      }
      let start = 0;
      let end = st.size - 1;
      const m = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
      let status = 200;
      if (m && (m[1] !== '' || m[2] !== '')) {
        start = m[1] === '' ? Math.max(0, st.size - Number(m[2])) : Number(m[1]);
        end = m[1] !== '' && m[2] !== '' ? Math.min(Number(m[2]), st.size - 1) : st.size - 1;
        if (start > end) {
          res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
          return;
        }
        status = 206;
      }
      res.writeHead(status, {
        'content-type': 'application/octet-stream',
        'content-length': String(end - start + 1),
        'accept-ranges': 'bytes',
        ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${st.size}` } : {}),
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      await pipeline(createReadStream(file, { start, end, highWaterMark: 256 * 1024 }), res).catch(() => undefined);
    })();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => (socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve)));
  return {
    url: socketPath ? `unix:${socketPath}` : `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
