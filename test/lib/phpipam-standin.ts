// A stand-in for phpIPAM's REST API (phpIPAM, a PHP application with MySQL, is not installed
// here), following its documented request and response shapes: the API under /api/<app id>/,
// `POST user/` with HTTP Basic answering a session token, the `token` header on every other call
// (401 without one, 403 for an unknown or expired one), and the envelope
// `{"code", "success", "data" | "message", "time"}` for answers and errors alike. Controllers:
// sections (by id or name, and their subnets), subnets (by id, `cidr/<subnet>/<mask>`,
// `first_free`, `addresses/<ip>`), addresses (create, delete by `<ip>/<subnet id>`).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { formatAddress, parseAddress, parseNetwork, contains, lastAddress, type Network } from '../../src/modules/externalipam/net.ts';

export interface PhpIpamSection {
  id: string;
  name: string;
  description: string;
}

export interface PhpIpamSubnet {
  id: string;
  subnet: string;
  mask: string;
  sectionId: string;
  description: string;
}

export interface PhpIpamAddress {
  id: string;
  subnetId: string;
  ip: string;
  description: string;
}

export interface PhpIpamRequest {
  method: string;
  /** Path below /api/<app>/, e.g. `subnets/cidr/10.0.0.0/24`. */
  path: string;
  /** The raw request line's path, as sent. */
  rawPath: string;
  authorization: string | undefined;
  token: string | undefined;
}

export interface PhpIpamStandIn {
  url: string;
  app: string;
  user: string;
  password: string;
  sections: PhpIpamSection[];
  subnets: PhpIpamSubnet[];
  addresses: PhpIpamAddress[];
  requests: PhpIpamRequest[];
  /** Logins answered with a token. */
  logins: number;
  /** `hang`: accept requests and never answer them. */
  fault: 'none' | 'hang';
  addSection(name: string, description?: string): PhpIpamSection;
  addSubnet(sectionId: string, cidr: string, description?: string): PhpIpamSubnet;
  addAddress(subnetId: string, ip: string): PhpIpamAddress;
  /** Invalidate every session token (phpIPAM's token expiry). */
  expireTokens(): void;
  close(): Promise<void>;
}

function send(res: ServerResponse, code: number, body: Record<string, unknown>): void {
  const text = JSON.stringify({ code, success: code >= 200 && code < 300, ...body, time: 0.002 });
  res.writeHead(code, { 'content-type': 'application/json; charset=utf-8' }).end(text);
}

const fail = (res: ServerResponse, code: number, message: string): void => send(res, code, { success: false, message });

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startPhpIpamStandIn(options: { app?: string; password?: string } = {}): Promise<PhpIpamStandIn> {
  const app = options.app ?? 'foreman';
  const tokens = new Set<string>();
  const hung: ServerResponse[] = [];
  let nextId = 1;
  const id = (): string => String(nextId++);

  const networkOf = (s: PhpIpamSubnet): Network => parseNetwork(s.subnet, s.mask) as Network;
  const subnetJson = (s: PhpIpamSubnet) => ({
    id: s.id,
    subnet: s.subnet,
    mask: s.mask,
    sectionId: s.sectionId,
    description: s.description,
    vlanId: null,
    isFull: '0',
  });
  const addressJson = (a: PhpIpamAddress) => ({ id: a.id, subnetId: a.subnetId, ip: a.ip, hostname: null, description: a.description, tag: '2' });

  const standIn: PhpIpamStandIn = {
    url: '',
    app,
    user: app,
    password: options.password ?? 'phpipam-secret',
    sections: [],
    subnets: [],
    addresses: [],
    requests: [],
    logins: 0,
    fault: 'none',
    addSection(name, description = '') {
      const s = { id: id(), name, description };
      this.sections.push(s);
      return s;
    },
    addSubnet(sectionId, cidr, description = '') {
      const [subnet, mask] = cidr.split('/');
      const s = { id: id(), subnet, mask, sectionId, description };
      this.subnets.push(s);
      return s;
    },
    addAddress(subnetId, ip) {
      const a = { id: id(), subnetId, ip, description: '' };
      this.addresses.push(a);
      return a;
    },
    expireTokens() {
      tokens.clear();
    },
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://phpipam');
    const prefix = `/api/${app}/`;
    if (!url.pathname.startsWith(prefix)) return fail(res, 400, 'Invalid application id');
    const path = decodeURIComponent(url.pathname.slice(prefix.length)).replace(/\/+$/, '');
    const token = typeof req.headers.token === 'string' ? req.headers.token : undefined;
    standIn.requests.push({ method: req.method ?? '', path, rawPath: url.pathname, authorization: req.headers.authorization, token });
    if (standIn.fault === 'hang') {
      hung.push(res);
      return;
    }

    if (path === 'user' && req.method === 'POST') {
      const expected = `Basic ${Buffer.from(`${standIn.user}:${standIn.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return fail(res, 500, 'Invalid username or password');
      const t = randomBytes(12).toString('base64url');
      tokens.add(t);
      standIn.logins++;
      return send(res, 200, { data: { token: t, expires: '2099-01-01 00:00:00' } });
    }
    if (token === undefined) return fail(res, 401, 'Please provide token');
    if (!tokens.has(token)) return fail(res, 403, 'Token expired');

    const parts = path.split('/');
    const [controller] = parts;
    if (controller === 'sections' && req.method === 'GET') {
      if (parts.length === 1) return send(res, 200, { data: standIn.sections });
      const section = standIn.sections.find((s) => s.id === parts[1] || s.name === parts[1]);
      if (!section) return fail(res, 404, 'Not found');
      if (parts.length === 2) return send(res, 200, { data: section });
      if (parts[2] === 'subnets') {
        const subnets = standIn.subnets.filter((s) => s.sectionId === section.id);
        return subnets.length === 0 ? fail(res, 404, 'No subnets found') : send(res, 200, { data: subnets.map(subnetJson) });
      }
    }
    if (controller === 'subnets' && req.method === 'GET') {
      if (parts[1] === 'cidr' && parts.length === 4) {
        const n = parseNetwork(parts[2], parts[3]);
        if (typeof n === 'string') return fail(res, 400, 'Invalid CIDR format');
        const found = standIn.subnets.filter((s) => networkOf(s).cidr === n.cidr);
        return found.length === 0 ? fail(res, 404, 'No subnets found') : send(res, 200, { data: found.map(subnetJson) });
      }
      const subnet = standIn.subnets.find((s) => s.id === parts[1]);
      if (!subnet) return fail(res, 404, 'Subnet does not exist');
      if (parts.length === 2) return send(res, 200, { data: subnetJson(subnet) });
      const n = networkOf(subnet);
      if (parts[2] === 'first_free' && parts.length === 3) {
        const used = new Set(standIn.addresses.filter((a) => a.subnetId === subnet.id).map((a) => a.ip));
        const last = lastAddress(n).value;
        for (let v = n.base + 1n; v < last; v++) {
          const ip = formatAddress({ family: n.family, value: v });
          if (!used.has(ip)) return send(res, 200, { data: ip });
        }
        return fail(res, 404, 'No free addresses found');
      }
      if (parts[2] === 'addresses' && parts.length === 4) {
        const a = standIn.addresses.find((x) => x.subnetId === subnet.id && x.ip === parts[3]);
        return a ? send(res, 200, { data: [addressJson(a)] }) : fail(res, 404, 'No addresses found');
      }
    }
    if (controller === 'addresses' && req.method === 'POST' && parts.length === 1) {
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return fail(res, 400, 'Invalid JSON');
      }
      const subnet = standIn.subnets.find((s) => s.id === String(input.subnetId));
      if (!subnet) return fail(res, 400, 'Invalid subnet Id');
      const ip = parseAddress(String(input.ip));
      if (!ip || !contains(networkOf(subnet), ip)) return fail(res, 400, 'IP address not in selected subnet');
      const text = formatAddress(ip);
      if (standIn.addresses.some((a) => a.subnetId === subnet.id && a.ip === text)) return fail(res, 409, 'IP address already exists');
      const a = standIn.addAddress(subnet.id, text);
      a.description = String(input.description ?? '');
      return send(res, 201, { message: 'Address created', id: a.id, data: a.ip });
    }
    if (controller === 'addresses' && req.method === 'DELETE' && parts.length === 3) {
      const i = standIn.addresses.findIndex((a) => a.ip === parts[1] && a.subnetId === parts[2]);
      if (i < 0) return fail(res, 404, 'Address does not exist');
      standIn.addresses.splice(i, 1);
      return send(res, 200, { message: 'Address deleted' });
    }
    return fail(res, 400, 'Invalid request');
  }

  const server: Server = createServer((req, res) => {
    readBody(req).then(
      (body) => handle(req, res, body),
      () => res.destroy(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return standIn;
}
