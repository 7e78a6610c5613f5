// Listeners: which ones exist (compatible mode from http_port/https_port, or the `listeners:`
// extension), which modules each mounts, and the hardened HTTP/HTTPS servers behind them.

import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { isIP, type Socket } from 'node:net';
import { createSecureContext, type TLSSocket, type SecureVersion, type SecureContextOptions } from 'node:tls';
import { ConnectionGuard, ControlPeers, type Refusal } from './connection-guard.ts';
import { clientAddress as peerAddress } from '../../lib/http/forwarding.ts';
import { SettingsError } from '../errors.ts';
import type { GlobalSettings, ListenerSpec } from '../settings/global.ts';
import type { ModuleRecord } from '../lifecycle.ts';
import type { Logger } from '../logging-types.ts';

/** Cipher list for TLS ≤ 1.2 (spec README §2.1). */
export const TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA256',
  'AES256-SHA256',
  'AES128-SHA',
  'AES256-SHA',
];

export function resolveListeners(global: GlobalSettings, settingsFile: string): ListenerSpec[] {
  if (global.listeners.length > 0) return [...global.listeners];
  const out: ListenerSpec[] = [];
  if (global.httpPort !== null) {
    out.push({ name: 'http', bind: global.bindHost, port: global.httpPort, scheme: 'http', audience: 'foreman', clientCert: 'none' });
  }
  if (global.sslCertificate && global.sslPrivateKey && global.sslCaFile) {
    out.push({ name: 'https', bind: global.bindHost, port: global.httpsPort, scheme: 'https', audience: 'foreman', clientCert: 'request' });
  }
  if (out.length === 0) throw new SettingsError(settingsFile, undefined, 'Both http and https are disabled, unable to start.');
  return out;
}

/** Keep only the named listeners (an instance's `--listeners a,b`); unknown names are an error. */
export function selectListeners(all: ListenerSpec[], names: readonly string[] | undefined, settingsFile: string): ListenerSpec[] {
  if (!names || names.length === 0) return all;
  for (const n of names) {
    if (!all.some((l) => l.name === n)) {
      throw new SettingsError(settingsFile, 'listeners', `no listener named '${n}' (defined: ${all.map((l) => l.name).join(', ')})`);
    }
  }
  return all.filter((l) => names.includes(l.name));
}

/**
 * Modules mounted on a listener: running, enabled for its scheme, and of the right audience.
 * A control-plane module named explicitly on a client listener is a configuration error.
 */
export function modulesFor(listener: ListenerSpec, records: ReadonlyMap<string, ModuleRecord>, settingsFile: string): ModuleRecord[] {
  if (listener.modules) {
    for (const name of listener.modules) {
      const r = records.get(name);
      if (r && listener.audience === 'client' && r.def.audience !== 'client') {
        throw new SettingsError(
          settingsFile,
          `listeners.${listener.name}.modules`,
          `module '${name}' is a control-plane (foreman audience) module and cannot be served on client listener '${listener.name}'`,
        );
      }
    }
  }
  return [...records.values()].filter((r) => {
    if (r.state !== 'running') return false;
    if (listener.modules && !listener.modules.includes(r.def.name)) return false;
    if (listener.audience === 'client' && r.def.audience !== 'client') return false;
    return r.enabled === 'both' || r.enabled === listener.scheme;
  });
}

function tlsVersions(disabled: readonly string[], log: Logger): { minVersion: SecureVersion; maxVersion: SecureVersion } {
  let minVersion: SecureVersion = 'TLSv1.2';
  let maxVersion: SecureVersion = 'TLSv1.3';
  for (const v of disabled) {
    if (v === '1.2') minVersion = 'TLSv1.3';
    else if (v === '1.3') maxVersion = 'TLSv1.2';
    else if (['1.0', '1.1', '1', 'SSLv3', 'SSLv2'].includes(v)) continue; // always disabled anyway
    else log.warn(`Unknown TLS version '${v}' in tls_disabled_versions, ignored`);
  }
  if (minVersion === 'TLSv1.3' && maxVersion === 'TLSv1.2') {
    throw new Error('tls_disabled_versions disables every TLS version');
  }
  return { minVersion, maxVersion };
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`Unable to read ${what} '${path}': ${(err as Error).message}`);
  }
}

/** How often foreman_url's host is resolved again for ControlPeers (it may fail at boot, or move). */
const FOREMAN_RESOLVE_INTERVAL_MS = 5 * 60_000;
/** Refused connections are logged at most this often per listening socket, with a count. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Keep `control` up to date with the addresses of foreman_url's host, in the background (the
 * accept path only reads the result), until `server` closes.
 */
function watchForemanAddresses(server: Server, control: ControlPeers, foremanUrl: string | null, log: Logger): void {
  if (!foremanUrl) return;
  const host = new URL(foremanUrl).hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0) {
    control.setResolved([host]);
    return;
  }
  const refresh = (): void => {
    lookup(host, { all: true }).then(
      (addrs) => control.setResolved(addrs.map((a) => a.address)),
      (err: unknown) => log.debug(`Cannot resolve foreman_url host '${host}' for the connection reserve: ${(err as Error).message}`),
    );
  };
  refresh();
  const timer = setInterval(refresh, FOREMAN_RESOLVE_INTERVAL_MS).unref();
  server.once('close', () => clearInterval(timer));
}

const REFUSAL_TEXT: Record<Refusal, (peer: string, global: GlobalSettings) => string> = {
  'peer-limit': (peer, g) => `${peer} already has ${g.limits.maxConnectionsPerPeer} connections (limits: max_connections_per_peer)`,
  full: (_peer, g) => `the listener has ${g.limits.maxConnections} connections open, none idle (limits: max_connections)`,
  reserve: (peer, g) =>
    `${peer} has other connections and only the last ${g.limits.reservedConnections} slots are free, kept for control peers and new peers (limits: reserved_connections)`,
};

/**
 * Per-peer limit, reserve and reaping of idle connections (see connection-guard.ts) on one
 * listening socket. The guard replaces Node's maxConnections, which refuses at the cap without
 * looking at who holds the connections.
 */
function guardConnections(server: Server, global: GlobalSettings, log: Logger): void {
  const l = global.limits;
  const control = new ControlPeers(l.controlPeers);
  watchForemanAddresses(server, control, global.foremanUrl, log);
  const guard = new ConnectionGuard<Socket>(
    { maxConnections: l.maxConnections, maxPerPeer: l.maxConnectionsPerPeer, reserved: l.reservedConnections },
    (peer) => control.has(peer),
  );
  let refused = 0;
  let lastLogged = 0;
  // Appended after Node's own 'connection' listener (HTTP parser / TLS wrapping set up), so a
  // refused socket is destroyed through the same path as a client reset, over HTTP and TLS alike.
  server.on('connection', (socket: Socket) => {
    if (socket.remoteAddress === undefined) {
      socket.destroy(); // the peer is already gone
      return;
    }
    const peer = peerAddress(socket.remoteAddress);
    const refusal = guard.admit(socket, peer);
    if (refusal === undefined) {
      // 'close' is emitted once per socket, whether it ends normally, is reaped here, or fails
      // its TLS handshake (the raw TCP socket closes with the TLS socket); release() is idempotent.
      socket.once('close', () => guard.release(socket));
      return;
    }
    socket.destroy();
    refused++;
    const now = Date.now();
    if (now - lastLogged >= REFUSAL_LOG_INTERVAL_MS) {
      log.warn(`Refused a connection from ${peer}: ${REFUSAL_TEXT[refusal](peer, global)}${refused > 1 ? ` (${refused} refused since the last such message)` : ''}`);
      lastLogged = now;
      refused = 0;
    }
  });
  // A TLS request's socket is the TLSSocket; the guard knows the TCP socket under it (_parent).
  const tcpOf = (socket: Socket): Socket => (socket as Socket & { _parent?: Socket })._parent ?? socket;
  // Prepended: the connection is busy before the application's handler runs.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const tcp = tcpOf(req.socket);
    guard.requestStarted(tcp);
    res.once('close', () => guard.requestFinished(tcp));
  });
}

/** How often Node sweeps connections for header/request timeouts (its default is 30 s). */
function checkInterval(global: GlobalSettings): number {
  return Math.max(250, Math.min(5000, Math.floor(global.limits.headersTimeoutMs / 4)));
}

/** The certificate, key and CA files of an HTTPS listener, with the settings key naming each. */
function tlsFiles(listener: ListenerSpec, global: GlobalSettings): { file: string | null; key: string; what: 'ssl_certificate' | 'ssl_private_key' | 'ssl_ca_file' }[] {
  const own = (k: 'sslCertificate' | 'sslPrivateKey' | 'sslCaFile', name: 'ssl_certificate' | 'ssl_private_key' | 'ssl_ca_file') =>
    listener[k] !== undefined ? { file: listener[k] as string, key: `listeners.${listener.name}.${name}`, what: name } : { file: global[k], key: name, what: name };
  return [own('sslCertificate', 'ssl_certificate'), own('sslPrivateKey', 'ssl_private_key'), own('sslCaFile', 'ssl_ca_file')];
}

/** PEM contents of an HTTPS listener's certificate, key and (when readable) CA. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

/** The TLS context options of an HTTPS listener: its PEM files and the global TLS policy. */
export function secureContextOptions(material: TlsMaterial, global: GlobalSettings, log: Logger): SecureContextOptions {
  const disabledCiphers = new Set(global.sslDisabledCiphers);
  const { minVersion, maxVersion } = tlsVersions(global.tlsDisabledVersions, log);
  return {
    cert: material.cert,
    key: material.key,
    ca: material.ca,
    minVersion,
    maxVersion,
    ciphers: TLS12_CIPHERS.filter((c) => !disabledCiphers.has(c)).join(':'),
    honorCipherOrder: true,
    sessionTimeout: 300,
  };
}

/**
 * Reads an HTTPS listener's PEM files again and checks that they make a TLS context (the key
 * matches the certificate), for a reload: new connections then get them through
 * `server.setSecureContext`. Throws SettingsError naming the settings key; an unreadable CA is
 * logged and left out, as at start.
 */
export async function reloadTlsContext(listener: ListenerSpec, global: GlobalSettings, settingsFile: string, log: Logger): Promise<SecureContextOptions> {
  const [cert, key, ca] = tlsFiles(listener, global);
  const read = async (f: (typeof cert)): Promise<Buffer> => {
    if (!f.file) throw new SettingsError(settingsFile, f.key, `listener '${listener.name}': HTTPS needs ${f.what}`);
    try {
      return await readFile(f.file);
    } catch (err) {
      throw new SettingsError(settingsFile, f.key, `Unable to read ${f.what} '${f.file}': ${(err as Error).message}`);
    }
  };
  const material: TlsMaterial = {
    cert: await read(cert),
    key: await read(key),
    ca: ca.file
      ? await readFile(ca.file).catch((err: unknown) => {
          log.error(`Unable to read ssl_ca_file '${ca.file}': ${(err as Error).message}`);
          return undefined;
        })
      : undefined,
  };
  const options = secureContextOptions(material, global, log);
  try {
    createSecureContext(options);
  } catch (err) {
    throw new SettingsError(settingsFile, key.key, `listener '${listener.name}': the certificate and key do not make a TLS context: ${(err as Error).message}`);
  }
  return options;
}

export function createListenerServer(
  listener: ListenerSpec,
  global: GlobalSettings,
  handler: RequestListener,
  log: Logger,
): Server {
  let server: Server;
  if (listener.scheme === 'https') {
    const [certFile, keyFile, caFile] = tlsFiles(listener, global).map((f) => f.file);
    if (!certFile || !keyFile) throw new Error(`listener '${listener.name}': HTTPS needs ssl_certificate and ssl_private_key`);
    let ca: Buffer | undefined;
    if (caFile) {
      try {
        ca = readFileSync(caFile);
      } catch (err) {
        // Reference behaviour: an unreadable CA is logged and start-up continues.
        log.error(`Unable to read ssl_ca_file '${caFile}': ${(err as Error).message}`);
      }
    }
    const requestCert = listener.clientCert !== 'none';
    server = createHttpsServer(
      {
        ...secureContextOptions({ cert: readPem(certFile, 'ssl_certificate'), key: readPem(keyFile, 'ssl_private_key'), ca }, global, log),
        requestCert,
        // 'request': verify a presented certificate but let certificate-less clients through to
        // per-module authorization (403), as the reference does.
        rejectUnauthorized: listener.clientCert === 'require',
        handshakeTimeout: global.limits.handshakeTimeoutMs,
        allowHalfOpen: true,
        connectionsCheckingInterval: checkInterval(global),
      },
      handler,
    );
    if (requestCert && listener.clientCert === 'request') {
      server.on('secureConnection', (socket: TLSSocket) => {
        const cert = socket.getPeerCertificate();
        if (cert && Object.keys(cert).length > 0 && !socket.authorized) {
          log.warn(`Rejected TLS client ${socket.remoteAddress}: ${String(socket.authorizationError)}`);
          socket.destroy();
        }
      });
    }
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      log.debug(`TLS handshake with ${socket.remoteAddress ?? '?'} failed: ${err.message}`);
    });
  } else {
    server = createHttpServer({ connectionsCheckingInterval: checkInterval(global) }, handler);
  }
  const l = global.limits;
  server.headersTimeout = l.headersTimeoutMs;
  server.requestTimeout = l.requestTimeoutMs;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  guardConnections(server, global, log);
  // A client that half-closes after its request (`Connection: close` then shutdown(SHUT_WR), as
  // socat and scripts do) is answered, then the connection is closed. Node's default aborts the
  // request at the client's FIN, so asynchronous routes never answered. allowHalfOpen is always on
  // for Node's HTTP sockets; for HTTPS it is passed to the TLS server above.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Sockets silent for this long are closed (covers TCP connections that never send anything).
  server.timeout = Math.max(l.requestTimeoutMs, l.headersTimeoutMs) * 2;
  // The answer is written, then the socket destroyed at once, as Node's own handler does: with
  // allowHalfOpen, end() alone would leave a silent client's connection open.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && err.code !== 'ECONNRESET') {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}

/** Bind `server` to `host:port`; `*` is every interface (dual-stack, IPv4-only as fallback). */
export function listen(server: Server, host: string, port: number): Promise<void> {
  const attempt = (h: string, ipv6Only?: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host: h, port, ipv6Only }, () => {
        server.off('error', onError);
        resolve();
      });
    });
  if (host !== '*') return attempt(host.replace(/^\[(.*)\]$/, '$1'));
  return attempt('::', false).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL') return attempt('0.0.0.0');
    throw err;
  });
}
