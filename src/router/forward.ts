// Relaying one request to an instance with undici's dispatcher API: the request body streams from
// the client to the instance and the response body back, each side pausing the other when its
// buffers fill (a slow client slows the instance's socket, not the router's memory). A failure
// before the instance answered can be retried on another instance when that is safe.

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { clientAddress, connectionTokens, HOP_BY_HOP_HEADERS } from '../lib/http/forwarding.ts';
import { CLIENT_CERTIFICATE_CN_HEADER, clientCertificateIdentity, verifiedClientCertificateDer } from '../core/http/auth.ts';

/** Headers of one connection, not of the request or response, the proxy-auth pair, and `proxy` (httpoxy). */
const HOP_BY_HOP = new Set([
  ...HOP_BY_HOP_HEADERS,
  'proxy-authenticate',
  'proxy-authorization',
  'proxy',
  // Node's server already answered `100 Continue`; the instance must not wait for a second one.
  'expect',
]);

/**
 * The capsule's front-end header for the host's whole certificate (Apache and HAProxy set it; the
 * container gateway reads it from its `trusted_front_ends` and verifies it against the host CA).
 */
export const HOST_CERTIFICATE_HEADER = 'x-rhsm-ssl-client-cert';

export interface ForwardedFor {
  /** `http` or `https`: how the client reached the router. */
  proto: string;
  requestId: string;
  /**
   * Pass the client's whole certificate in X-RHSM-SSL-Client-Cert (base64 DER, `(null)` without
   * one, as Apache says it), for features that verify hosts' certificates themselves.
   */
  hostCertificate?: boolean;
}

/**
 * The request headers for the instance: hop-by-hop ones removed, `X-Forwarded-For` with the
 * client's address appended (so the last entry is always the one the router saw),
 * `X-Forwarded-Proto` and `X-Forwarded-Host` set by the router (a client's own are dropped), and
 * `X-Request-Id` so the instance logs the request under the router's id, and
 * `X-Client-Certificate-CN` with the CN of the certificate the client presented, empty without
 * one (a client's own header is dropped): an instance that trusts the router as a front end
 * (settings.yml `trusted_proxies`) then authorizes and identifies the original caller, not the
 * router (pull-mode `/ssh/jobs`, OpenSCAP's own-host rule).
 */
export function upstreamHeaders(req: IncomingMessage, forwarded: ForwardedFor): Record<string, string | string[]> {
  const incoming = req.headers;
  const tokens = connectionTokens(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || tokens.has(name)) continue;
    // Host is the instance's own (undici sets it, and derives the TLS server name from it); the
    // client's travels as X-Forwarded-Host, which the proxy's modules read first.
    if (name === 'host' || name === 'x-forwarded-proto' || name === 'x-forwarded-host' || name === 'x-forwarded-for' || name === CLIENT_CERTIFICATE_CN_HEADER || name === HOST_CERTIFICATE_HEADER) continue;
    out[name] = value;
  }
  const peer = clientAddress(req.socket.remoteAddress);
  const prior = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = prior ? `${prior}, ${peer}` : peer;
  out['x-forwarded-proto'] = forwarded.proto;
  if (incoming.host) out['x-forwarded-host'] = incoming.host;
  out['x-request-id'] = forwarded.requestId;
  // Always set on relayed requests: empty says the client presented no certificate (absent would
  // mean the router calling for itself).
  const who = (req.socket as TLSSocket).authorized === true ? clientCertificateIdentity(req.socket, true) : undefined;
  out[CLIENT_CERTIFICATE_CN_HEADER] = who !== undefined && 'cn' in who ? who.cn : '';
  if (forwarded.hostCertificate) out[HOST_CERTIFICATE_HEADER] = verifiedClientCertificateDer(req.socket)?.toString('base64') ?? '(null)';
  return out;
}

/** The instance's response headers without hop-by-hop ones (Node frames the body itself). */
export function downstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const tokens = connectionTokens(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || tokens.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}

/** True when a request has a body to stream (RFC 9112 §6.3). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Failures where the instance never got the request: connect refused, timed out, TLS failed. */
export function isConnectFailure(err: unknown): boolean {
  if (err instanceof undiciErrors.ConnectTimeoutError) return true;
  const code = (err as { code?: string } | null)?.code;
  return (
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    (typeof code === 'string' && (code.startsWith('ERR_SSL') || code.includes('CERT')))
  );
}

/** The connection broke (reset, closed) before or while the instance answered. */
export function isConnectionLost(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return err instanceof undiciErrors.SocketError || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET';
}

export type ExchangeResult =
  /** The response was relayed (or the relay broke after it began: nothing more can be done). */
  | { kind: 'relayed'; status: number; aborted: boolean }
  /** No response started; `err` says why. */
  | { kind: 'failed'; err: Error };

/**
 * Send `req` to `pool` and stream the answer into `res`. Resolves once the exchange is over.
 * `res` is written only once the instance answered, so on `failed` the caller may still try
 * another instance or answer an error.
 */
export function exchange(
  pool: Dispatcher,
  req: IncomingMessage,
  res: ServerResponse,
  opts: { path: string; headers: Record<string, string | string[]>; body: boolean },
): Promise<ExchangeResult> {
  return new Promise((resolve) => {
    let controller: Dispatcher.DispatchController | undefined;
    let status = 0;
    let started = false;
    let done = false;
    let held: Buffer | undefined;
    const finish = (result: ExchangeResult): void => {
      if (done) return;
      done = true;
      res.off('close', onClientGone);
      resolve(result);
    };
    // The client went away before the answer was complete: stop the instance's side too.
    const onClientGone = (): void => {
      if (done || res.writableFinished) return;
      controller?.abort(new undiciErrors.RequestAbortedError('client closed the connection'));
      finish({ kind: 'relayed', status, aborted: true });
    };
    res.once('close', onClientGone);
    const onDrain = (): void => controller?.resume();
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed) c.abort(new undiciErrors.RequestAbortedError('client closed the connection'));
      },
      onResponseStart(_c, statusCode, headers) {
        if (statusCode < 200) return; // 1xx interim answers are not relayed
        status = statusCode;
        started = true;
        res.writeHead(statusCode, downstreamHeaders(headers));
      },
      onResponseData(c, chunk) {
        // One chunk is held back so that the last goes out with end(): a small answer then leaves
        // in one write (one TLS record) instead of a write and an empty end.
        const previous = held;
        held = chunk;
        if (previous !== undefined && !res.write(previous)) {
          c.pause();
          res.once('drain', onDrain);
        }
      },
      onResponseEnd() {
        res.end(held);
        held = undefined;
        finish({ kind: 'relayed', status, aborted: false });
      },
      onResponseError(_c, err) {
        if (started) {
          // Headers are out: the client can only learn of the failure by a cut connection.
          res.destroy(err);
          finish({ kind: 'relayed', status, aborted: true });
        } else finish({ kind: 'failed', err });
      },
    };
    pool.dispatch(
      {
        path: opts.path,
        method: req.method ?? 'GET',
        headers: opts.headers,
        body: opts.body ? req : null,
      },
      handler,
    );
  });
}
