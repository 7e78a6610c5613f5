// /ipam routes (spec plugins.md §6.3). Parameters are checked here, before any backend call; the
// provider answers about subnets and groups; next_ip offers an address and holds it (holds.ts).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import { str } from '../../core/params.ts';
import type { Static } from '../../core/settings/schema.ts';
import { IpamError } from './errors.ts';
import { AddressHolds } from './holds.ts';
import type { EXTERNALIPAM_SETTINGS } from './module.ts';
import { contains, formatAddress, lastAddress, parseAddress, parseNetwork, successor, type Address, type Network } from './net.ts';
import type { CallOptions, ExternalIpamProvider, FoundSubnet } from './provider.ts';

type IpamSettings = Static<typeof EXTERNALIPAM_SETTINGS>;

/** Addresses that exist in the backend skipped before next_ip gives up (the reference's MAX_IP_RETRIES). */
const MAX_TAKEN_SKIPS = 5;
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;
const HELD_GAUGE = 'smart_proxy_externalipam_held_addresses';

type SubnetParams = { address: string; prefix: string };
type IpParams = SubnetParams & { ip: string };

function json(reply: FastifyReply, status: number, value?: unknown): FastifyReply {
  // A Buffer keeps fastify from appending `; charset=utf-8`: the plugin's type is bare application/json.
  reply.code(status).header('content-type', 'application/json');
  return reply.send(Buffer.from(value === undefined ? '' : JSON.stringify(value)));
}

function network(p: SubnetParams): Network {
  const n = parseNetwork(p.address, p.prefix);
  if (typeof n === 'string') throw IpamError.invalid(n);
  return n;
}

function address(text: string, n: Network): Address {
  const a = parseAddress(text);
  if (!a) throw IpamError.invalid('IP address is invalid');
  if (!contains(n, a)) throw IpamError.invalid(`IP ${text} is not in ${n.cidr}`);
  return a;
}

/**
 * The `group` query parameter: a phpIPAM section or NetBox VRF name. Foreman always sends it,
 * empty when the subnet has none; empty means "no group". Decoded once, as any query parameter
 * (the plugin's second decoding through Ruby URI helpers is the known bug this replaces).
 */
export function groupParam(request: FastifyRequest): string | undefined {
  const value = str(params(request), 'group');
  if (value === undefined || value.trim() === '') return undefined;
  if (value.length > 255 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw IpamError.invalid('Invalid group: at most 255 characters, no control characters');
  }
  return value;
}

function macParam(request: FastifyRequest): string | undefined {
  const value = str(params(request), 'mac');
  if (value === undefined || value === '') return undefined;
  if (!MAC.test(value)) throw IpamError.invalid('Mac address is invalid');
  return value.toLowerCase();
}

export interface ExternalIpamInstance extends ModuleInstance {
  readonly holds: AddressHolds;
}

export function externalIpamModule(ctx: ModuleContext<IpamSettings>, provider: ExternalIpamProvider): ExternalIpamInstance {
  const s = ctx.settings;
  const timeoutMs = s.ipam_timeout * 1000;
  const holds = new AddressHolds(s.next_ip_hold * 1000);
  // A slow IPAM queues IPAM requests only; past the queue, callers get 503 + Retry-After.
  const bulkhead = new Bulkhead({ name: 'externalipam', limit: s.max_concurrent, queue: s.max_concurrent * 8, queueTimeoutMs: timeoutMs });
  const registry = ctx.proxy.metrics.registry;
  registry.removeSingleMetric(HELD_GAUGE);
  const heldGauge = new Gauge({
    name: HELD_GAUGE,
    help: 'Addresses offered by /ipam next_ip and held for their MAC, not yet expired.',
    registers: [registry],
    collect() {
      this.set(holds.size);
    },
  });

  const call = (): CallOptions => ({ deadline: Date.now() + timeoutMs });

  async function subnetOrFail(n: Network, group: string | undefined, c: CallOptions): Promise<FoundSubnet> {
    const found = await provider.findSubnet(n, group, c);
    if (!found) throw IpamError.not_found('Subnet not found in External IPAM');
    return found;
  }

  /** The address to offer `mac` in `n`; runs under the subnet's lock. */
  async function nextIp(n: Network, group: string | undefined, mac: string | undefined, c: CallOptions): Promise<string> {
    const groupKey = group ?? '';
    if (mac !== undefined) {
      const held = holds.heldFor(groupKey, n.cidr, mac);
      if (held !== undefined) return held;
    }
    const found = await subnetOrFail(n, group, c);
    const first = await provider.firstFree(found, n, c);
    if ('none' in first) throw IpamError.no_free('No free addresses found');
    const offered = parseAddress(first.ip);
    if (!offered || !contains(n, offered)) throw IpamError.backend(`External IPAM answered ${JSON.stringify(first.ip)} as the first free address of ${n.cidr}`);
    const last = lastAddress(n).value;
    const exhausted = IpamError.no_free(
      `No free addresses found in subnet ${n.cidr}. Some available ip's may be cached. Try again in ${holds.ttlSeconds} seconds after cache is cleared.`,
    );
    let candidate = offered;
    let takenSkips = 0;
    for (;;) {
      if (candidate.value >= last) throw exhausted;
      const text = formatAddress(candidate);
      if (!holds.isHeld(groupKey, n.cidr, text)) {
        // The backend's own answer is free by definition; a successor has to be asked about.
        if (candidate === offered || !(await provider.ipExists(found, n, candidate, c))) {
          holds.hold(groupKey, n.cidr, mac, text);
          return text;
        }
        if (++takenSkips >= MAX_TAKEN_SKIPS) throw exhausted;
      }
      candidate = successor(candidate);
    }
  }

  function routes(app: FastifyInstance): void {
    app.get<{ Params: SubnetParams }>('/subnet/:address/:prefix/next_ip', async (request, reply) => {
      const n = network(request.params);
      const mac = macParam(request);
      const group = groupParam(request);
      // The deadline starts now: time spent waiting for the subnet's lock counts. The lock is taken
      // outside the bulkhead, so requests queued on one busy subnet hold no slot others need.
      const c = call();
      const ip = await holds.exclusive(group ?? '', n.cidr, () => bulkhead.run(() => nextIp(n, group, mac, c)));
      return json(reply, 200, { data: ip });
    });

    app.get<{ Params: SubnetParams }>('/subnet/:address/:prefix', async (request, reply) => {
      const n = network(request.params);
      const group = groupParam(request);
      const found = await bulkhead.run(() => subnetOrFail(n, group, call()));
      return json(reply, 200, found.subnet);
    });

    app.get<{ Params: IpParams }>('/subnet/:address/:prefix/:ip', async (request, reply) => {
      const n = network(request.params);
      const ip = address(request.params.ip, n);
      const group = groupParam(request);
      const exists = await bulkhead.run(async () => {
        const c = call();
        return provider.ipExists(await subnetOrFail(n, group, c), n, ip, c);
      });
      return json(reply, 200, exists);
    });

    app.post<{ Params: IpParams }>('/subnet/:address/:prefix/:ip', async (request, reply) => {
      const n = network(request.params);
      const ip = address(request.params.ip, n);
      const group = groupParam(request);
      await bulkhead.run(async () => {
        const c = call();
        await provider.addIp(await subnetOrFail(n, group, c), n, ip, c);
      });
      ctx.log.info(`Reserved ${formatAddress(ip)} in ${n.cidr}${group === undefined ? '' : ` (group ${group})`}`);
      return json(reply, 201);
    });

    app.delete<{ Params: IpParams }>('/subnet/:address/:prefix/:ip', async (request, reply) => {
      const n = network(request.params);
      const ip = address(request.params.ip, n);
      const group = groupParam(request);
      await bulkhead.run(async () => {
        const c = call();
        await provider.deleteIp(await subnetOrFail(n, group, c), n, ip, c);
      });
      ctx.log.info(`Released ${formatAddress(ip)} in ${n.cidr}${group === undefined ? '' : ` (group ${group})`}`);
      return reply.code(204).header('content-type', 'application/json').send();
    });

    app.get('/groups', async (_request, reply) => json(reply, 200, await bulkhead.run(() => provider.groups(call()))));

    app.get<{ Params: { group: string } }>('/groups/:group', async (request, reply) => {
      const name = groupName(request.params.group);
      const group = await bulkhead.run(() => provider.group(name, call()));
      if (!group) throw IpamError.not_found('Group not found in External IPAM');
      return json(reply, 200, group);
    });

    app.get<{ Params: { group: string } }>('/groups/:group/subnets', async (request, reply) => {
      const name = groupName(request.params.group);
      const subnets = await bulkhead.run(() => provider.groupSubnets(name, call()));
      if (subnets === undefined) throw IpamError.not_found('Group not found in External IPAM');
      if (subnets.length === 0) throw IpamError.not_found('No subnets found in External IPAM group');
      return json(reply, 200, subnets);
    });
  }

  return {
    holds,
    routes,
    close() {
      holds.close();
      // A reload may have registered its successor's gauge already: remove only our own.
      if (registry.getSingleMetric(HELD_GAUGE) === heldGauge) registry.removeSingleMetric(HELD_GAUGE);
    },
  };
}

function groupName(value: string): string {
  if (value.trim() === '' || value.length > 255 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw IpamError.invalid('Invalid group: 1 to 255 characters, no control characters');
  }
  return value;
}
