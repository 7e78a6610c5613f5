// A stand-in for Pulp's status API (`GET /pulp/api/v3/status/`), which the pulpcore module reads
// for its capabilities (Pulp itself cannot run on these machines). It answers with the versions
// the test chooses, an error status, or never (a hanging Pulp), and counts what it received.

import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export type PulpStandInMode = { kind: 'ok'; components: string[] } | { kind: 'error'; status: number } | { kind: 'hang' };

export interface PulpStandIn {
  /** `https://127.0.0.1:<port>` (or http without TLS material). */
  origin: string;
  mode: PulpStandInMode;
  /** Status requests received. */
  requests: { path: string; accept: string | undefined; clientCertificate: boolean }[];
  /** Requests held by `hang` and not answered yet. */
  readonly hanging: number;
  close(): Promise<void>;
}

/** The body Pulp's status API answers (trimmed to what matters). */
export function pulpStatusBody(components: string[]): string {
  return JSON.stringify({
    versions: components.map((component) => ({ component, version: '3.49.1', package: `pulp-${component}`, module: `pulp_${component}`, domain_compatible: true })),
    online_workers: [{ name: '1@capsule.example.com', last_heartbeat: '2026-12-03T15:00:00Z' }],
    online_content_apps: [{ name: '1@capsule.example.com', last_heartbeat: '2026-12-03T15:00:00Z' }],
    database_connection: { connected: true },
    redis_connection: { connected: true },
    storage: { total: 107374182400, used: 10737418240, free: 96636764160 },
  });
}

export async function startPulpStandIn(mode: PulpStandInMode, tls?: { cert: string; key: string }): Promise<PulpStandIn> {
  const held = new Set<ServerResponse>();
  const self = {
    origin: '',
    mode,
    requests: [] as PulpStandIn['requests'],
    get hanging() {
      return held.size;
    },
    close: async () => undefined,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '';
    if (!path.startsWith('/pulp/api/v3/status/')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"detail":"Not found."}');
      return;
    }
    const cert = (req.socket as TLSSocket).getPeerCertificate?.();
    self.requests.push({ path, accept: req.headers.accept, clientCertificate: !!cert && Object.keys(cert).length > 0 });
    const m = self.mode;
    if (m.kind === 'hang') {
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    if (m.kind === 'error') {
      res.writeHead(m.status, { 'content-type': 'application/json' }).end('{"detail":"broken"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(pulpStatusBody(m.components));
  };
  const server: Server = tls ? createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.origin = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return self;
}
