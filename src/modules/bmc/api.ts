// /bmc routes (spec bmc.md §2): one fastify route per path pattern; the router decodes the path
// and ignores trailing slashes. Every answer is `application/json`, errors included (errors.ts).
// Menus (a route without its last segment) touch no BMC; actions set up the request's backend
// first, so credentials and options are checked before an unknown action is reported.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import { createHttpClient } from '../../lib/http/client.ts';
import type { BmcSettings } from './module.ts';
import type { BmcBackend, BootDevice, FruKey, LanKey } from './provider.ts';
import { setupBackend } from './request.ts';
import { installedIpmiTools } from './tools.ts';

const PROVIDERS = ['freeipmi', 'ipmitool', 'redfish', 'ssh', 'shell'];
const LAN_ACTIONS = ['ip', 'netmask', 'mac', 'gateway', 'snmp', 'vlanid', 'ipsrc', 'print'];
const FRU_ACTIONS = ['list', 'serial', 'manufacturer', 'model', 'asset_tag'];
const SENSOR_ACTIONS = ['list', 'count', 'names', 'fanlist', 'templist', 'get'];
const BOOT_MATCH: readonly BootDevice[] = ['pxe', 'cdrom', 'bios', 'disk'];

const invalidAction = (a: string): unknown => ({ error: `The action: ${a} is not a valid action` });
const invalidFunction = (f: string): unknown => ({ error: `The action: ${f} is not a valid function` });
const result = (action: string, value: unknown): unknown => ({ action, result: value === undefined ? null : value });

/** Builds the backend one request names (provider, credentials, options); the caller closes it. */
export type BackendFactory = (request: FastifyRequest, host: string) => Promise<BmcBackend>;

export interface BmcModuleOptions {
  /** Replaces the real backends (tests). */
  backendFor?: BackendFactory;
}

/**
 * The running BMC module: the Redfish connection pool and the bulkhead shared by every listener,
 * and the installed IPMI tools as capabilities.
 */
export function bmcModule(ctx: ModuleContext<BmcSettings>, options: BmcModuleOptions = {}): ModuleInstance {
  const settings = ctx.settings;
  const timeoutMs = settings.bmc_timeout * 1000;
  // No base URL: every BMC is its own origin, each with its own small keep-alive pool.
  const redfish = createHttpClient({ verify: settings.redfish_verify_ssl, timeoutMs, connections: 4 });
  // A hung BMC farm queues BMC requests only; past the queue, callers get 503 + Retry-After.
  const bulkhead = new Bulkhead({
    name: 'bmc',
    limit: settings.bmc_max_concurrent,
    queue: settings.bmc_max_concurrent * 4,
    queueTimeoutMs: timeoutMs,
  });
  const backendFor: BackendFactory =
    options.backendFor ?? ((request, host) => setupBackend(request, host, { settings, log: ctx.log, signal: ctx.signal, redfish }));
  return {
    routes: (app) => bmcRoutes(app, backendFor, bulkhead),
    capabilities: () => installedIpmiTools(),
    close: () => redfish.close(),
  };
}

function json(reply: FastifyReply, value: unknown): FastifyReply {
  // A Buffer keeps fastify from appending `; charset=utf-8` to the reference's content type.
  return reply.code(200).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(value)));
}

type HostParams = { Params: { host: string } };
type ActionParams = { Params: { host: string; action: string } };

function bmcRoutes(app: FastifyInstance, backendFor: BackendFactory, bulkhead: Bulkhead): void {
  /** Set up the request's backend, run `fn` within the bulkhead, always release the backend. */
  async function act(request: FastifyRequest, reply: FastifyReply, host: string, fn: (b: BmcBackend) => Promise<unknown>): Promise<FastifyReply> {
    const backend = await backendFor(request, host);
    try {
      return json(reply, await bulkhead.run(() => fn(backend)));
    } finally {
      await backend.close().catch((err: Error) => request.proxyLog.warn(`bmc: cleanup failed: ${err.message}`));
    }
  }

  // The router lets a parameter match an empty segment (`/bmc//chassis`); the reference's need a
  // character, so such paths are unknown.
  app.addHook('onRequest', async (request, reply) => {
    const values = Object.values(request.params as Record<string, string | undefined>);
    if (values.includes('')) return reply.callNotFound();
  });

  const menu = (method: 'GET' | 'PUT', url: string, answer: unknown): void => {
    app.route({ method, url, handler: async (_request, reply) => json(reply, answer) });
  };

  // Discovery: no host, no backend.
  menu('GET', '/', { available_resources: ['providers', 'providers/installed', 'host'] });
  menu('GET', '/providers', { providers: PROVIDERS });
  app.get('/providers/installed', async (_request, reply) =>
    json(reply, { installed_providers: [...(await installedIpmiTools()), 'redfish', 'ssh', 'shell'] }),
  );
  menu('GET', '/host', { message: 'You need to supply the hostname or ip of the actual bmc device' });
  menu('GET', '/:host', { actions: ['chassis', 'lan', 'test', 'fru', 'bmc', 'sensors'] });
  menu('GET', '/:host/chassis', { actions: ['power', 'identify', 'config'] });

  app.get<HostParams>('/:host/test', async (request, reply) => act(request, reply, request.params.host, async (b) => result('test', await b.test())));

  // Power.
  menu('GET', '/:host/chassis/power', { actions: ['on', 'off', 'status'] });
  app.get<ActionParams>('/:host/chassis/power/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      if (action === 'status') return result(action, await b.powerStatus());
      if (action === 'on') return result(action, await b.poweredOn());
      if (action === 'off') return result(action, await b.poweredOff());
      return invalidAction(action);
    });
  });
  menu('PUT', '/:host/chassis/power', { actions: ['on', 'off', 'cycle', 'soft', 'reset'] });
  app.put<ActionParams>('/:host/chassis/power/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      switch (action) {
        case 'on':
          return result(action, await b.powerOn());
        case 'off':
          return result(action, await b.powerOff());
        case 'cycle':
          return result(action, await b.powerCycle());
        case 'soft':
          return result(action, await b.powerSoft());
        case 'reset':
          return result(action, await b.powerReset());
        default:
          return invalidAction(action);
      }
    });
  });

  // Identify LED.
  menu('GET', '/:host/chassis/identify', { actions: ['status'] });
  app.get<ActionParams>('/:host/chassis/identify/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => (action === 'status' ? result(action, await b.identifyStatus()) : invalidAction(action)));
  });
  menu('PUT', '/:host/chassis/identify', { actions: ['on', 'off'] });
  app.put<ActionParams>('/:host/chassis/identify/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      if (action === 'on') return result(action, await b.identifyOn());
      if (action === 'off') return result(action, await b.identifyOff());
      return invalidFunction(''); // the reference names the (absent) `function` param here
    });
  });

  // Boot device.
  menu('GET', '/:host/chassis/config', { functions: ['bootdevices'] });
  app.get<{ Params: { host: string; function: string } }>('/:host/chassis/config/:function', async (request, reply) => {
    const { host, function: fn } = request.params;
    return act(request, reply, host, async (b) => (fn === 'bootdevices' ? { devices: await b.bootDevices() } : invalidFunction(fn)));
  });
  menu('PUT', '/:host/chassis/config', { functions: ['bootdevice'] });
  const setBootDevice = async (request: FastifyRequest, reply: FastifyReply, host: string, fn: string, device: string | undefined) =>
    act(request, reply, host, async (b) => {
      if (fn !== 'bootdevice') return invalidFunction(fn);
      if (device === undefined) {
        return { actions: ['pxe', 'disk', 'bios', 'cdrom'], options: ['reboot=true|false', 'persistent=true|false'] };
      }
      const match = BOOT_MATCH.find((d) => device.includes(d));
      if (match === undefined) return { error: `${device} is not a valid boot device` };
      // The reference tests these for truthiness: any non-empty value, "false" too, is true.
      const p = params(request);
      const truthy = (v: unknown): boolean => typeof v === 'string' && v !== '';
      return result(device, await b.setBootDevice(match, { reboot: truthy(p.reboot), persistent: truthy(p.persistent) }));
    });
  app.put<{ Params: { host: string; function: string } }>('/:host/chassis/config/:function', async (request, reply) =>
    setBootDevice(request, reply, request.params.host, request.params.function, undefined),
  );
  app.put<{ Params: { host: string; function: string; device: string } }>('/:host/chassis/config/:function/:device', async (request, reply) =>
    setBootDevice(request, reply, request.params.host, request.params.function, request.params.device),
  );

  // LAN.
  menu('GET', '/:host/lan', { actions: LAN_ACTIONS });
  app.get<ActionParams>('/:host/lan/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      if (action === 'print') return result(action, await b.lanPrint());
      if (LAN_ACTIONS.includes(action)) return result(action, await b.lan(action as LanKey));
      return invalidAction(action);
    });
  });

  // FRU.
  menu('GET', '/:host/fru', { actions: FRU_ACTIONS });
  app.get<ActionParams>('/:host/fru/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      if (action === 'list') return result(action, await b.fruList());
      if (FRU_ACTIONS.includes(action)) return result(action, await b.fru(action as FruKey));
      return invalidAction(action);
    });
  });

  // The BMC itself.
  menu('GET', '/:host/bmc', { actions: ['info', 'guid', 'version'] });
  app.get<ActionParams>('/:host/bmc/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      if (action === 'info') return result(action, await b.bmcInfo());
      if (action === 'guid') return result(action, await b.bmcGuid());
      if (action === 'version') return result(action, await b.bmcVersion());
      return invalidAction(action);
    });
  });
  menu('PUT', '/:host/bmc', { actions: ['reset'] });
  app.put<ActionParams>('/:host/bmc/:action', async (request, reply) => {
    const { host, action } = request.params;
    return act(request, reply, host, async (b) => {
      if (action !== 'reset') return invalidAction(action);
      const type = params(request).type;
      if (type === undefined || type === null) return { options: 'type=cold|warm' };
      const m = typeof type === 'string' ? /cold|warm/.exec(type) : null;
      if (!m) return { error: `The type: ${String(type)} is not a valid type` };
      return result(action, await b.bmcReset(m[0] as 'cold' | 'warm'));
    });
  });

  // Sensors.
  menu('GET', '/:host/sensors', { actions: SENSOR_ACTIONS });
  const sensors = async (request: FastifyRequest, reply: FastifyReply, host: string, action: string, sensor: string | undefined) =>
    act(request, reply, host, async (b) => {
      if (!SENSOR_ACTIONS.includes(action)) return invalidAction(action);
      if (action === 'get' && sensor === undefined) return { options: 'sensor=<name>' };
      const all = await b.sensors();
      const filter = (pred: (name: string, unit: string) => boolean) =>
        Object.fromEntries(Object.entries(all).filter(([name, v]) => pred(name, String(v.unit ?? '').toLowerCase())));
      switch (action) {
        case 'list':
          return result(action, all);
        case 'count':
          return result(action, Object.keys(all).length);
        case 'names':
          return result(action, Object.keys(all));
        case 'fanlist':
          return result(action, filter((name) => name.includes('fan')));
        case 'templist':
          return result(action, filter((name, unit) => unit.includes('degree') || name.includes('temp')));
        default: {
          const wanted = sensor as string;
          const key = wanted.toLowerCase().trim().replace(/\s+/g, '_');
          return result(action, all[wanted] ?? all[key] ?? null);
        }
      }
    });
  app.get<ActionParams>('/:host/sensors/:action', async (request, reply) =>
    sensors(request, reply, request.params.host, request.params.action, undefined),
  );
  app.get<{ Params: { host: string; action: string; sensor: string } }>('/:host/sensors/:action/:sensor', async (request, reply) =>
    sensors(request, reply, request.params.host, request.params.action, request.params.sensor),
  );
}
