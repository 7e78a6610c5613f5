// A stand-in for the API of a discovered node (the Foreman Discovery Image cannot boot here): an
// HTTPS (or HTTP) server on loopback, IPv4 and IPv6 on the same port, answering the calls the
// proxy relays (GET /inventory/facter, GET /facts, PUT /power/reboot, PUT /power/kexec and the
// legacy PUT /bmc/<ip>/chassis/power/cycle) with the image's documented answers, and recording
// each request (method, path, headers, body, the local address it arrived on, client certificate).

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface NodeRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The address the request arrived on (`127.0.0.1` or `::1`). */
  localAddress: string;
  /** Whether the proxy presented a client certificate. */
  clientCertificate: boolean;
}

export interface NodeStandIn {
  readonly port: number;
  readonly requests: NodeRequest[];
  /** The facts GET /inventory/facter answers. */
  facts: Record<string, unknown>;
  /** Answer every request with this instead (an error status, or never: `hang`). */
  override: { status: number; body: string } | 'hang' | undefined;
  close(): Promise<void>;
}

export interface NodeStandInOptions {
  /** PEM files of the node's certificate; without them the stand-in speaks plain HTTP. */
  tls?: { cert: string; key: string };
  /** Also listen on [::1] (same port). Default true. */
  ipv6?: boolean;
}

export async function startNodeStandIn(options: NodeStandInOptions = {}): Promise<NodeStandIn> {
  const self: NodeStandIn = {
    port: 0,
    requests: [],
    facts: { discovery_bootif: '52:54:00:12:34:56', ipaddress: '127.0.0.1', hostname: 'mac525400123456' },
    override: undefined,
    close: async () => undefined,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      self.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        localAddress: (req.socket.localAddress ?? '').replace(/^::ffff:/, ''),
        clientCertificate: !!cert && Object.keys(cert).length > 0,
      });
      const send = (status: number, body: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (self.override === 'hang') return;
      if (self.override) return send(self.override.status, self.override.body);
      const path = req.url ?? '';
      if (req.method === 'GET' && (path === '/inventory/facter' || path === '/facts')) return send(200, JSON.stringify(self.facts));
      if (req.method === 'PUT' && (path === '/power/reboot' || path === '/power/kexec' || /^\/bmc\/[^/]+\/chassis\/power\/cycle$/.test(path))) {
        return send(200, '{"result":true}');
      }
      send(404, '{"message":"Not found"}');
    });
  };
  const make = async (): Promise<Server> => {
    if (!options.tls) return createHttpServer(onRequest);
    const [cert, key] = await Promise.all([readFile(options.tls.cert), readFile(options.tls.key)]);
    // requestCert: to see whether the proxy presents a certificate (it does not); none is required.
    return createHttpsServer({ cert, key, requestCert: true, rejectUnauthorized: false }, onRequest);
  };
  const servers: Server[] = [];
  const v4 = await make();
  await new Promise<void>((resolve, reject) => {
    v4.once('error', reject);
    v4.listen(0, '127.0.0.1', resolve);
  });
  servers.push(v4);
  const port = (v4.address() as AddressInfo).port;
  if (options.ipv6 !== false) {
    const v6 = await make();
    await new Promise<void>((resolve, reject) => {
      v6.once('error', reject);
      v6.listen(port, '::1', resolve);
    });
    servers.push(v6);
  }
  Object.assign(self, { port });
  self.close = async () => {
    await Promise.all(
      servers.map(async (s) => {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }),
    );
  };
  return self;
}
