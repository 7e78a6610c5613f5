// Starting and stopping one proxy instance: settings → modules → listeners, and the reverse on
// shutdown (in-flight requests are drained, modules see their AbortSignal).

import { join } from 'node:path';
import type { Server } from 'node:http';
import type { FastifyInstance, FastifyServerFactoryHandler } from 'fastify';
import { loadGlobalSettings } from './settings/load-global.ts';
import type { GlobalSettings, ListenerSpec } from './settings/global.ts';
import { discoverCatalogue, type Catalogue } from './registry.ts';
import { ModuleLoader, type ModuleRecord } from './lifecycle.ts';
import { LogBuffer } from './log-buffer.ts';
import { LogSink, createLogger } from './logging.ts';
import type { Logger } from './logging-types.ts';
import { buildApp } from './http/app.ts';
import { createListenerServer, listen, modulesFor, resolveListeners, selectListeners } from './http/listeners.ts';
import { PROXY_VERSION } from './version.ts';
import { resolveInstance } from './instances.ts';
import { ProxyMetrics } from './metrics.ts';
import type { ListenerInfo } from './module.ts';

export interface StartOptions {
  settingsDir: string;
  only?: readonly string[];
  bundle?: string;
  /** Names of the `listeners:` entries this instance opens (default: all). */
  listenerNames?: readonly string[];
  /** Override settings.yml's log_file (tests use STDOUT or a temp file). */
  logFile?: string;
  catalogue?: Catalogue;
}

export interface RunningListener {
  spec: ListenerSpec;
  app: FastifyInstance;
  servers: Server[];
  /** Actual bound addresses, e.g. for port 0 in tests. */
  addresses: { host: string; port: number }[];
}

export interface RunningProxy {
  global: GlobalSettings;
  records: ReadonlyMap<string, ModuleRecord>;
  failedModules: Readonly<Record<string, string>>;
  listeners: RunningListener[];
  log: Logger;
  logSink: LogSink;
  metrics: ProxyMetrics;
  /** Stop accepting, drain in-flight requests (up to `graceMs`), stop modules. */
  close(graceMs?: number): Promise<void>;
}

async function startListener(
  spec: ListenerSpec,
  mounted: readonly ModuleRecord[],
  proxy: { global: GlobalSettings; records: ReadonlyMap<string, ModuleRecord>; log: Logger; catalogue: Catalogue; metrics: ProxyMetrics },
): Promise<RunningListener> {
  const { global, records, log } = proxy;
  let handler: FastifyServerFactoryHandler | undefined;
  const servers: Server[] = [];
  const app = await buildApp({
    listener: spec,
    global,
    records,
    mounted,
    log,
    metrics: proxy.metrics,
    version: PROXY_VERSION,
    providerCapabilities: (id) => proxy.catalogue.providers.get(id)?.capabilities ?? [],
    serverFactory: (h) => {
      handler = h;
      const s = createListenerServer(spec, global, h, log);
      servers.push(s);
      return s;
    },
  });
  await app.ready();
  for (let i = 1; i < spec.bind.length; i++) servers.push(createListenerServer(spec, global, handler as FastifyServerFactoryHandler, log));
  const addresses: { host: string; port: number }[] = [];
  for (const [i, host] of spec.bind.entries()) {
    try {
      await listen(servers[i], host, spec.port);
    } catch (err) {
      throw new Error(`listener '${spec.name}': cannot listen on ${host}:${spec.port}: ${(err as Error).message}`);
    }
    const a = servers[i].address();
    if (a && typeof a === 'object') addresses.push({ host: a.address, port: a.port });
  }
  log.info(`Listener '${spec.name}' (${spec.scheme}, audience ${spec.audience}) on ${addresses.map((a) => `${a.host}:${a.port}`).join(', ')} serving ${mounted.map((m) => m.def.name).join(', ') || 'no modules'}`);
  return { spec, app, servers, addresses };
}

export async function startProxy(opts: StartOptions): Promise<RunningProxy> {
  const global = await loadGlobalSettings(opts.settingsDir);
  const settingsFile = join(global.settingsDir, 'settings.yml');
  const catalogue = opts.catalogue ?? (await discoverCatalogue());
  const only = resolveInstance({ only: opts.only, bundle: opts.bundle, known: [...catalogue.modules.keys()] });

  const buffer = new LogBuffer(global.logBuffer, global.logBufferErrors);
  const logSink = new LogSink({ logFile: opts.logFile ?? global.logFile, level: global.logLevel, buffer });
  const log = createLogger(logSink);
  const abort = new AbortController();

  const metrics = new ProxyMetrics();
  const listenerInfos: ListenerInfo[] = [];
  const loader = new ModuleLoader({ catalogue, global, only, log, signal: abort.signal, logBuffer: buffer, metrics, listeners: () => listenerInfos });
  try {
    await loader.load();
    const specs = selectListeners(resolveListeners(global, settingsFile), opts.listenerNames, settingsFile);
    // Every listener's module set is worked out (and a bad combination refused) before binding anything.
    const plan = specs.map((spec) => ({ spec, mounted: modulesFor(spec, loader.records, settingsFile) }));
    const listeners: RunningListener[] = [];
    try {
      for (const { spec, mounted } of plan) {
        const started = await startListener(spec, mounted, { global, records: loader.records, log, catalogue, metrics });
        listeners.push(started);
        listenerInfos.push({ spec, addresses: started.addresses.map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)), modules: mounted.map((m) => m.def.name) });
      }
    } catch (err) {
      for (const l of listeners) for (const s of l.servers) s.close();
      throw err;
    }
    // The reference counts its launched applications (one per listener, HTTP and HTTPS), not the
    // bound addresses, although the message says sockets.
    log.info(`Smart proxy has launched on ${listeners.length} socket(s), waiting for requests`);

    let closing: Promise<void> | undefined;
    const close = (graceMs = 10_000): Promise<void> =>
      (closing ??= (async () => {
        log.info('Shutting down: draining in-flight requests');
        const drained = Promise.all(
          listeners.flatMap((l) =>
            l.servers.map(
              (s) =>
                new Promise<void>((resolve) => {
                  s.close(() => resolve());
                  s.closeIdleConnections();
                }),
            ),
          ),
        );
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        for (const l of listeners) for (const s of l.servers) s.closeAllConnections();
        abort.abort();
        await Promise.all(listeners.map((l) => l.app.close().catch(() => undefined)));
        await loader.close();
        log.info('Smart proxy stopped');
        await logSink.flush();
      })());
    return { global, records: loader.records, failedModules: loader.failedModules, listeners, log, logSink, metrics, close };
  } catch (err) {
    abort.abort();
    await loader.close();
    await logSink.flush();
    throw err;
  }
}
