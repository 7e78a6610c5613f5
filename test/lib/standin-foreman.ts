// A stand-in Foreman for tests and benchmarks of the templates and registration relays (Foreman
// itself cannot run on these machines). It records every request it receives (method, exact
// request target, headers as sent on the wire, body, peer address, client certificate) and
// answers with whatever the test's handler says.

import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The request target exactly as received, e.g. `/foreman/unattended/x?a=1`. */
  url: string;
  path: string;
  /** Query pairs in order, raw (still percent-encoded). */
  rawQuery: string;
  headers: IncomingMessage['headers'];
  /** Header names as sent, in order, with values. */
  rawHeaders: [string, string][];
  body: Buffer;
  remoteAddress: string;
  /** CN of the client certificate presented over TLS, if any. */
  clientCn?: string;
}

export interface StandInReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait before answering. */
  delayMs?: number;
  /** Never answer (the test closes the server). */
  hang?: boolean;
}

/** A recorded header by name (any case); repeated ones joined with `, `. */
export function header(rec: RecordedRequest, name: string): string | undefined {
  const v = rec.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

export type StandInHandler = (req: RecordedRequest) => StandInReply | Promise<StandInReply>;

export interface StandInTls {
  cert: string;
  key: string;
  /** CA that client certificates must chain to; with it, a client certificate is required. */
  clientCa?: string;
}

export interface StandInForeman {
  /** Origin, e.g. `http://127.0.0.1:1234`. */
  origin: string;
  requests: RecordedRequest[];
  inFlight: number;
  maxInFlight: number;
  handler: StandInHandler;
  close(): Promise<void>;
}

export async function startStandInForeman(handler: StandInHandler, tls?: StandInTls): Promise<StandInForeman> {
  const self: StandInForeman = {
    origin: '',
    requests: [],
    inFlight: 0,
    maxInFlight: 0,
    handler,
    close: async () => undefined,
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    self.inFlight++;
    self.maxInFlight = Math.max(self.maxInFlight, self.inFlight);
    let done = false;
    const finish = (): void => {
      if (!done) {
        done = true;
        self.inFlight--;
      }
    };
    res.once('close', finish);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      const q = url.indexOf('?');
      const pairs: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const socket = req.socket as TLSSocket;
      const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      const rec: RecordedRequest = {
        method: req.method ?? '',
        url,
        path: q >= 0 ? url.slice(0, q) : url,
        rawQuery: q >= 0 ? url.slice(q + 1) : '',
        headers: req.headers,
        rawHeaders: pairs,
        body: Buffer.concat(chunks),
        remoteAddress: req.socket.remoteAddress ?? '',
        ...(cert && cert.subject ? { clientCn: String(cert.subject.CN) } : {}),
      };
      self.requests.push(rec);
      void Promise.resolve(self.handler(rec)).then(
        (reply) => {
          if (reply.hang) return;
          const send = (): void => {
            res.writeHead(reply.status ?? 200, reply.headers ?? { 'content-type': 'text/plain' });
            res.end(reply.body ?? '');
          };
          if (reply.delayMs) setTimeout(send, reply.delayMs);
          else send();
        },
        (err: unknown) => {
          res.writeHead(599);
          res.end(String(err));
        },
      );
    });
  };
  const server: Server = tls
    ? createHttpsServer(
        {
          cert: readFileSync(tls.cert),
          key: readFileSync(tls.key),
          ...(tls.clientCa ? { ca: readFileSync(tls.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
        },
        onRequest,
      )
    : createHttpServer(onRequest);
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  self.origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  self.close = async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  };
  return self;
}

export interface GatedForeman {
  foreman: StandInForeman;
  /** Let every held request (and any later one) be answered. */
  release(): void;
  /** Resolves once the stand-in has received `count` requests. */
  received(count: number): Promise<void>;
}

/** A stand-in Foreman that holds every request until released: a Foreman slot kept busy. */
export async function startGatedForeman(reply: StandInReply): Promise<GatedForeman> {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const foreman = await startStandInForeman(async () => {
    await gate;
    return reply;
  });
  const received = async (count: number): Promise<void> => {
    while (foreman.requests.length < count) await new Promise((r) => setTimeout(r, 10));
  };
  return { foreman, release: () => release(), received };
}
