// Sending one DNS message to one server and getting its answer: UDP first (one socket, the same
// message re-sent on each try so a late answer to an earlier try still counts), TCP when the
// answer comes back truncated or the message is too large for UDP, an overall deadline, optional
// TSIG signing of the request and verification of the reply.

import { randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, createConnection } from 'node:net';
import { DnsError, DnsParseError, DnsTransportError, DnsTsigError } from './errors.ts';
import { decodeMessage, encodeMessage, rcodeName, type Message } from './message.ts';
import { namesEqual } from './name.ts';
import { signRequest, verifyResponse, type TsigKey } from './tsig.ts';

export interface ServerAddress {
  /** An IP literal (resolve names with resolveServer first). */
  host: string;
  port: number;
}

export function formatServer(s: ServerAddress): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/**
 * Parse `host`, `host:port`, `[v6]:port`, a bare IPv6 address, or nsupdate's `host port`.
 * Throws DnsError naming the problem.
 */
export function parseServerSpec(spec: string, defaultPort = 53): { host: string; port: number } {
  const s = spec.trim();
  const portOf = (p: string): number => {
    if (!/^[0-9]{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
      throw new DnsError(`invalid port '${p}' in DNS server '${spec}'`, 'dns.config');
    }
    return Number(p);
  };
  let host: string;
  let port = defaultPort;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  const spaced = /^(\S+)\s+(\S+)$/.exec(s);
  if (bracket) {
    host = bracket[1];
    if (bracket[2] !== undefined) port = portOf(bracket[2]);
  } else if (spaced) {
    host = spaced[1];
    port = portOf(spaced[2]);
  } else if (isIP(s) === 6) {
    host = s;
  } else if (s.split(':').length === 2) {
    [host] = s.split(':');
    port = portOf(s.split(':')[1]);
  } else {
    host = s;
  }
  if (host === '' || /\s/.test(host) || (isIP(host) === 0 && !/^[A-Za-z0-9_.-]+$/.test(host))) {
    throw new DnsError(`invalid DNS server '${spec}'`, 'dns.config');
  }
  return { host, port };
}

/** Resolve the host part to one address (IP literals pass through without a lookup). */
export async function resolveServer(spec: { host: string; port: number }): Promise<ServerAddress> {
  if (isIP(spec.host)) return spec;
  try {
    // IPv4 first: `localhost` often resolves to ::1 first while servers commonly listen on 127.0.0.1
    const all = await lookup(spec.host, { all: true });
    const pick = all.find((a) => a.family === 4) ?? all[0];
    if (!pick) throw new Error('no addresses');
    return { host: pick.address, port: spec.port };
  } catch (err) {
    throw new DnsTransportError(`cannot resolve DNS server name '${spec.host}': ${(err as Error).message}`, 'dns.resolve');
  }
}

export interface ExchangeOptions {
  server: ServerAddress;
  /** Per-try UDP timeouts in ms (e.g. [5000, 8000, 13000]); at least one entry. */
  tryTimeoutsMs: readonly number[];
  /** Absolute deadline (ms since the epoch) for the whole exchange, TCP fallback included. */
  deadline?: number;
  signal?: AbortSignal;
  tsig?: TsigKey;
  /** Skip UDP. */
  tcp?: boolean;
}

export interface ExchangeResult {
  response: Message;
  transport: 'udp' | 'tcp';
  /** `verified`: the reply was signed with our key; `unsigned`: an error reply without TSIG. */
  signature: 'none' | 'verified' | 'unsigned';
}

const UDP_LIMIT = 512;

export function randomId(): number {
  return randomInt(0, 0x10000);
}

/** Send `request` (its id is used as is) and return the matching, verified reply. */
export async function exchange(request: Message, opts: ExchangeOptions): Promise<ExchangeResult> {
  const plain = encodeMessage(request);
  let wire = plain;
  let mac: Uint8Array | undefined;
  if (opts.tsig) {
    const signed = signRequest(plain, opts.tsig);
    wire = signed.wire;
    mac = signed.mac;
  }
  const deadline = opts.deadline ?? Date.now() + opts.tryTimeoutsMs.reduce((a, b) => a + b, 0) + 5000;
  const where = formatServer(opts.server);
  let raw: Uint8Array;
  let transport: 'udp' | 'tcp' = 'udp';
  if (opts.tcp || wire.length > UDP_LIMIT) {
    transport = 'tcp';
    raw = await tcpExchange(wire, request, opts.server, deadline, opts.signal);
  } else {
    raw = await udpExchange(wire, request, opts, deadline);
    if (decodeMessage(raw).tc) {
      transport = 'tcp';
      raw = await tcpExchange(wire, request, opts.server, deadline, opts.signal);
    }
  }
  const response = decodeMessage(raw);
  if (!opts.tsig || !mac) return { response, transport, signature: 'none' };
  const check = verifyResponse(raw, opts.tsig, mac);
  if (check.kind === 'rejected') {
    const hint =
      check.reason === 'BADSIG'
        ? 'the secret does not match the server\'s copy of the key'
        : check.reason === 'BADKEY'
          ? 'the server does not know this key name/algorithm'
          : check.reason === 'BADTIME'
            ? 'the clocks of the proxy and the server differ too much'
            : 'the server refused the signature';
    throw new DnsTsigError(
      `${where} rejected TSIG key '${opts.tsig.name}' (${opts.tsig.algorithm}): ${rcodeName(response.rcode)}/${check.reason}, ${hint}`,
    );
  }
  if (check.kind === 'unsigned') {
    if (response.rcode === 0) throw new DnsTsigError(`${where} sent an unsigned reply to a signed request`);
    return { response, transport, signature: 'unsigned' };
  }
  return { response, transport, signature: 'verified' };
}

/** Does `raw` answer `request`? (id, QR, opcode, question) */
function matches(raw: Uint8Array, request: Message): Message | undefined {
  if (raw.length < 12 || ((raw[0] << 8) | raw[1]) !== request.id) return undefined;
  const m = decodeMessage(raw);
  if (!m.qr || m.opcode !== request.opcode) return undefined;
  const q = request.questions[0];
  // Servers may omit the question in some error replies (FORMERR/NOTIMP); accept those.
  if (q && m.questions.length > 0) {
    const a = m.questions[0];
    if (a.type !== q.type || a.class !== q.class || !namesEqual(a.name, q.name)) return undefined;
  }
  return m;
}

function abortError(where: string): DnsTransportError {
  return new DnsTransportError(`query to ${where} aborted`, 'dns.aborted');
}

function udpExchange(wire: Uint8Array, request: Message, opts: ExchangeOptions, deadline: number): Promise<Uint8Array> {
  const where = formatServer(opts.server);
  return new Promise((resolve, reject) => {
    const sock: UdpSocket = createSocket(isIP(opts.server.host) === 6 ? 'udp6' : 'udp4');
    let timer: NodeJS.Timeout | undefined;
    let tries = 0;
    let lastParseError: DnsParseError | undefined;
    let done = false;
    const finish = (err: Error | undefined, raw?: Uint8Array): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      if (err) reject(err);
      else resolve(raw as Uint8Array);
    };
    const onAbort = (): void => finish(abortError(where));
    if (opts.signal?.aborted) return finish(abortError(where));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const elapsedMsg = (): string => {
      const detail = lastParseError ? `; the only replies were malformed: ${lastParseError.message}` : '';
      return `no reply from DNS server ${where} after ${tries} ${tries === 1 ? 'try' : 'tries'}${detail}`;
    };
    const sendTry = (): void => {
      const remaining = deadline - Date.now();
      if (tries >= opts.tryTimeoutsMs.length || remaining <= 0) {
        return finish(new DnsTransportError(elapsedMsg(), 'dns.timeout'));
      }
      const t = Math.min(opts.tryTimeoutsMs[tries], remaining);
      tries++;
      sock.send(wire, (err) => {
        if (err) finish(new DnsTransportError(`cannot send to DNS server ${where}: ${err.message}`, 'dns.network'));
      });
      timer = setTimeout(sendTry, t);
    };
    sock.on('message', (msg) => {
      let m: Message | undefined;
      try {
        m = matches(msg, request);
      } catch (err) {
        lastParseError = err instanceof DnsParseError ? err : new DnsParseError(String(err));
        return;
      }
      if (m) finish(undefined, new Uint8Array(msg));
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ECONNREFUSED' ? 'connection refused (nothing listening there?)' : err.message;
      finish(new DnsTransportError(`DNS server ${where} unreachable: ${why}`, 'dns.unreachable'));
    });
    sock.connect(opts.server.port, opts.server.host, () => {
      if (!done) sendTry();
    });
  });
}

function tcpExchange(
  wire: Uint8Array,
  request: Message,
  server: ServerAddress,
  deadline: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const where = formatServer(server);
  return new Promise((resolve, reject) => {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      reject(new DnsTransportError(`no time left for a TCP query to DNS server ${where}`, 'dns.timeout'));
      return;
    }
    const sock = createConnection({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, raw?: Uint8Array): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(raw as Uint8Array);
    };
    const onAbort = (): void => finish(abortError(where));
    const timer = setTimeout(
      () => finish(new DnsTransportError(`no TCP reply from DNS server ${where} within the deadline`, 'dns.timeout')),
      remaining,
    );
    if (signal?.aborted) return finish(abortError(where));
    signal?.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(wire.length);
      sock.write(Buffer.concat([len, wire]));
    });
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) return;
        const frame = new Uint8Array(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        try {
          if (matches(frame, request)) return finish(undefined, frame);
        } catch (err) {
          return finish(err instanceof DnsParseError ? new DnsParseError(`malformed TCP reply from ${where}: ${err.message}`) : (err as Error));
        }
      }
    });
    sock.on('end', () => finish(new DnsTransportError(`DNS server ${where} closed the TCP connection without a reply`, 'dns.network')));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ECONNREFUSED' ? 'connection refused (nothing listening there?)' : err.message;
      finish(new DnsTransportError(`DNS server ${where} unreachable over TCP: ${why}`, 'dns.unreachable'));
    });
  });
}
