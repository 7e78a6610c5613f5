// Routes of the DHCP module (spec dhcp.md §1). Validation, conflict detection and response shapes
// live here; providers only store and fetch. Creates and deletes of the provider are serialised
// through a one-slot bulkhead so the conflict check and the write are atomic: 50 identical
// concurrent POSTs create exactly one reservation and the other 49 see it.

import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { Params } from '../../core/params.ts';
import { broadcastOf, parseIpv4 } from '../../lib/isc/ipv4.ts';
import { DhcpError } from './errors.ts';
import type { DhcpProvider, DhcpRecord, DhcpSubnet, NewReservation, Reservation } from './provider.ts';
import { describe, recordJson, recordsJson, subnetJson } from './serialize.ts';
import { checkHostName, checkNextServer, checkQuotable, macList, optionalString, requireIp, requireMac } from './validate.ts';

const RESERVED_PARAMS = new Set([
  'network', 'mac', 'ip', 'name', 'hostname', 'nextServer', 'filename', 'related_macs', 'subnet', 'splat', 'captures', '_method',
]);

/** The reference's bare `application/json` (a string payload would get `; charset=utf-8` added). */
function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(Buffer.from(JSON.stringify(body)));
}

/** Whether a stored reservation is the one being posted again (our 200-instead-of-409 rule). */
export function sameReservation(r: Reservation, n: NewReservation): boolean {
  if (r.ip !== n.ip || r.mac !== n.mac || r.name !== n.name) return false;
  const o = r.options;
  if ((o.hostname ?? r.name) !== n.hostname) return false;
  if ((o.filename as string | undefined) !== n.filename) return false;
  if (n.nextServer === undefined) return o.nextServer === undefined;
  // A host name given as next-server is stored resolved (dhcpd keeps only the address).
  if (parseIpv4(n.nextServer) === undefined) return o.nextServer !== undefined;
  return o.nextServer === n.nextServer;
}

/** How long a write may wait for the write slot when the provider names no deadline of its own. */
const DEFAULT_WRITE_QUEUE_TIMEOUT_MS = 50_000;

/** The running DHCP module: its provider and the one write slot every listener shares. */
export function dhcpModule(provider: DhcpProvider): ModuleInstance {
  const queueTimeoutMs = provider.writeQueueTimeoutMs ?? DEFAULT_WRITE_QUEUE_TIMEOUT_MS;
  const writes = new Bulkhead({ name: 'dhcp', limit: 1, queue: 512, queueTimeoutMs });
  return {
    routes: (app) => dhcpRoutes(app, provider, writes),
  };
}

function dhcpRoutes(app: FastifyInstance, provider: DhcpProvider, writes: Bulkhead): void {
  const subnetOr404 = async (network: string): Promise<DhcpSubnet> => {
    const s = await provider.findSubnet(network);
    if (!s) throw DhcpError.subnet_not_found(`Subnet ${network} could not found`);
    return s;
  };

  app.get('/', async (_request, reply) => json(reply, (await provider.subnets()).map(subnetJson)));

  app.get('/:network', async (request, reply) => {
    const p = params(request);
    const network = requireIp(p.network);
    const s = await subnetOr404(network);
    // Reference behaviour: records are filed under the subnet's own network address, so any
    // other address of the subnet yields empty lists.
    if (s.network !== network) return json(reply, { reservations: [], leases: [] });
    const recs = await provider.subnetRecords(s);
    return reply.type('application/json').send(Readable.from(recordsJson(recs.reservations, recs.leases, s)));
  });

  app.get('/:network/unused_ip', async (request, reply) => {
    const p = params(request);
    const network = requireIp(p.network);
    let from: string | undefined;
    let to: string | undefined;
    if (optionalString(p.from) !== undefined && optionalString(p.to) !== undefined) {
      from = requireIp(p.from);
      to = requireIp(p.to);
    }
    const mac = optionalString(p.mac) === undefined ? undefined : requireMac(p.mac);
    const s = await subnetOr404(network);
    if (from !== undefined && to !== undefined) {
      const net = parseIpv4(s.network)!;
      const mask = parseIpv4(s.netmask)!;
      const bcast = broadcastOf(net, mask);
      const f = parseIpv4(from)!;
      const t = parseIpv4(to)!;
      if (f < net || f > bcast || t < net || t > bcast) throw DhcpError.invalid_range('Range does not belong to provided subnet');
      if (f > t) throw DhcpError.invalid_range(`${from} can't be lower IP address than ${to} - change the order?`);
    }
    if (typeof provider.unusedIp !== 'function') throw DhcpError.unused_ip_unsupported('unused_ip is not implemented by this DHCP provider');
    const ip = await provider.unusedIp(s, { from, to, mac });
    return json(reply, { ip });
  });

  app.get('/:network/ip/:ip', async (request, reply) => {
    const p = params(request);
    const network = requireIp(p.network);
    const ip = requireIp(p.ip);
    const s = await subnetOr404(network);
    const recs = await provider.findByIp(s, ip);
    if (recs.length === 0) throw DhcpError.record_not_found(`No DHCP records for IP ${network}/${ip} found`);
    return json(reply, recs.map((r) => recordJson(r, s)));
  });

  app.get('/:network/mac/:mac', async (request, reply) => {
    const p = params(request);
    const network = requireIp(p.network);
    const mac = requireMac(p.mac);
    const s = await subnetOr404(network);
    const rec = await provider.findByMac(s, mac);
    if (!rec) throw DhcpError.record_not_found(`No DHCP record for MAC ${network}/${mac} found`);
    return json(reply, recordJson(rec, s));
  });

  const create = async (p: Params, reply: FastifyReply): Promise<FastifyReply> => {
    const network = requireIp(p.network);
    const mac = requireMac(p.mac);
    const name = checkHostName('name', optionalString(p.name));
    const hostnameParam = checkHostName('hostname', optionalString(p.hostname));
    if (name === undefined && hostnameParam === undefined) throw DhcpError.missing_hostname('Must provide hostname');
    const s = await provider.findSubnet(network);
    if (!s) throw DhcpError.no_subnet(`No Subnet detected for: ${network}`);
    const vendorOptions: Record<string, string> = {};
    let vendor: string | undefined;
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(p)) {
      if (RESERVED_PARAMS.has(k)) continue;
      const close = k.indexOf('>');
      if (k.startsWith('<') && close > 1) {
        if (!provider.supportsVendorOptions) throw DhcpError.vendor_options_unsupported('DHCP implementation does not support Vendor Options');
        vendor = k.slice(1, close);
        if (typeof v === 'string') vendorOptions[k.slice(close + 1)] = checkQuotable(k, v)!;
      } else if (typeof v === 'string') {
        extra[k] = v;
      }
    }
    const ip = requireIp(p.ip);
    const reservation: NewReservation = {
      name: (name ?? hostnameParam)!,
      ip,
      mac,
      hostname: (hostnameParam ?? name)!,
    };
    const nextServer = checkNextServer(optionalString(p.nextServer));
    const filename = checkQuotable('filename', optionalString(p.filename));
    if (nextServer !== undefined) reservation.nextServer = nextServer;
    if (filename !== undefined) reservation.filename = filename;
    if (Object.keys(vendorOptions).length > 0) {
      reservation.vendorOptions = vendorOptions;
      reservation.vendor = vendor;
    }
    if (Object.keys(extra).length > 0) reservation.extra = extra;
    const related = new Set(macList(p.related_macs));

    await writes.run(async () => {
      const candidates = new Set<Reservation>();
      for (const r of await provider.findByIp(s, ip)) if (r.type === 'reservation') candidates.add(r);
      const byMac = await provider.findByMac(s, mac);
      if (byMac && byMac.type === 'reservation') candidates.add(byMac);
      const relevant = [...candidates].filter((r) => !related.has(r.mac));
      if (relevant.some((r) => sameReservation(r, reservation))) return;
      if (relevant.length > 0) throw DhcpError.conflict(`Record ${network}/${ip} already exists`);
      await provider.createReservation(s, reservation);
    });
    return reply.type('application/json').send(Buffer.alloc(0));
  };

  const deleteRecords = async (network: string, find: (s: DhcpSubnet) => Promise<DhcpRecord[]>, reply: FastifyReply): Promise<FastifyReply> => {
    const s = await provider.findSubnet(network);
    if (s) {
      await writes.run(async () => {
        const recs = await find(s);
        for (const r of recs) {
          if (r.type !== 'reservation' || !r.deleteable) throw DhcpError.static_record(`${describe(r)} is static - unable to delete`);
        }
        for (const r of recs) if (r.type === 'reservation') await provider.deleteReservation(s, r);
      });
    }
    return reply.type('text/html;charset=utf-8').send('');
  };

  const deleteByIp = (p: Params, reply: FastifyReply): Promise<FastifyReply> => {
    const network = requireIp(p.network);
    const ip = requireIp(p.ip);
    return deleteRecords(network, (s) => provider.findByIp(s, ip), reply);
  };

  const deleteByMac = (p: Params, reply: FastifyReply): Promise<FastifyReply> => {
    const network = requireIp(p.network);
    const mac = requireMac(p.mac);
    return deleteRecords(
      network,
      async (s) => {
        const r = await provider.findByMac(s, mac);
        return r ? [r] : [];
      },
      reply,
    );
  };

  /** The method a POST stands for (Rack::MethodOverride in the reference). */
  const override = (p: Params, request: FastifyRequest): string => {
    const h = request.headers['x-http-method-override'];
    const m = typeof p._method === 'string' ? p._method : typeof h === 'string' ? h : 'POST';
    return m.toUpperCase();
  };
  const noRoute = (): Error => DhcpError.no_route('Requested url was not found');

  app.post('/:network', async (request, reply) => {
    const p = params(request);
    if (override(p, request) !== 'POST') throw noRoute();
    return create(p, reply);
  });
  app.delete('/:network/ip/:ip', async (request, reply) => deleteByIp(params(request), reply));
  app.delete('/:network/mac/:mac', async (request, reply) => deleteByMac(params(request), reply));
  // A POST carrying _method=DELETE (or X-HTTP-Method-Override) deletes.
  app.post('/:network/ip/:ip', async (request, reply) => {
    const p = params(request);
    if (override(p, request) !== 'DELETE') throw noRoute();
    return deleteByIp(p, reply);
  });
  app.post('/:network/mac/:mac', async (request, reply) => {
    const p = params(request);
    if (override(p, request) !== 'DELETE') throw noRoute();
    return deleteByMac(p, reply);
  });
}
