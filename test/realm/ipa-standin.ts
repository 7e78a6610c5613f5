// A stand-in FreeIPA server (FreeIPA cannot run here): HTTPS, `login_password` issuing an
// `ipa_session` cookie, and the JSON-RPC endpoint `/ipa/session/json` with the host_* commands the
// proxy uses, answering with IPA's reply envelope and error names/codes (NotFound 4001,
// DuplicateEntry 4002, EmptyModlist 4202). Referer and session are enforced as IPA does.

import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { selfSignedCert } from '../bmc/redfish-standin.ts';
import { tempDir, removeDir } from '../lib/procs.ts';

export interface IpaHost {
  fqdn: string[];
  has_keytab: boolean;
  has_password: boolean;
  userclass?: string[];
  krbprincipalname: string[];
  /** Stand-in only: whether DNS records exist (host_del updatedns=true fails without). */
  dns: boolean;
}

export interface IpaCall {
  method: string;
  args: unknown[];
  options: Record<string, unknown>;
}

export interface IpaStandIn {
  readonly port: number;
  readonly origin: string;
  /** PEM of the server certificate (a CA for itself). */
  readonly certFile: string;
  readonly hosts: Map<string, IpaHost>;
  readonly calls: IpaCall[];
  logins(): number;
  /** Kerberos logins accepted (a SPNEGO token carrying a ticket for HTTP/<host>). */
  kerberosLogins(): number;
  /** JSON-RPC methods the stand-in receives but never answers (a hung IPA). */
  readonly hang: Set<string>;
  /** Forget every session, as IPA does when they expire. */
  expireSessions(): void;
  close(): Promise<void>;
}

export async function startIpaStandIn(opts: { user: string; password: string; realm: string }): Promise<IpaStandIn> {
  const dir = await tempDir('ipa');
  const tls = await selfSignedCert(dir);
  const hosts = new Map<string, IpaHost>();
  const calls: IpaCall[] = [];
  const hang = new Set<string>();
  const sessions = new Set<string>();
  let logins = 0;
  let kerberosLogins = 0;
  let port = 0;

  const body = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const refererOk = (req: IncomingMessage): boolean =>
    [`https://127.0.0.1:${port}/ipa`, `https://localhost:${port}/ipa`].some((r) => String(req.headers.referer ?? '').startsWith(r));
  const newSession = (res: ServerResponse): void => {
    const token = randomBytes(16).toString('hex');
    sessions.add(token);
    res.writeHead(200, { 'set-cookie': `ipa_session=MagBearerToken=${token}; path=/ipa; httponly; secure`, 'content-type': 'text/plain' });
    res.end('');
  };
  // The stand-in cannot decrypt Kerberos tickets (no GSSAPI in Node), but it checks that the
  // SPNEGO token is a GSS-API initial token carrying the SPNEGO OID and an AP-REQ whose clear-text
  // ticket names HTTP/<host>@<realm>, which only a KDC could have issued to the client.
  const spnegoOk = (header: string, host: string): boolean => {
    const m = /^Negotiate\s+(\S+)$/.exec(header);
    if (!m) return false;
    const token = Buffer.from(m[1], 'base64');
    const spnegoOid = Buffer.from([0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
    return token[0] === 0x60 && token.includes(spnegoOid) && token.includes(Buffer.from('HTTP')) &&
      token.includes(Buffer.from(host)) && token.includes(Buffer.from(opts.realm));
  };

  const fault = (name: string, code: number, message: string) => ({ result: null, error: { code, name, message, data: {} }, id: 0, principal: `${opts.user}@${opts.realm}`, version: '4.9.11' });
  const ok = (result: unknown) => ({ result, error: null, id: 0, principal: `${opts.user}@${opts.realm}`, version: '4.9.11' });
  const view = (h: IpaHost, extra: Record<string, unknown> = {}) => {
    const { dns: _dns, ...rest } = h;
    return { ...rest, ...extra };
  };
  const otp = () => randomBytes(9).toString('base64url');

  function dispatch(method: string, args: unknown[], options: Record<string, unknown>): unknown {
    const name = String((args as unknown[])[0] ?? '');
    const host = hosts.get(name);
    const setattr = (options.setattr as string[] | undefined) ?? [];
    const userclass = setattr.filter((a) => a.startsWith('userclass=')).map((a) => a.slice('userclass='.length));
    switch (method) {
      case 'host_show':
        return host ? ok({ result: view(host), value: name, summary: null }) : fault('NotFound', 4001, `${name}: host not found`);
      case 'host_add': {
        if (host) return fault('DuplicateEntry', 4002, `host with name "${name}" already exists`);
        const h: IpaHost = { fqdn: [name], has_keytab: false, has_password: options.random === true, krbprincipalname: [`host/${name}@${opts.realm}`], dns: false };
        if (userclass.length) h.userclass = userclass;
        hosts.set(name, h);
        return ok({ result: view(h, options.random === true ? { randompassword: otp() } : {}), value: name, summary: `Added host "${name}"` });
      }
      case 'host_mod': {
        if (!host) return fault('NotFound', 4001, `${name}: host not found`);
        const sameClass = JSON.stringify(host.userclass ?? []) === JSON.stringify(userclass);
        if (options.random !== true && (userclass.length === 0 || sameClass)) return fault('EmptyModlist', 4202, 'no modifications to be performed');
        if (userclass.length) host.userclass = userclass;
        if (options.random === true) host.has_password = true;
        return ok({ result: view(host, options.random === true ? { randompassword: otp() } : {}), value: name, summary: `Modified host "${name}"` });
      }
      case 'host_disable':
        if (!host) return fault('NotFound', 4001, `${name}: host not found`);
        if (!host.has_keytab) return fault('AlreadyInactive', 4010, 'This entry is already disabled');
        host.has_keytab = false;
        return ok({ result: true, value: name, summary: `Disabled host "${name}"` });
      case 'host_del':
        if (!host) return fault('NotFound', 4001, `${name}: host not found`);
        if (options.updatedns === true && !host.dns) return fault('NotFound', 4001, `${name.split('.').slice(1).join('.')}.: DNS zone not found`);
        hosts.delete(name);
        return ok({ result: { failed: [] }, value: [name], summary: `Deleted host "${name}"` });
      default:
        return fault('CommandError', 905, `unknown command '${method}'`);
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'POST' && path === '/ipa/session/login_password') {
      const form = new URLSearchParams(await body(req));
      if (!refererOk(req)) return void res.writeHead(400, { 'content-type': 'text/plain' }).end('Missing or invalid Referer');
      if (form.get('user') !== opts.user || form.get('password') !== opts.password) {
        return void res.writeHead(401, { 'x-ipa-rejection-reason': 'invalid-password', 'content-type': 'text/html' }).end('Unauthorized');
      }
      logins++;
      return newSession(res);
    }
    if (req.method === 'POST' && path === '/ipa/session/login_kerberos') {
      await body(req);
      const auth = String(req.headers.authorization ?? '');
      if (!auth.startsWith('Negotiate ')) {
        return void res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'text/html' }).end('Unauthorized');
      }
      if (!refererOk(req) || !spnegoOk(auth, String(req.headers.host ?? '').split(':')[0])) {
        return void res.writeHead(401, { 'content-type': 'text/html' }).end('Bad token');
      }
      kerberosLogins++;
      return newSession(res);
    }
    if (req.method === 'POST' && path === '/ipa/session/json') {
      const text = await body(req);
      const cookie = /ipa_session=MagBearerToken=([0-9a-f]+)/.exec(String(req.headers.cookie ?? ''))?.[1];
      if (!cookie || !sessions.has(cookie)) return void res.writeHead(401, { 'content-type': 'text/html' }).end('Unauthorized');
      if (!refererOk(req)) return void res.writeHead(400).end('Missing or invalid Referer');
      const rpc = JSON.parse(text) as { method: string; params: [unknown[], Record<string, unknown>] };
      calls.push({ method: rpc.method, args: rpc.params[0], options: rpc.params[1] });
      if (hang.has(rpc.method)) return; // never answered; closed when the stand-in stops
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(dispatch(rpc.method, rpc.params[0], rpc.params[1])));
    }
    res.writeHead(404).end();
  };

  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch((err: Error) => res.writeHead(500).end(err.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  return {
    port,
    origin: `https://127.0.0.1:${port}`,
    certFile: join(dir, 'cert.pem'),
    hosts,
    calls,
    hang,
    logins: () => logins,
    kerberosLogins: () => kerberosLogins,
    expireSessions: () => sessions.clear(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await removeDir(dir);
    },
  };
}
