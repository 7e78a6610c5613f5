// POST /ssh/session: the Cockpit web console bridge (spec remote-execution.md §2.6). Not a
// WebSocket: the HTTP connection is taken over and becomes a raw byte pipe to a command (normally
// `cockpit-bridge`) run over SSH on the host. The answer is written as header lines without an HTTP
// status line (`Status: 101` …), which is what foreman-cockpit-session parses. Errors before that
// are written the same way, with a Content-Length so the client shows the message (§8.10).

import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import type { Logger } from '../../core/logging-types.ts';
import type { KnownHostsStore } from '../../lib/ssh/types.ts';
import { knownHostsName } from '../../lib/ssh/known-hosts.ts';
import { asInteger, isHostName, printable } from './validate.ts';

export interface SessionOptions {
  /** Why sessions are refused (missing key files), or undefined. */
  readonly keyProblem: string | undefined;
  privateKey(): Promise<string | undefined>;
  readonly knownHosts: KnownHostsStore;
  readonly hostKeyPolicy: 'accept-new' | 'strict';
  readonly connectTimeoutMs: number;
  readonly log: Logger;
}

interface SessionRequest {
  hostname: string;
  command: string;
  user: string;
  port: number;
  password?: string;
  passphrase?: string;
}

class SessionError extends Error {
  readonly status: 400 | 500;
  constructor(status: 400 | 500, message: string) {
    super(message);
    this.status = status;
  }
}

const UPGRADE_REQUIRED = "Invalid request: /ssh/session requires connection upgrade to 'raw'";

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function parseBody(raw: unknown): SessionRequest {
  let body: unknown = raw;
  if (Buffer.isBuffer(raw)) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new SessionError(400, 'Invalid request: the body is not JSON');
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SessionError(400, 'Invalid request: the body must be a JSON object');
  const b = body as Record<string, unknown>;
  const hostname = optionalString(b, 'hostname');
  if (!hostname || !isHostName(hostname)) throw new SessionError(400, `Invalid request: hostname '${printable(String(b.hostname ?? ''))}' is not a host name or IP address`);
  const command = optionalString(b, 'command');
  if (!command) throw new SessionError(400, 'Invalid request: command is required');
  const port = b.ssh_port === undefined || b.ssh_port === null || b.ssh_port === '' ? 22 : asInteger(b.ssh_port);
  if (port === undefined || port < 1 || port > 65535) throw new SessionError(400, 'Invalid request: ssh_port must be a port number');
  return {
    hostname,
    command,
    port,
    user: optionalString(b, 'ssh_user') ?? 'root',
    password: optionalString(b, 'ssh_password'),
    passphrase: optionalString(b, 'ssh_key_passphrase'),
  };
}

/** The header block written on the raw socket (CRLF line ends, no HTTP status line). */
function statusBlock(status: number, message?: string): string {
  if (status === 101) return 'Status: 101\r\nConnection: upgrade\r\nUpgrade: raw\r\n\r\n';
  const body = Buffer.from(message ?? '');
  return `Status: ${status}\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body.toString()}`;
}

/** `<type> <base64>` of an SSH public key blob (its first field is the type name). */
function keyLine(blob: Buffer): string {
  const len = blob.readUInt32BE(0);
  return `${blob.subarray(4, 4 + len).toString('latin1')} ${blob.toString('base64')}`;
}

function connect(req: SessionRequest, opts: SessionOptions, privateKey: string | undefined): Promise<Client> {
  const hostPort = knownHostsName(req.hostname, req.port);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKeyError: string | undefined;
    const config: ConnectConfig = {
      host: req.hostname,
      port: req.port,
      username: req.user,
      privateKey,
      passphrase: req.passphrase,
      password: req.password,
      readyTimeout: opts.connectTimeoutMs,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        const line = keyLine(key);
        opts.knownHosts.get(hostPort).then(
          async (known) => {
            if (known.includes(line)) return verify(true);
            if (known.length > 0) {
              hostKeyError = `Host key of ${hostPort} does not match the pinned key (${opts.hostKeyPolicy === 'strict' ? 'strict checking' : 'changed since first contact'})`;
              return verify(false);
            }
            if (opts.hostKeyPolicy === 'strict') {
              hostKeyError = `Host key of ${hostPort} is not known and host key checking is strict`;
              return verify(false);
            }
            await opts.knownHosts.add(hostPort, line);
            verify(true);
          },
          (err: Error) => {
            hostKeyError = `Host keys could not be read: ${err.message}`;
            verify(false);
          },
        );
      },
    };
    // A failure after the set-up (a dropped connection) ends the session; it must never be an
    // unhandled 'error' event, which would stop the proxy.
    client.on('error', (err: Error) => opts.log.debug(`cockpit session to ${hostPort}: ${err.message}`));
    client.once('ready', () => resolve(client));
    client.once('error', (err: Error & { level?: string; code?: string }) => {
      client.end();
      if (hostKeyError) return reject(new SessionError(500, hostKeyError));
      // Socket and system-call failures are 400 (the reference's choice), anything else 500.
      const system = err.level === 'client-socket' || err.level === 'client-timeout' || typeof err.code === 'string';
      reject(new SessionError(system ? 400 : 500, err.message));
    });
    client.connect(config);
  });
}

/**
 * Take over the request's connection (the HTTP parser stops reading it) so that every later byte
 * belongs to the bridge. The body was read already.
 */
function takeOver(request: FastifyRequest, reply: FastifyReply): Socket {
  reply.hijack();
  const socket = request.raw.socket;
  socket.removeAllListeners('data');
  socket.removeAllListeners('end');
  socket.removeAllListeners('timeout');
  socket.setTimeout(0);
  // The HTTP parser, when it consumes the socket natively, is detached too.
  const parser = (socket as unknown as { parser?: { unconsume?(): void; finish?(): void } }).parser;
  parser?.unconsume?.();
  return socket;
}

export async function cockpitSession(request: FastifyRequest, reply: FastifyReply, opts: SessionOptions): Promise<void> {
  const connection = String(request.headers.connection ?? '');
  const upgrade = String(request.headers.upgrade ?? '');
  if (connection !== 'upgrade' || !upgrade.split(',').some((p) => p.trim().toLowerCase() === 'raw')) {
    await reply.code(400).type('text/plain').send(UPGRADE_REQUIRED);
    return;
  }
  const socket = takeOver(request, reply);
  const fail = (err: unknown): void => {
    const e = err instanceof SessionError ? err : new SessionError(500, 'Internal error');
    if (!(err instanceof SessionError)) opts.log.error(`cockpit session failed: ${(err as Error).message}`, err);
    else opts.log.warn(`cockpit session refused (${e.status}): ${e.message}`);
    socket.end(statusBlock(e.status, e.message));
  };
  let req: SessionRequest;
  try {
    req = parseBody(request.body);
    if (opts.keyProblem && !req.password) throw new SessionError(500, opts.keyProblem);
  } catch (err) {
    return fail(err);
  }
  let client: Client;
  try {
    const key = opts.keyProblem ? undefined : await opts.privateKey();
    client = await connect(req, opts, key);
  } catch (err) {
    return fail(err);
  }
  // The channel is wired inside exec's callback, synchronously: ssh2 goes on parsing the packet
  // that confirmed the channel, and a fast command's output (even its end) may be in it.
  client.exec(req.command, (err, channel: ClientChannel) => {
    if (err) {
      client.end();
      return fail(new SessionError(500, err.message));
    }
    opts.log.info(`cockpit session to ${req.user}@${req.hostname}:${req.port} started`);
    socket.write(statusBlock(101));
    channel.stderr.on('data', (d: Buffer) => opts.log.debug(`cockpit session ${req.hostname}: ${d.toString('utf8').trimEnd()}`));
    channel.pipe(socket);
    socket.pipe(channel);
    const close = (): void => {
      client.end();
      socket.destroy();
    };
    channel.once('close', close);
    socket.once('close', close);
    socket.once('error', close);
    client.once('error', close);
  });
}
