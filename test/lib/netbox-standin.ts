// A stand-in for NetBox's REST API (NetBox, a Django application with PostgreSQL and Redis, is
// not installed here), following its documented request and response shapes: `Authorization:
// Token <token>` (403 `{"detail": …}` without a valid one), lists paginated as
// `{"count", "next", "previous", "results"}` with `limit`/`offset` and an absolute `next` URL,
// filters `prefix`, `status`, `vrf_id` (a number or `null` for the global table), `name`,
// `address`, `parent`; `prefixes/<id>/available-ips/` answering a bare list; ip-addresses created
// with 201 and the object, refused with 400 and field errors (`{"address": ["Duplicate IP address
// found in …"]}`), deleted with 204; 404 `{"detail": "Not found."}`.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatAddress, parseAddress, parseNetwork, contains, lastAddress, type Network } from '../../src/modules/externalipam/net.ts';

export interface NetBoxVrf {
  id: number;
  name: string;
  description: string;
}

export interface NetBoxPrefix {
  id: number;
  prefix: string;
  vrfId: number | null;
  status: string;
  description: string;
}

export interface NetBoxIpAddress {
  id: number;
  address: string;
  vrfId: number | null;
  description: string;
}

export interface NetBoxRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  authorization: string | undefined;
  body: unknown;
}

export interface NetBoxStandIn {
  url: string;
  token: string;
  /** Rows per page when the client asks for none (NetBox's PAGINATE_COUNT, 50 by default). */
  pageSize: number;
  vrfs: NetBoxVrf[];
  prefixes: NetBoxPrefix[];
  ipAddresses: NetBoxIpAddress[];
  requests: NetBoxRequest[];
  addVrf(name: string, description?: string): NetBoxVrf;
  addPrefix(prefix: string, vrfId?: number | null, description?: string, status?: string): NetBoxPrefix;
  addIpAddress(address: string, vrfId?: number | null): NetBoxIpAddress;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body?: unknown): void {
  res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' }).end(body === undefined ? undefined : JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startNetBoxStandIn(options: { token?: string } = {}): Promise<NetBoxStandIn> {
  let nextId = 1;
  let origin = '';

  const vrfJson = (v: NetBoxVrf) => ({ id: v.id, url: `${origin}/api/ipam/vrfs/${v.id}/`, display: v.name, name: v.name, rd: null, description: v.description });
  const vrfRef = (id: number | null) => {
    const v = standIn.vrfs.find((x) => x.id === id);
    return v ? { id: v.id, url: `${origin}/api/ipam/vrfs/${v.id}/`, display: v.name, name: v.name, rd: null } : null;
  };
  const prefixJson = (p: NetBoxPrefix) => ({
    id: p.id,
    url: `${origin}/api/ipam/prefixes/${p.id}/`,
    display: p.prefix,
    family: { value: p.prefix.includes(':') ? 6 : 4 },
    prefix: p.prefix,
    vrf: vrfRef(p.vrfId),
    status: { value: p.status, label: p.status[0].toUpperCase() + p.status.slice(1) },
    description: p.description,
  });
  const ipJson = (a: NetBoxIpAddress) => ({
    id: a.id,
    url: `${origin}/api/ipam/ip-addresses/${a.id}/`,
    display: a.address,
    family: { value: a.address.includes(':') ? 6 : 4 },
    address: a.address,
    vrf: vrfRef(a.vrfId),
    status: { value: 'active', label: 'Active' },
    description: a.description,
  });

  const standIn: NetBoxStandIn = {
    url: '',
    token: options.token ?? '0123456789abcdef0123456789abcdef01234567',
    pageSize: 50,
    vrfs: [],
    prefixes: [],
    ipAddresses: [],
    requests: [],
    addVrf(name, description = '') {
      const v = { id: nextId++, name, description };
      this.vrfs.push(v);
      return v;
    },
    addPrefix(prefix, vrfId = null, description = '', status = 'active') {
      const p = { id: nextId++, prefix, vrfId, status, description };
      this.prefixes.push(p);
      return p;
    },
    addIpAddress(address, vrfId = null) {
      const a = { id: nextId++, address, vrfId, description: '' };
      this.ipAddresses.push(a);
      return a;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };

  /** `vrf_id` filter: absent matches all; `null` the global table. */
  const vrfMatches = (q: URLSearchParams, vrfId: number | null): boolean => {
    const f = q.get('vrf_id');
    if (f === null) return true;
    return f === 'null' ? vrfId === null : Number(f) === vrfId;
  };

  function page(res: ServerResponse, url: URL, rows: unknown[]): void {
    const limit = Number(url.searchParams.get('limit') ?? standIn.pageSize) || standIn.pageSize;
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const link = (o: number): string => {
      const u = new URL(url.href);
      u.searchParams.set('limit', String(limit));
      u.searchParams.set('offset', String(o));
      return `${origin}${u.pathname}${u.search}`;
    };
    json(res, 200, {
      count: rows.length,
      next: offset + limit < rows.length ? link(offset + limit) : null,
      previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
      results: rows.slice(offset, offset + limit),
    });
  }

  const hostOf = (address: string) => parseAddress(address.split('/')[0]);

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', origin);
    const q = url.searchParams;
    let parsed: unknown;
    try {
      parsed = body === '' ? undefined : (JSON.parse(body) as unknown);
    } catch {
      return json(res, 400, { detail: 'JSON parse error' });
    }
    standIn.requests.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(q), authorization: req.headers.authorization, body: parsed });
    if (req.headers.authorization === undefined) return json(res, 403, { detail: 'Authentication credentials were not provided.' });
    if (req.headers.authorization !== `Token ${standIn.token}`) return json(res, 403, { detail: 'Invalid token' });
    const path = url.pathname;
    let m: RegExpExecArray | null;

    if (req.method === 'GET' && path === '/api/ipam/vrfs/') {
      return page(res, url, standIn.vrfs.filter((v) => !q.has('name') || v.name === q.get('name')).map(vrfJson));
    }
    if (req.method === 'GET' && path === '/api/ipam/prefixes/') {
      const wanted = q.get('prefix');
      const n = wanted === null ? undefined : parseNetwork(...(wanted.split('/') as [string, string]));
      if (typeof n === 'string') return json(res, 400, { prefix: [`Enter a valid IPv4 or IPv6 prefix and mask in CIDR notation.`] });
      const rows = standIn.prefixes.filter(
        (p) =>
          (!q.has('status') || p.status === q.get('status')) &&
          vrfMatches(q, p.vrfId) &&
          (n === undefined || (parseNetwork(...(p.prefix.split('/') as [string, string])) as Network).cidr === n.cidr),
      );
      return page(res, url, rows.map(prefixJson));
    }
    if (req.method === 'GET' && (m = /^\/api\/ipam\/prefixes\/(\d+)\/available-ips\/$/.exec(path))) {
      const p = standIn.prefixes.find((x) => x.id === Number(m?.[1]));
      if (!p) return json(res, 404, { detail: 'Not found.' });
      const n = parseNetwork(...(p.prefix.split('/') as [string, string])) as Network;
      const used = new Set(standIn.ipAddresses.filter((a) => a.vrfId === p.vrfId).map((a) => formatAddress(hostOf(a.address)!)));
      const limit = Number(q.get('limit') ?? 50);
      const out: unknown[] = [];
      const end = n.family === 4 ? lastAddress(n).value : lastAddress(n).value + 1n;
      for (let v = n.base + 1n; v < end && out.length < limit; v++) {
        const ip = formatAddress({ family: n.family, value: v });
        if (!used.has(ip)) out.push({ family: n.family, address: `${ip}/${n.prefix}`, vrf: vrfRef(p.vrfId) });
      }
      return json(res, 200, out);
    }
    if (req.method === 'GET' && path === '/api/ipam/ip-addresses/') {
      const address = q.get('address');
      const parent = q.get('parent');
      const pn = parent === null ? undefined : parseNetwork(...(parent.split('/') as [string, string]));
      if (typeof pn === 'string') return json(res, 400, { parent: ['Enter a valid IPv4 or IPv6 prefix and mask in CIDR notation.'] });
      const rows = standIn.ipAddresses.filter((a) => {
        const host = hostOf(a.address)!;
        return (address === null || formatAddress(host) === address) && (pn === undefined || contains(pn, host)) && vrfMatches(q, a.vrfId);
      });
      return page(res, url, rows.map(ipJson));
    }
    if (req.method === 'POST' && path === '/api/ipam/ip-addresses/') {
      const input = (parsed ?? {}) as Record<string, unknown>;
      const [host, len] = String(input.address ?? '').split('/');
      const ip = parseAddress(host);
      if (!ip || len === undefined) return json(res, 400, { address: ['Enter a valid IPv4 or IPv6 address with optional mask.'] });
      const vrfId = input.vrf === undefined || input.vrf === null ? null : Number(input.vrf);
      if (vrfId !== null && !standIn.vrfs.some((v) => v.id === vrfId)) return json(res, 400, { vrf: [`Related object not found using the provided numeric ID: ${vrfId}`] });
      const text = `${formatAddress(ip)}/${len}`;
      if (standIn.ipAddresses.some((a) => a.vrfId === vrfId && formatAddress(hostOf(a.address)!) === formatAddress(ip))) {
        const table = vrfId === null ? 'global table' : `VRF ${standIn.vrfs.find((v) => v.id === vrfId)?.name}`;
        return json(res, 400, { address: [`Duplicate IP address found in ${table}: ${text}`] });
      }
      const a = standIn.addIpAddress(text, vrfId);
      a.description = String(input.description ?? '');
      return json(res, 201, ipJson(a));
    }
    if (req.method === 'DELETE' && (m = /^\/api\/ipam\/ip-addresses\/(\d+)\/$/.exec(path))) {
      const i = standIn.ipAddresses.findIndex((a) => a.id === Number(m?.[1]));
      if (i < 0) return json(res, 404, { detail: 'No IPAddress matches the given query.' });
      standIn.ipAddresses.splice(i, 1);
      return json(res, 204);
    }
    return json(res, 404, { detail: 'Not found.' });
  }

  const server: Server = createServer((req, res) => {
    readBody(req).then(
      (body) => handle(req, res, body),
      () => res.destroy(),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standIn.url = origin;
  return standIn;
}
