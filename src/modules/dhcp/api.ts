// Routes of the DHCP module (spec dhcp.md §1). Validation, conflict detection and response shapes
// live here; providers only store and fetch. Creates and deletes of one provider are serialised
// through a one-slot bulkhead so the conflict check and the write are atomic: 50 identical
// concurrent POSTs create exactly one reservation and the other 49 see it.

import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { ProxyError, badRequest, conflict, errorText, notFound, notImplemented } from '../../core/errors.ts';
import { params } from '../../core/http/request-params.ts';
import type { ModuleContext } from '../../core/module.ts';
import type { Params } from '../../core/params.ts';
import { broadcastOf, parseIpv4 } from '../../lib/isc/ipv4.ts';
import type { DhcpProvider, DhcpSubnet, NewReservation, Reservation } from './provider.ts';
import { describe, recordJson, recordsJson, subnetJson } from './serialize.ts';
import { checkText, macList, optionalString, requireIp, requireMac } from './validate.ts';

const RESERVED_PARAMS = new Set([
  'network', 'mac', 'ip', 'name', 'hostname', 'nextServer', 'filename', 'related_macs', 'subnet', 'splat', 'captures', '_method',
]);

/** Provider failures that are not ProxyErrors become 400 with their message (spec §6.3). */
function asProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  return badRequest(errorText(err), 'dhcp.provider');
}

function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.type('application/json').send(JSON.stringify(body));
}

const locks = new WeakMap<DhcpProvider, Bulkhead>();

/**
 * The one write slot of a provider. Keyed by the provider object because routes() runs once per
 * listener and prefix, and every mount must share it.
 */
export function mutationLock(provider: DhcpProvider): Bulkhead {
  let lock = locks.get(provider);
  if (!lock) {
    lock = new Bulkhead({ name: 'dhcp', limit: 1, queue: 512, queueTimeoutMs: 50_000 });
    locks.set(provider, lock);
  }
  return lock;
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

export function dhcpRoutes(app: FastifyInstance, ctx: ModuleContext<DhcpProvider>): void {
  const provider = ctx.providers[0];
  if (!provider) throw new Error('dhcp: no provider configured');
  const lock = mutationLock(provider);

  const subnetOr404 = async (network: string): Promise<DhcpSubnet> => {
    const s = await provider.findSubnet(network);
    if (!s) throw notFound(`Subnet ${network} could not found`, 'dhcp.subnet_not_found');
    return s;
  };

  const wrap =
    (fn: (p: Params, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
    async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      try {
        return await fn(params(req), req, reply);
      } catch (err) {
        throw asProxyError(err);
      }
    };

  app.get(
    '/',
    wrap(async (_p, _req, reply) => json(reply, (await provider.subnets()).map(subnetJson))),
  );

  app.get(
    '/:network',
    wrap(async (p, _req, reply) => {
      const network = requireIp(p.network);
      const s = await subnetOr404(network);
      // Reference behaviour: records are filed under the subnet's own network address, so any
      // other address of the subnet yields empty lists.
      if (s.network !== network) return json(reply, { reservations: [], leases: [] });
      const recs = await provider.subnetRecords(s);
      return reply.type('application/json').send(Readable.from(recordsJson(recs.reservations, recs.leases, s)));
    }),
  );

  app.get(
    '/:network/unused_ip',
    wrap(async (p, _req, reply) => {
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
        if (f < net || f > bcast || t < net || t > bcast) throw badRequest('Range does not belong to provided subnet', 'dhcp.range');
        if (f > t) throw badRequest(`${from} can't be lower IP address than ${to} - change the order?`, 'dhcp.range');
      }
      if (typeof provider.unusedIp !== 'function') throw notImplemented('unused_ip is not implemented by this DHCP provider');
      const ip = await provider.unusedIp(s, { from, to, mac });
      return json(reply, { ip });
    }),
  );

  app.get(
    '/:network/ip/:ip',
    wrap(async (p, _req, reply) => {
      const network = requireIp(p.network);
      const ip = requireIp(p.ip);
      const s = await subnetOr404(network);
      const recs = await provider.findByIp(s, ip);
      if (recs.length === 0) throw notFound(`No DHCP records for IP ${network}/${ip} found`, 'dhcp.record_not_found');
      return json(reply, recs.map((r) => recordJson(r, s)));
    }),
  );

  app.get(
    '/:network/mac/:mac',
    wrap(async (p, _req, reply) => {
      const network = requireIp(p.network);
      const mac = requireMac(p.mac);
      const s = await subnetOr404(network);
      const rec = await provider.findByMac(s, mac);
      if (!rec) throw notFound(`No DHCP record for MAC ${network}/${mac} found`, 'dhcp.record_not_found');
      return json(reply, recordJson(rec, s));
    }),
  );

  const create = async (p: Params, reply: FastifyReply): Promise<unknown> => {
    const network = requireIp(p.network);
    const mac = requireMac(p.mac);
    const name = checkText('name', optionalString(p.name));
    const hostnameParam = checkText('hostname', optionalString(p.hostname));
    if (name === undefined && hostnameParam === undefined) throw badRequest('Must provide hostname', 'dhcp.hostname');
    const s = await provider.findSubnet(network);
    if (!s) throw badRequest(`No Subnet detected for: ${network}`, 'dhcp.subnet_not_found');
    const vendorOptions: Record<string, string> = {};
    let vendor: string | undefined;
    const extra: Record<string, string> = {};
    for (const [k, v] of Object.entries(p)) {
      if (RESERVED_PARAMS.has(k)) continue;
      const close = k.indexOf('>');
      if (k.startsWith('<') && close > 1) {
        if (!provider.supportsVendorOptions) throw badRequest('DHCP implementation does not support Vendor Options', 'dhcp.vendor');
        vendor = k.slice(1, close);
        if (typeof v === 'string') vendorOptions[k.slice(close + 1)] = checkText(k, v)!;
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
    const nextServer = checkText('nextServer', optionalString(p.nextServer));
    const filename = checkText('filename', optionalString(p.filename));
    if (nextServer !== undefined) reservation.nextServer = nextServer;
    if (filename !== undefined) reservation.filename = filename;
    if (Object.keys(vendorOptions).length > 0) {
      reservation.vendorOptions = vendorOptions;
      reservation.vendor = vendor;
    }
    if (Object.keys(extra).length > 0) reservation.extra = extra;
    const related = new Set(macList(p.related_macs));

    await lock.run(async () => {
      const candidates = new Map<Reservation, true>();
      for (const r of await provider.findByIp(s, ip)) if (r.type === 'reservation') candidates.set(r, true);
      const byMac = await provider.findByMac(s, mac);
      if (byMac && byMac.type === 'reservation') candidates.set(byMac, true);
      const relevant = [...candidates.keys()].filter((r) => !related.has(r.mac));
      if (relevant.some((r) => sameReservation(r, reservation))) return;
      if (relevant.length > 0) throw conflict(`Record ${network}/${ip} already exists`, 'dhcp.conflict');
      await provider.createReservation(s, reservation);
    });
    return reply.type('application/json').send('');
  };

  const deleteRecords = async (network: string, find: (s: DhcpSubnet) => Promise<ReturnType<DhcpProvider['findByIp']> extends Promise<infer R> ? R : never>, reply: FastifyReply): Promise<unknown> => {
    const s = await provider.findSubnet(network);
    if (s) {
      await lock.run(async () => {
        const recs = await find(s);
        for (const r of recs) {
          if (r.type !== 'reservation' || !r.deleteable) throw badRequest(`${describe(r)} is static - unable to delete`, 'dhcp.static');
        }
        for (const r of recs) if (r.type === 'reservation') await provider.deleteReservation(s, r);
      });
    }
    return reply.type('text/html;charset=utf-8').send('');
  };

  const deleteByIp = (p: Params, reply: FastifyReply): Promise<unknown> => {
    const network = requireIp(p.network);
    const ip = requireIp(p.ip);
    return deleteRecords(network, (s) => provider.findByIp(s, ip), reply);
  };

  const deleteByMac = (p: Params, reply: FastifyReply): Promise<unknown> => {
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

  const override = (p: Params, req: FastifyRequest): string => {
    const h = req.headers['x-http-method-override'];
    const m = typeof p._method === 'string' ? p._method : typeof h === 'string' ? h : 'POST';
    return m.toUpperCase();
  };

  app.post(
    '/:network',
    wrap(async (p, req, reply) => {
      if (override(p, req) !== 'POST') throw notFound('Requested url was not found', 'not_found');
      return create(p, reply);
    }),
  );
  app.delete('/:network/ip/:ip', wrap(async (p, _req, reply) => deleteByIp(p, reply)));
  app.delete('/:network/mac/:mac', wrap(async (p, _req, reply) => deleteByMac(p, reply)));
  // Method override (Rack::MethodOverride in the reference): a POST carrying _method=DELETE.
  app.post(
    '/:network/ip/:ip',
    wrap(async (p, req, reply) => {
      if (override(p, req) !== 'DELETE') throw notFound('Requested url was not found', 'not_found');
      return deleteByIp(p, reply);
    }),
  );
  app.post(
    '/:network/mac/:mac',
    wrap(async (p, req, reply) => {
      if (override(p, req) !== 'DELETE') throw notFound('Requested url was not found', 'not_found');
      return deleteByMac(p, reply);
    }),
  );
}
