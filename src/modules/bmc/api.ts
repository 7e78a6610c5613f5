// /bmc routes (spec bmc.md §2). One catch-all route dispatches on the path segments, because most
// routes have optional trailing segments and every one accepts a trailing slash. Every answer,
// errors included, is `application/json` as in the reference.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError, errorText } from '../../core/errors.ts';
import { params } from '../../core/http/request-params.ts';
import { BmcError, NotImplementedOperation, UndefinedOperation, type BmcBackend, type BootDevice, type FruKey, type LanKey } from './provider.ts';
import { setupBackend, type BmcRuntime } from './request.ts';
import { installedIpmiTools } from './tools.ts';

const PROVIDERS = ['freeipmi', 'ipmitool', 'redfish', 'ssh', 'shell'];
const LAN_ACTIONS = ['ip', 'netmask', 'mac', 'gateway', 'snmp', 'vlanid', 'ipsrc', 'print'];
const FRU_ACTIONS = ['list', 'serial', 'manufacturer', 'model', 'asset_tag'];
const SENSOR_ACTIONS = ['list', 'count', 'names', 'fanlist', 'templist', 'get'];
const BOOT_MATCH: readonly BootDevice[] = ['pxe', 'cdrom', 'bios', 'disk'];

type Json = unknown;
const invalidAction = (a: string): Json => ({ error: `The action: ${a} is not a valid action` });
const invalidFunction = (f: string): Json => ({ error: `The action: ${f} is not a valid function` });
const result = (action: string, value: unknown): Json => ({ action, result: value === undefined ? null : value });

function segmentsOf(request: FastifyRequest, prefix: string): string[] | undefined {
  const url = request.raw.url ?? '';
  const q = url.indexOf('?');
  let path = (q >= 0 ? url.slice(0, q) : url).slice(prefix.length);
  if (path.startsWith('/')) path = path.slice(1);
  if (path.endsWith('/')) path = path.slice(0, -1);
  if (path === '') return [];
  try {
    return path.split('/').map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

function truthy(v: unknown): boolean {
  return typeof v === 'string' && v !== '';
}

export function registerBmcRoutes(app: FastifyInstance, rt: BmcRuntime, prefix: string): void {
  /** Set up the request's backend, run `fn` within the bulkhead, always release the backend. */
  async function act(request: FastifyRequest, host: string, fn: (b: BmcBackend) => Promise<Json>): Promise<Json> {
    const backend = await setupBackend(request, host, rt);
    try {
      return await rt.bulkhead.run(() => fn(backend));
    } finally {
      await backend.close().catch((err: Error) => rt.log.warn(`bmc: cleanup failed: ${err.message}`));
    }
  }

  async function getRoute(request: FastifyRequest, seg: string[]): Promise<Json | undefined> {
    const [host, area, sub, extra] = seg;
    if (seg.length === 0) return { available_resources: ['providers', 'providers/installed', 'host'] };
    if (seg.length === 1 && host === 'providers') return { providers: PROVIDERS };
    if (seg.length === 2 && host === 'providers' && area === 'installed') {
      return { installed_providers: [...(await installedIpmiTools()), 'redfish', 'ssh', 'shell'] };
    }
    if (seg.length === 1 && host === 'host') return { message: 'You need to supply the hostname or ip of the actual bmc device' };
    if (host === '') return undefined;
    if (seg.length === 1) return { actions: ['chassis', 'lan', 'test', 'fru', 'bmc', 'sensors'] };
    if (seg.length === 2 && area === 'chassis') return { actions: ['power', 'identify', 'config'] };
    if (seg.length === 2 && area === 'test') return act(request, host, async (b) => result('test', await b.test()));

    if (area === 'chassis' && seg.length <= 4) {
      if (sub === 'power') {
        if (extra === undefined) return { actions: ['on', 'off', 'status'] };
        return act(request, host, async (b) => {
          if (extra === 'status') return result(extra, await b.powerStatus());
          if (extra === 'on') return result(extra, await b.poweredOn());
          if (extra === 'off') return result(extra, await b.poweredOff());
          return invalidAction(extra);
        });
      }
      if (sub === 'identify') {
        if (extra === undefined) return { actions: ['status'] };
        return act(request, host, async (b) => (extra === 'status' ? result(extra, await b.identifyStatus()) : invalidAction(extra)));
      }
      if (sub === 'config') {
        if (extra === undefined) return { functions: ['bootdevices'] };
        return act(request, host, async (b) => (extra === 'bootdevices' ? { devices: await b.bootDevices() } : invalidFunction(extra)));
      }
      return undefined;
    }
    if (seg.length > 3 && !(area === 'sensors' && seg.length === 4)) return undefined;
    if (area === 'lan') {
      if (sub === undefined) return { actions: LAN_ACTIONS };
      return act(request, host, async (b) => {
        if (sub === 'print') return result(sub, await b.lanPrint());
        if (LAN_ACTIONS.includes(sub)) return result(sub, await b.lan(sub as LanKey));
        return invalidAction(sub);
      });
    }
    if (area === 'fru') {
      if (sub === undefined) return { actions: FRU_ACTIONS };
      return act(request, host, async (b) => {
        if (sub === 'list') return result(sub, await b.fruList());
        if (FRU_ACTIONS.includes(sub)) return result(sub, await b.fru(sub as FruKey));
        return invalidAction(sub);
      });
    }
    if (area === 'bmc') {
      if (sub === undefined) return { actions: ['info', 'guid', 'version'] };
      return act(request, host, async (b) => {
        if (sub === 'info') return result(sub, await b.bmcInfo());
        if (sub === 'guid') return result(sub, await b.bmcGuid());
        if (sub === 'version') return result(sub, await b.bmcVersion());
        return invalidAction(sub);
      });
    }
    if (area === 'sensors') {
      if (sub === undefined) return { actions: SENSOR_ACTIONS };
      return act(request, host, async (b) => {
        if (!SENSOR_ACTIONS.includes(sub)) return invalidAction(sub);
        if (sub === 'get' && extra === undefined) return { options: 'sensor=<name>' };
        const all = await b.sensors();
        const filter = (pred: (k: string, unit: string) => boolean) =>
          Object.fromEntries(Object.entries(all).filter(([k, v]) => pred(k, String(v.unit ?? '').toLowerCase())));
        switch (sub) {
          case 'list':
            return result(sub, all);
          case 'count':
            return result(sub, Object.keys(all).length);
          case 'names':
            return result(sub, Object.keys(all));
          case 'fanlist':
            return result(sub, filter((k) => k.includes('fan')));
          case 'templist':
            return result(sub, filter((k, unit) => unit.includes('degree') || k.includes('temp')));
          default: {
            const key = extra.toLowerCase().trim().replace(/\s+/g, '_');
            return result(sub, all[extra] ?? all[key] ?? null);
          }
        }
      });
    }
    return undefined;
  }

  async function putRoute(request: FastifyRequest, seg: string[]): Promise<Json | undefined> {
    const [host, area, sub, extra, last] = seg;
    if (host === undefined || host === '' || host === 'providers' && seg.length <= 2) return undefined;
    if (area === 'chassis' && sub === 'power' && seg.length <= 4) {
      if (extra === undefined) return { actions: ['on', 'off', 'cycle', 'soft', 'reset'] };
      return act(request, host, async (b) => {
        switch (extra) {
          case 'on': return result(extra, await b.powerOn());
          case 'off': return result(extra, await b.powerOff());
          case 'cycle': return result(extra, await b.powerCycle());
          case 'soft': return result(extra, await b.powerSoft());
          case 'reset': return result(extra, await b.powerReset());
          default: return invalidAction(extra);
        }
      });
    }
    if (area === 'chassis' && sub === 'identify' && seg.length <= 4) {
      if (extra === undefined) return { actions: ['on', 'off'] };
      return act(request, host, async (b) => {
        if (extra === 'on') return result(extra, await b.identifyOn());
        if (extra === 'off') return result(extra, await b.identifyOff());
        return invalidFunction(''); // the reference names the (absent) `function` param here
      });
    }
    if (area === 'chassis' && sub === 'config' && seg.length <= 5) {
      if (extra === undefined) return { functions: ['bootdevice'] };
      const p = params(request);
      return act(request, host, async (b) => {
        if (extra !== 'bootdevice') return invalidFunction(extra);
        if (last === undefined) {
          return { actions: ['pxe', 'disk', 'bios', 'cdrom'], options: ['reboot=true|false', 'persistent=true|false'] };
        }
        const device = BOOT_MATCH.find((d) => last.includes(d));
        if (device === undefined) return { error: `${last} is not a valid boot device` };
        return result(last, await b.setBootDevice(device, { reboot: truthy(p.reboot), persistent: truthy(p.persistent) }));
      });
    }
    if (area === 'bmc' && seg.length <= 3) {
      if (sub === undefined) return { actions: ['reset'] };
      const p = params(request);
      return act(request, host, async (b) => {
        if (sub !== 'reset') return invalidAction(sub);
        const type = p.type;
        if (type === undefined || type === null) return { options: 'type=cold|warm' };
        const m = typeof type === 'string' ? /cold|warm/.exec(type) : null;
        if (!m) return { error: `The type: ${String(type)} is not a valid type` };
        return result(sub, await b.bmcReset(m[0] as 'cold' | 'warm'));
      });
    }
    return undefined;
  }

  function fail(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
    let status = 400;
    let message = errorText(err);
    let headers: Record<string, string> = {};
    if (err instanceof NotImplementedOperation) {
      status = 501;
      message = 'NotImplementedError';
    } else if (err instanceof ProxyError) {
      status = err.status;
      headers = err.headers;
    } else if (!(err instanceof BmcError || err instanceof UndefinedOperation)) {
      (request.proxyLog ?? rt.log).error(`bmc: unexpected error: ${message}`, err);
    }
    (request.proxyLog ?? rt.log).error(message);
    return reply.code(status).headers(headers).header('content-type', 'application/json').send(message);
  }

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> => {
    const seg = segmentsOf(request, prefix);
    if (seg === undefined) return reply.callNotFound();
    let answer: Json | undefined;
    try {
      answer = request.method === 'PUT' ? await putRoute(request, seg) : await getRoute(request, seg);
    } catch (err) {
      return fail(request, reply, err);
    }
    if (answer === undefined) return reply.callNotFound();
    return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(answer));
  };

  app.route({ method: ['GET', 'PUT'], url: '/', handler });
  app.route({ method: ['GET', 'PUT'], url: '/*', handler });
}
