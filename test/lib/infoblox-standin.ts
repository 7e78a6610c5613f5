// A stand-in for an Infoblox grid master's WAPI (the appliance cannot run here), following the
// documented request and response shapes: objects addressed by `_ref`, searches with
// `field=value` and `field~=regex`, `_return_fields`, `_max_results` (positive truncates,
// negative is an error past the limit), paging with `_paging=1&_return_as_object=1` and
// `_page_id`, POST answering the new reference as a JSON string, DELETE answering the deleted
// reference, functions with `?_function=` (`next_available_ip`, `restartservices`), errors as
// `{ "Error": "…", "code": "Client.Ibap.…", "text": "…" }`, and 401 for wrong credentials.
// Faults on demand: a hanging grid, wrong-shape answers, reset connections, small pages.

import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';

export type InfobloxFault = 'none' | 'hang' | 'html' | 'wrong-shape' | 'reset';

export interface WapiObjectRecord {
  _ref: string;
  type: string;
  fields: Record<string, unknown>;
}

export interface InfobloxRequestLog {
  method: string;
  path: string;
  query: Record<string, string>;
  user: string | undefined;
  body: unknown;
}

export interface InfobloxStandIn {
  /** `127.0.0.1:<port>`: the plugins' setting holds a host, optionally with a port. */
  host: string;
  username: string;
  password: string;
  fault: InfobloxFault;
  /** Largest page served even when more is asked for (to make paging visible). */
  pageSizeCap: number;
  requests: InfobloxRequestLog[];
  /** Grid restarts asked for (restartservices). */
  restarts: number;
  /** Add an object as another WAPI client would (a network, a lease, a record). */
  add(type: string, fields: Record<string, unknown>): string;
  /** Objects of a type, optionally filtered. */
  objects(type: string, where?: (f: Record<string, unknown>) => boolean): Record<string, unknown>[];
  /** Requests held by the `hang` fault and not answered. */
  readonly hanging: number;
  close(): Promise<void>;
}

const VERSION_PATH = /^\/wapi\/v(\d+\.\d+(?:\.\d+)?)\/(.*)$/;

/** WAPI's data fields of each object type, the ones a search may name, and the default return fields. */
const TYPES: Record<string, { search: string[]; defaults: string[]; required: string[] }> = {
  'record:a': { search: ['name', 'ipv4addr', 'view'], defaults: ['ipv4addr', 'name', 'view'], required: ['name', 'ipv4addr'] },
  'record:aaaa': { search: ['name', 'ipv6addr', 'view'], defaults: ['ipv6addr', 'name', 'view'], required: ['name', 'ipv6addr'] },
  'record:cname': { search: ['name', 'canonical', 'view'], defaults: ['canonical', 'name', 'view'], required: ['name', 'canonical'] },
  'record:ptr': { search: ['name', 'ptrdname', 'ipv4addr', 'ipv6addr', 'view'], defaults: ['ptrdname', 'view'], required: ['ptrdname'] },
  'record:host': { search: ['name', 'view', 'ipv4addr', 'mac'], defaults: ['ipv4addrs', 'name', 'view'], required: ['name', 'ipv4addrs'] },
  fixedaddress: { search: ['ipv4addr', 'mac', 'network', 'network_view', 'name'], defaults: ['ipv4addr', 'mac', 'network_view'], required: ['ipv4addr', 'mac'] },
  network: { search: ['network', 'network_view', 'contains_address'], defaults: ['comment', 'network', 'network_view'], required: ['network'] },
  range: { search: ['network', 'network_view', 'start_addr', 'end_addr'], defaults: ['comment', 'end_addr', 'network', 'network_view', 'start_addr'], required: ['start_addr', 'end_addr'] },
  lease: { search: ['address', 'hardware', 'network_view', 'client_hostname'], defaults: ['address', 'network_view'], required: ['address'] },
  ipv4address: { search: ['network', 'network_view', 'status', 'ip_address'], defaults: ['ip_address', 'names', 'mac_address', 'status', 'types'], required: [] },
  grid: { search: [], defaults: [], required: [] },
};

const ip4 = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const fmt4 = (n: number): string => [24, 16, 8, 0].map((b) => Math.floor(n / 2 ** b) % 256).join('.');
function cidr(net: string): { first: number; last: number; prefix: number } {
  const [a, p] = net.split('/');
  const prefix = Number(p);
  const size = 2 ** (32 - prefix);
  const first = Math.floor(ip4(a!) / size) * size;
  return { first, last: first + size - 1, prefix };
}

function error(res: ServerResponse, status: number, kind: string, code: string, text: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ Error: `${kind}: ${text}`, code, text }, null, 4));
}

export async function startInfobloxStandIn(opts: { cert: string; key: string; username?: string; password?: string; version?: string }): Promise<InfobloxStandIn> {
  const store = new Map<string, WapiObjectRecord>();
  const pages = new Map<string, { items: Record<string, unknown>[]; size: number }>();
  const held = new Set<ServerResponse>();
  let seq = 0;
  const version = opts.version ?? '2.0';

  const newRef = (type: string, readable: string): string => `${type}/${Buffer.from(`${type}$${++seq}`).toString('base64url')}:${readable}`;

  const self: InfobloxStandIn = {
    host: '',
    username: opts.username ?? 'admin',
    password: opts.password ?? 'infoblox',
    fault: 'none',
    pageSizeCap: 1000,
    requests: [],
    restarts: 0,
    add(type, fields) {
      const readable = String(fields.name ?? fields.network ?? fields.ipv4addr ?? fields.address ?? type);
      const ref = newRef(type, `${readable}/${String(fields.view ?? fields.network_view ?? 'default')}`);
      store.set(ref, { _ref: ref, type, fields: { ...fields } });
      return ref;
    },
    objects(type, where) {
      return [...store.values()].filter((o) => o.type === type && (!where || where(o.fields))).map((o) => ({ _ref: o._ref, ...o.fields }));
    },
    get hanging() {
      return held.size;
    },
    close: async () => undefined,
  };
  self.add('grid', { name: 'Infoblox' });

  /** Every address some object uses, with what uses it (what ipv4address and next_available_ip see). */
  function usage(): Map<number, { names: string[]; mac: string; types: string[] }> {
    const used = new Map<number, { names: string[]; mac: string; types: string[] }>();
    const mark = (ip: unknown, name: unknown, mac: unknown, type: string): void => {
      if (typeof ip !== 'string') return;
      const u = used.get(ip4(ip)) ?? { names: [], mac: '', types: [] };
      if (typeof name === 'string' && name !== '') u.names.push(name);
      if (typeof mac === 'string' && mac !== '' && u.mac === '') u.mac = mac;
      u.types.push(type);
      used.set(ip4(ip), u);
    };
    for (const o of store.values()) {
      const f = o.fields;
      if (o.type === 'fixedaddress') mark(f.ipv4addr, f.name, f.mac, 'FA');
      if (o.type === 'record:a') mark(f.ipv4addr, f.name, '', 'A');
      if (o.type === 'lease' && f.binding_state === 'ACTIVE') mark(f.address, f.client_hostname, f.hardware, 'LEASE');
      if (o.type === 'record:host') for (const a of (f.ipv4addrs as { ipv4addr: string; mac?: string }[]) ?? []) mark(a.ipv4addr, f.name, a.mac, 'HOST');
    }
    return used;
  }

  function matches(type: string, f: Record<string, unknown>, key: string, value: string): boolean {
    const regex = key.endsWith('~');
    const field = regex ? key.slice(0, -1) : key;
    const test = (v: unknown): boolean => {
      if (typeof v !== 'string') return false;
      if (regex) return new RegExp(value, 'i').test(v);
      return field === 'mac' || field === 'hardware' || field === 'name' || field === 'ptrdname' || field === 'canonical' ? v.toLowerCase() === value.toLowerCase() : v === value;
    };
    if (type === 'record:host' && (field === 'ipv4addr' || field === 'mac')) {
      return ((f.ipv4addrs as Record<string, unknown>[]) ?? []).some((a) => test(a[field]));
    }
    if (type === 'network' && field === 'contains_address') {
      const c = cidr(String(f.network));
      return ip4(value) >= c.first && ip4(value) <= c.last;
    }
    if (type === 'fixedaddress' && field === 'network') {
      const c = cidr(value);
      const a = ip4(String(f.ipv4addr));
      return a >= c.first && a <= c.last;
    }
    if (field === 'view' || field === 'network_view') return (f[field] ?? 'default') === value;
    return test(f[field]);
  }

  function search(type: string, q: Record<string, string>): Record<string, unknown>[] | string {
    const spec = TYPES[type];
    if (!spec) return `Unknown object type (${type})`;
    const conditions = Object.entries(q).filter(([k]) => !k.startsWith('_'));
    for (const [k] of conditions) {
      if (!spec.search.includes(k.replace(/~$/, ''))) return `Field is not searchable: ${k.replace(/~$/, '')}`;
    }
    if (type === 'ipv4address') {
      const net = q.network;
      if (!net) return 'Network is required';
      const c = cidr(net);
      const used = usage();
      const out: Record<string, unknown>[] = [];
      for (let a = c.first; a <= c.last; a++) {
        const u = used.get(a);
        const status = u ? 'USED' : 'UNUSED';
        if (q.status && q.status !== status) continue;
        out.push({ _ref: `ipv4address/${Buffer.from(fmt4(a)).toString('base64url')}:${fmt4(a)}`, ip_address: fmt4(a), network: net, network_view: 'default', status, names: u?.names ?? [], mac_address: u?.mac ?? '', types: u?.types ?? [] });
      }
      return out;
    }
    return [...store.values()]
      .filter((o) => o.type === type && conditions.every(([k, v]) => matches(type, o.fields, k, v)))
      .map((o) => ({ _ref: o._ref, ...o.fields }));
  }

  function project(type: string, o: Record<string, unknown>, fields: string | undefined): Record<string, unknown> {
    const names = fields === undefined ? TYPES[type]?.defaults ?? [] : fields.split(',').filter((x) => x !== '');
    const out: Record<string, unknown> = { _ref: o._ref };
    for (const n of names) if (o[n] !== undefined) out[n] = o[n];
    return out;
  }

  function conflictOf(type: string, f: Record<string, unknown>): string | undefined {
    const same = (t: string, pred: (g: Record<string, unknown>) => boolean): boolean => [...store.values()].some((o) => o.type === t && pred(o.fields));
    const view = (g: Record<string, unknown>): boolean => (g.view ?? 'default') === (f.view ?? 'default');
    const name = (g: Record<string, unknown>): boolean => String(g.name).toLowerCase() === String(f.name).toLowerCase();
    if (type === 'record:a' && same('record:a', (g) => view(g) && name(g) && g.ipv4addr === f.ipv4addr)) return `The record '${String(f.name)}' already exists.`;
    if (type === 'record:aaaa' && same('record:aaaa', (g) => view(g) && name(g) && g.ipv6addr === f.ipv6addr)) return `The record '${String(f.name)}' already exists.`;
    if (type === 'record:ptr' && same('record:ptr', (g) => view(g) && name(g) && String(g.ptrdname).toLowerCase() === String(f.ptrdname).toLowerCase())) return `The record '${String(f.name)}' already exists.`;
    if (type === 'record:cname' && ['record:a', 'record:aaaa', 'record:cname', 'record:host'].some((t) => same(t, (g) => view(g) && name(g)))) {
      return `The CNAME record '${String(f.name)}' conflicts with another record of the same name.`;
    }
    if ((type === 'record:a' || type === 'record:aaaa') && same('record:cname', (g) => view(g) && name(g))) return `A CNAME record with the name '${String(f.name)}' already exists.`;
    if (type === 'fixedaddress' && same('fixedaddress', (g) => (g.network_view ?? 'default') === (f.network_view ?? 'default') && g.ipv4addr === f.ipv4addr)) {
      return `A fixed address with IP ${String(f.ipv4addr)} already exists in network view ${String(f.network_view ?? 'default')}.`;
    }
    if (type === 'record:host') {
      const addrs = (f.ipv4addrs as { ipv4addr: string }[]).map((a) => a.ipv4addr);
      if (same('record:host', (g) => view(g) && (name(g) || ((g.ipv4addrs as { ipv4addr: string }[]) ?? []).some((a) => addrs.includes(a.ipv4addr))))) {
        return `The record '${String(f.name)}' already exists.`;
      }
    }
    return undefined;
  }

  function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const url = new URL(req.url ?? '/', 'https://standin');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const auth = req.headers.authorization ?? '';
    const decoded = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString() : '';
    const user = decoded.includes(':') ? decoded.slice(0, decoded.indexOf(':')) : undefined;
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', 'JSON parse error');
      return;
    }
    self.requests.push({ method: req.method ?? '', path: url.pathname, query, user, body });

    if (decoded !== `${self.username}:${self.password}`) {
      res.writeHead(401, { 'content-type': 'text/html', 'www-authenticate': 'Basic realm="InfoBlox ONE Platform"' }).end('<html><body>Authorization Required</body></html>');
      return;
    }
    switch (self.fault) {
      case 'hang':
        held.add(res);
        res.once('close', () => held.delete(res));
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Infoblox maintenance page</body></html>');
        return;
      case 'wrong-shape':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', objects: 3 }));
        return;
      default:
    }
    const m = VERSION_PATH.exec(url.pathname);
    if (!m) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>Not Found</body></html>');
      return;
    }
    if (m[1] !== version) {
      error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Unknown WAPI version: ${m[1]!}`);
      return;
    }
    const rest = decodeURIComponent(m[2]!);
    const slash = rest.indexOf('/');
    const type = slash < 0 ? rest : rest.slice(0, slash);
    const ref = slash < 0 ? undefined : rest;
    if (!TYPES[type]) {
      error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Unknown object type (${type})`);
      return;
    }
    const json = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value, null, 4));
    };

    if (req.method === 'GET' && ref === undefined) {
      if (query._page_id !== undefined) {
        const cursor = pages.get(query._page_id);
        if (!cursor) return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Invalid page id: ${query._page_id}`);
        pages.delete(query._page_id);
        const chunk = cursor.items.slice(0, cursor.size);
        const left = cursor.items.slice(cursor.size);
        const out: Record<string, unknown> = { result: chunk };
        if (left.length > 0) {
          const id = `page-${++seq}`;
          pages.set(id, { items: left, size: cursor.size });
          out.next_page_id = id;
        }
        return json(200, out);
      }
      const found = search(type, query);
      if (typeof found === 'string') return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', found);
      const projected = found.map((o) => project(type, o, query._return_fields));
      const max = query._max_results === undefined ? -1000 : Number(query._max_results);
      if (query._paging === '1') {
        if (query._return_as_object !== '1') return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', '_paging requires _return_as_object');
        const size = Math.min(Math.abs(max), self.pageSizeCap);
        const out: Record<string, unknown> = { result: projected.slice(0, size) };
        if (projected.length > size) {
          const id = `page-${++seq}`;
          pages.set(id, { items: projected.slice(size), size });
          out.next_page_id = id;
        }
        return json(200, out);
      }
      if (max < 0 && projected.length > -max) return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Result set too large (> ${-max})`);
      const list = projected.slice(0, Math.abs(max));
      return json(200, query._return_as_object === '1' ? { result: list } : list);
    }

    if (req.method === 'POST' && ref === undefined) {
      const f = (body ?? {}) as Record<string, unknown>;
      const missing = TYPES[type]!.required.find((k) => f[k] === undefined || f[k] === '');
      if (missing) return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Field is required: ${missing}`);
      if (type === 'record:ptr' && f.name === undefined && f.ipv4addr === undefined && f.ipv6addr === undefined) {
        return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', 'name or an address is required');
      }
      const conflict = conflictOf(type, f);
      if (conflict) return error(res, 400, 'AdmConDataError', 'Client.Ibap.Data.Conflict', `None (IBDataConflictError: IB.Data.Conflict:${conflict})`);
      if (type === 'record:host') f.ipv4addrs = (f.ipv4addrs as Record<string, unknown>[]).map((a) => ({ ...a, _ref: newRef('record:host_ipv4addr', String(a.ipv4addr)), host: f.name }));
      return json(201, self.add(type, f));
    }

    if (ref !== undefined && req.method === 'DELETE') {
      if (!store.delete(ref)) return error(res, 404, 'AdmConDataNotFoundError', 'Client.Ibap.Data.NotFound', `Reference ${ref} not found`);
      return json(200, ref);
    }

    if (ref !== undefined && req.method === 'POST' && query._function !== undefined) {
      const obj = store.get(ref);
      if (!obj) return error(res, 404, 'AdmConDataNotFoundError', 'Client.Ibap.Data.NotFound', `Reference ${ref} not found`);
      const args = (body ?? {}) as { num?: number; exclude?: string[] };
      if (query._function === 'next_available_ip' && obj.type === 'network') {
        const c = cidr(String(obj.fields.network));
        const used = usage();
        const exclude = new Set(args.exclude ?? []);
        const ips: string[] = [];
        for (let a = c.first + 1; a < c.last && ips.length < (args.num ?? 1); a++) {
          if (!used.has(a) && !exclude.has(fmt4(a))) ips.push(fmt4(a));
        }
        return json(200, { ips });
      }
      if (query._function === 'restartservices' && obj.type === 'grid') {
        self.restarts++;
        return json(200, {});
      }
      return error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Function ${query._function} is not valid for this object type`);
    }
    if (ref !== undefined && req.method === 'GET') {
      const obj = store.get(ref);
      if (!obj) return error(res, 404, 'AdmConDataNotFoundError', 'Client.Ibap.Data.NotFound', `Reference ${ref} not found`);
      return json(200, project(type, { _ref: obj._ref, ...obj.fields }, query._return_fields));
    }
    error(res, 400, 'AdmConProtoError', 'Client.Ibap.Proto', `Unsupported operation ${req.method ?? ''} on ${type}`);
  }

  const server: Server = createServer({ cert: await readFile(opts.cert), key: await readFile(opts.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString());
      } catch (err) {
        error(res, 500, 'AdmConError', 'Server.Ibap', (err as Error).message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.close = async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return self;
}
