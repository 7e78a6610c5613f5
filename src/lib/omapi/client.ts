// Native OMAPI client: one persistent TCP connection to dhcpd, authenticated once per connection,
// requests serialised (dhcpd answers in order on one connection anyway), every request under a
// deadline, transparent reconnect on the next request after the connection drops, and a circuit
// breaker: once an exchange timed out (dhcpd accepts but does not answer), the following
// operations fail at once for a short open period, then a single one probes dhcpd again.

import { connect, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { Authenticator, type OmapiKey } from './auth.ts';
import { CircuitBreaker } from './breaker.ts';
import {
  OmapiDecoder,
  Op,
  encodeForSigning,
  encodeMessage,
  encodeStartup,
  getValue,
  u32,
  type OmapiMessage,
  type Values,
} from './protocol.ts';

/** isc_result_t values dhcpd puts in status replies. */
export const ISC_R_EXISTS = 18;
export const ISC_R_NOTFOUND = 23;

/** `unavailable`: refused without asking dhcpd, because an earlier exchange timed out (breaker open). */
export type OmapiErrorKind = 'connect' | 'timeout' | 'closed' | 'auth' | 'protocol' | 'status' | 'unavailable';

export class OmapiError extends Error {
  readonly kind: OmapiErrorKind;
  /** Server's message for `status` errors, e.g. `not found`, `already exists`, `key conflict`. */
  readonly serverMessage: string | undefined;
  readonly result: number | undefined;
  /** For `unavailable`: ms until the breaker lets a trial through. */
  readonly retryAfterMs: number | undefined;
  constructor(kind: OmapiErrorKind, message: string, serverMessage?: string, result?: number, retryAfterMs?: number) {
    super(message);
    this.name = 'OmapiError';
    this.kind = kind;
    this.serverMessage = serverMessage;
    this.result = result;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface OmapiClientOptions {
  host: string;
  port: number;
  key?: OmapiKey;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * After an exchange timed out: how long further operations fail at once (kind `unavailable`)
   * before one is let through to probe dhcpd again. Default: requestTimeoutMs. 0: no open period.
   */
  breakerOpenMs?: number;
}

export interface HostObject {
  name?: string;
  ip?: string;
  mac?: string;
  /** 1 = ethernet. */
  hardwareType?: number;
  statements?: string;
}

interface Pending {
  id: number;
  resolve: (m: OmapiMessage) => void;
  reject: (e: Error) => void;
}

interface Connection {
  socket: Socket;
  decoder: OmapiDecoder;
  auth: Authenticator | undefined;
  authHandle: number;
  pending: Pending | undefined;
  dead: Error | undefined;
}

function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new OmapiError('protocol', `omapi: invalid IPv4 address ${ip}`);
  }
  return Buffer.from(parts);
}

function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  const out = Buffer.alloc(parts.length);
  parts.forEach((p, i) => {
    const v = Number.parseInt(p, 16);
    if (!/^[0-9a-fA-F]{1,2}$/.test(p) || Number.isNaN(v)) throw new OmapiError('protocol', `omapi: invalid MAC ${mac}`);
    out[i] = v;
  });
  return out;
}

export function hostValues(h: HostObject): Values {
  const v: Values = [];
  if (h.name !== undefined) v.push(['name', Buffer.from(h.name, 'utf8')]);
  if (h.ip !== undefined) v.push(['ip-address', ipBytes(h.ip)]);
  if (h.mac !== undefined) {
    v.push(['hardware-address', macBytes(h.mac)]);
    v.push(['hardware-type', u32(h.hardwareType ?? 1)]);
  }
  if (h.statements !== undefined) v.push(['statements', Buffer.from(h.statements, 'utf8')]);
  return v;
}

/** Decoded view of a host object returned by the server. */
export function decodeHost(values: Values): HostObject {
  const h: HostObject = {};
  const name = getValue(values, 'name');
  if (name) h.name = name.toString('utf8');
  const ip = getValue(values, 'ip-address');
  if (ip && ip.length === 4) h.ip = Array.from(ip).join('.');
  const hw = getValue(values, 'hardware-address');
  if (hw && hw.length > 0) h.mac = Array.from(hw, (b) => b.toString(16).padStart(2, '0')).join(':');
  const ht = getValue(values, 'hardware-type');
  if (ht && ht.length === 4) h.hardwareType = ht.readUInt32BE(0);
  return h;
}

export class OmapiClient {
  private readonly opts: Required<Omit<OmapiClientOptions, 'key'>> & { key?: OmapiKey };
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private nextId = randomInt(1, 0x7fffffff);
  private closed = false;
  private readonly breaker: CircuitBreaker;

  constructor(opts: OmapiClientOptions) {
    const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.opts = { connectTimeoutMs: 5000, ...opts, requestTimeoutMs, breakerOpenMs: opts.breakerOpenMs ?? requestTimeoutMs };
    if (opts.key) new Authenticator(opts.key); // validate algorithm and secret up front
    this.breaker = new CircuitBreaker({ openMs: this.opts.breakerOpenMs });
  }

  get target(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  /** Create a host object; fails with status `already exists` / `key conflict` when taken. */
  async createHost(h: HostObject): Promise<HostObject> {
    const reply = await this.request({
      op: Op.open,
      handle: 0,
      message: [
        ['type', Buffer.from('host')],
        ['create', u32(1)],
        ['exclusive', u32(1)],
      ],
      object: hostValues(h),
    });
    if (reply.op !== Op.update) throw this.statusError(reply, 'create host');
    return decodeHost(reply.object);
  }

  /** Look a host up by the given keys (name, or mac, or ip); undefined when not found. */
  async findHost(h: HostObject): Promise<{ handle: number; host: HostObject } | undefined> {
    return this.exclusive(() => this.findHostUnlocked(h));
  }

  /**
   * Change fields of the host found by `keys` (e.g. its ip-address or statements). Resolves the
   * host as the server reports it after the change, or undefined when there was no such host.
   */
  async updateHost(keys: HostObject, changes: HostObject): Promise<HostObject | undefined> {
    return this.exclusive(async () => {
      const found = await this.findHostUnlocked(keys);
      if (!found) return undefined;
      const reply = await this.send({ op: Op.update, handle: found.handle, message: [], object: hostValues(changes) });
      if (reply.op === Op.update) return decodeHost(reply.object);
      const result = getValue(reply.message, 'result');
      if (reply.op === Op.status && result && result.length === 4 && result.readUInt32BE(0) === 0) {
        return (await this.findHostUnlocked(keys))?.host ?? { ...found.host, ...changes };
      }
      throw this.statusError(reply, 'update host');
    });
  }

  /** Remove the host found by the given keys. Resolves false when there was no such host. */
  async deleteHost(h: HostObject): Promise<boolean> {
    return this.exclusive(async () => {
      const found = await this.findHostUnlocked(h);
      if (!found) return false;
      const reply = await this.send({ op: Op.delete, handle: found.handle, message: [], object: [] });
      if (reply.op !== Op.status) throw new OmapiError('protocol', `omapi: unexpected opcode ${reply.op} to delete`);
      const result = getValue(reply.message, 'result');
      if (result && result.length === 4 && result.readUInt32BE(0) !== 0) throw this.statusError(reply, 'delete host');
      return true;
    });
  }

  close(): void {
    this.closed = true;
    const c = this.conn;
    this.conn = undefined;
    if (c) this.kill(c, new OmapiError('closed', 'omapi: client closed'));
  }

  private async findHostUnlocked(h: HostObject): Promise<{ handle: number; host: HostObject } | undefined> {
    const reply = await this.send({
      op: Op.open,
      handle: 0,
      message: [['type', Buffer.from('host')]],
      object: hostValues(h),
    });
    if (reply.op === Op.update) return { handle: reply.handle, host: decodeHost(reply.object) };
    const err = this.statusError(reply, 'open host');
    if (err.result === ISC_R_NOTFOUND) return undefined;
    throw err;
  }

  private statusError(reply: OmapiMessage, what: string): OmapiError {
    const text = getValue(reply.message, 'message')?.toString('utf8').replace(/\0+$/, '');
    const result = getValue(reply.message, 'result');
    const code = result && result.length === 4 ? result.readUInt32BE(0) : undefined;
    if (reply.op !== Op.status) return new OmapiError('protocol', `omapi: unexpected opcode ${reply.op} to ${what}`);
    if (this.opts.key && reply.signature.length === 0 && text === undefined) {
      // dhcpd answers a request it cannot verify with a bare, unsigned status.
      return new OmapiError('auth', `omapi: ${this.target} rejected the signature of key ${this.opts.key.name} (wrong key_secret or key_algorithm?), result ${code}`, text, code);
    }
    return new OmapiError('status', `omapi: ${what} failed: ${text ?? `result ${code}`}`, text, code);
  }

  private request(m: Omit<OmapiMessage, 'authid' | 'id' | 'rid' | 'signature'>): Promise<OmapiMessage> {
    return this.exclusive(() => this.send(m));
  }

  /**
   * Run one operation with the connection to ourselves (OMAPI replies carry no ordering
   * guarantees we need), through the breaker.
   */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = (): Promise<T> => this.guarded(fn);
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /**
   * While the breaker is open the operation fails at once instead of waiting out its deadline
   * against a dhcpd that does not answer (and every operation queued behind it doing the same).
   * Only a timeout opens it: a refused connection or an error status already fails fast, and
   * proves dhcpd is answering again when it ends a trial.
   */
  private async guarded<T>(fn: () => Promise<T>): Promise<T> {
    const wait = this.breaker.admit();
    if (wait !== undefined) {
      throw new OmapiError(
        'unavailable',
        `omapi: ${this.target} is not answering (an exchange timed out); next try in ${Math.ceil(wait / 1000)} s`,
        undefined,
        undefined,
        wait,
      );
    }
    try {
      const result = await fn();
      this.breaker.succeeded();
      return result;
    } catch (e) {
      if (e instanceof OmapiError && e.kind === 'timeout') this.breaker.failed();
      else this.breaker.succeeded();
      throw e;
    }
  }

  private async send(m: Omit<OmapiMessage, 'authid' | 'id' | 'rid' | 'signature'>): Promise<OmapiMessage> {
    if (this.closed) throw new OmapiError('closed', 'omapi: client closed');
    const deadline = Date.now() + this.opts.requestTimeoutMs;
    const conn = await this.connection(deadline);
    return this.exchange(conn, m, deadline);
  }

  private exchange(
    conn: Connection,
    m: Omit<OmapiMessage, 'authid' | 'id' | 'rid' | 'signature'>,
    deadline: number,
  ): Promise<OmapiMessage> {
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const body = { ...m, id, rid: 0 };
    let msg: OmapiMessage;
    if (conn.auth) {
      const signature = conn.auth.sign(encodeForSigning(body, conn.auth.length));
      msg = { ...body, authid: conn.authHandle, signature };
    } else {
      msg = { ...body, authid: 0, signature: Buffer.alloc(0) };
    }
    return new Promise<OmapiMessage>((resolve, reject) => {
      if (conn.dead) {
        reject(conn.dead);
        return;
      }
      const timer = setTimeout(() => {
        // The reply may still come later and would be taken for the next request's: drop the
        // connection so the stream starts clean.
        this.kill(conn, new OmapiError('timeout', `omapi: no answer from ${this.target} within ${this.opts.requestTimeoutMs} ms`));
      }, Math.max(1, deadline - Date.now()));
      conn.pending = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      conn.socket.write(encodeMessage(msg));
    });
  }

  private async connection(deadline: number): Promise<Connection> {
    if (this.conn && !this.conn.dead) return this.conn;
    this.conn = undefined;
    if (!this.connecting) {
      this.connecting = this.open(deadline).finally(() => {
        this.connecting = undefined;
      });
    }
    const c = await this.connecting;
    this.conn = c;
    return c;
  }

  private kill(c: Connection, err: Error): void {
    if (!c.dead) c.dead = err;
    const p = c.pending;
    c.pending = undefined;
    c.socket.destroy();
    if (this.conn === c) this.conn = undefined;
    p?.reject(err);
  }

  private open(deadline: number): Promise<Connection> {
    const { host, port } = this.opts;
    const connectBy = Math.min(deadline, Date.now() + this.opts.connectTimeoutMs);
    return new Promise<Connection>((resolve, reject) => {
      const socket = connect({ host, port });
      socket.setNoDelay(true);
      const conn: Connection = {
        socket,
        decoder: new OmapiDecoder(true),
        auth: undefined,
        authHandle: 0,
        pending: undefined,
        dead: undefined,
      };
      let settled = false;
      const fail = (e: Error): void => {
        this.kill(conn, e);
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(e);
        }
      };
      const timer = setTimeout(
        () => fail(new OmapiError('timeout', `omapi: could not connect to ${this.target} within ${this.opts.connectTimeoutMs} ms`)),
        Math.max(1, connectBy - Date.now()),
      );
      socket.once('connect', () => {
        socket.write(encodeStartup());
        void this.authenticate(conn, deadline).then(
          () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            socket.setKeepAlive(true, 30_000);
            resolve(conn);
          },
          (e: Error) => fail(e),
        );
      });
      socket.on('data', (chunk: Buffer) => {
        let msgs: OmapiMessage[];
        try {
          msgs = conn.decoder.push(chunk);
        } catch (e) {
          fail(new OmapiError('protocol', `omapi: bad data from ${this.target}: ${(e as Error).message}`));
          return;
        }
        for (const r of msgs) this.deliver(conn, r);
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        const kind: OmapiErrorKind = settled ? 'closed' : 'connect';
        fail(new OmapiError(kind, `omapi: connection to ${this.target} failed: ${e.code ?? e.message}`));
      });
      socket.on('close', () => {
        fail(new OmapiError('closed', `omapi: connection to ${this.target} closed by the server`));
      });
    });
  }

  private deliver(conn: Connection, r: OmapiMessage): void {
    const p = conn.pending;
    if (!p || r.rid !== p.id) return; // unsolicited notifies are not used by this client
    if (conn.auth && r.signature.length > 0) {
      const ok = r.authid === conn.authHandle && conn.auth.verify(encodeForSigning(r, r.signature.length), r.signature);
      if (!ok) {
        this.kill(conn, new OmapiError('auth', `omapi: reply from ${this.target} has a bad signature`));
        return;
      }
    }
    conn.pending = undefined;
    p.resolve(r);
  }

  private async authenticate(conn: Connection, deadline: number): Promise<void> {
    const key = this.opts.key;
    if (!key) return;
    const auth = new Authenticator(key);
    const reply = await this.exchange(
      conn,
      {
        op: Op.open,
        handle: 0,
        message: [['type', Buffer.from('authenticator')]],
        object: [
          ['name', Buffer.from(auth.name)],
          ['algorithm', Buffer.from(auth.wireAlgorithm)],
        ],
      },
      deadline,
    );
    if (reply.op !== Op.update) {
      const text = getValue(reply.message, 'message')?.toString('utf8');
      throw new OmapiError('auth', `omapi: key ${auth.name} rejected by ${this.target}${text ? `: ${text}` : ''}`);
    }
    conn.auth = auth;
    conn.authHandle = reply.handle;
  }
}
