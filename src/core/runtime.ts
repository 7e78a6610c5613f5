// Starting and stopping one proxy instance: settings → modules → listeners, and the reverse on
// shutdown (in-flight requests are drained, modules see their AbortSignal). Reloading in between
// (docs/reload.md): the listening sockets stay, each reload builds new applications around the
// kept and the recreated module instances and swaps them in; the previous ones drain.

import { join } from 'node:path';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { FastifyInstance, FastifyServerFactoryHandler } from 'fastify';
import { loadGlobalSettings } from './settings/load-global.ts';
import type { GlobalSettings, ListenerSpec } from './settings/global.ts';
import { discoverCatalogue, type Catalogue } from './registry.ts';
import { ModuleLoader, type ModuleRecord, type ReloadPlan } from './lifecycle.ts';
import { SerialReloads, noModuleChanges, planListeners, restartOnlyChanges, type ListenerPlan, type ReloadResult } from './reload.ts';
import { LogBuffer } from './log-buffer.ts';
import { LogSink, createLogger } from './logging.ts';
import type { Logger } from './logging-types.ts';
import { buildApp } from './http/app.ts';
import { createListenerServer, listen, modulesFor, reloadTlsContext, resolveListeners, selectListeners } from './http/listeners.ts';
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
  /** The spec it serves with (a reload may change its modules, audience and TLS files). */
  spec: ListenerSpec;
  /** The application serving new requests (a reload swaps it). */
  app: FastifyInstance;
  servers: Server[];
  /** Actual bound addresses, e.g. for port 0 in tests. */
  addresses: { host: string; port: number }[];
}

export interface RunningProxy {
  /** The settings of the start or of the last applied reload. */
  readonly global: GlobalSettings;
  records: ReadonlyMap<string, ModuleRecord>;
  failedModules: Readonly<Record<string, string>>;
  listeners: RunningListener[];
  log: Logger;
  logSink: LogSink;
  metrics: ProxyMetrics;
  /**
   * Read the settings again and apply them without closing the listeners (docs/reload.md). One
   * runs at a time; asked for during one, it runs once more after it.
   */
  reload(): Promise<ReloadResult>;
  /** Stop accepting, drain in-flight requests (up to `graceMs`), stop modules. */
  close(graceMs?: number): Promise<void>;
}

/**
 * One fastify application of a listener and the requests it accepted. The listener's servers
 * hand each request to the current generation; a reload builds the next one and lets this one
 * finish what it accepted.
 */
interface Generation {
  readonly app: FastifyInstance;
  readonly handler: FastifyServerFactoryHandler;
  inflight: number;
  /** Called when inflight drops to 0 (set while a reload waits for it). */
  onIdle: (() => void) | undefined;
}

interface AppContext {
  global: GlobalSettings;
  log: Logger;
  catalogue: Catalogue;
  metrics: ProxyMetrics;
}

/** Build and make ready a listener's application; its fastify server is never bound. */
async function buildGeneration(spec: ListenerSpec, mounted: readonly ModuleRecord[], records: ReadonlyMap<string, ModuleRecord>, ctx: AppContext): Promise<Generation> {
  let handler: FastifyServerFactoryHandler | undefined;
  const app = await buildApp({
    listener: spec,
    global: ctx.global,
    records,
    mounted,
    log: ctx.log,
    metrics: ctx.metrics,
    version: PROXY_VERSION,
    providerCapabilities: (id) => ctx.catalogue.providers.get(id)?.capabilities ?? [],
    // The listening servers are the listener's own (kept across reloads); fastify's server only
    // carries its handler, so closing an application never closes a listening socket.
    serverFactory: (h) => {
      handler = h;
      return createHttpServer();
    },
  });
  try {
    await app.ready();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  return { app, handler: handler as FastifyServerFactoryHandler, inflight: 0, onIdle: undefined };
}

/** Resolves when `gen` has no request left, or after `ms`; false then. */
function drained(gen: Generation, ms: number): Promise<boolean> {
  if (gen.inflight === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      gen.onIdle = undefined;
      resolve(false);
    }, ms);
    gen.onIdle = () => {
      clearTimeout(timer);
      gen.onIdle = undefined;
      resolve(true);
    };
  });
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function addressText(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export async function startProxy(opts: StartOptions): Promise<RunningProxy> {
  let global = await loadGlobalSettings(opts.settingsDir);
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
  /** The current generation of each listener, in `listeners` order. */
  const current: Generation[] = [];
  /** Previous generations still finishing their requests. */
  const draining = new Set<Generation>();
  const listeners: RunningListener[] = [];
  const appContext = (): AppContext => ({ global, log, catalogue, metrics });
  let closing: Promise<void> | undefined;

  /** The servers' request handler for listener `index`: the current application, counted. */
  const trampoline =
    (index: number) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const gen = current[index];
      gen.inflight++;
      res.once('close', () => {
        if (--gen.inflight === 0) gen.onIdle?.();
      });
      gen.handler(req, res);
    };

  try {
    await loader.load();
    const specs = selectListeners(resolveListeners(global, settingsFile), opts.listenerNames, settingsFile);
    // Every listener's module set is worked out (and a bad combination refused) before binding anything.
    const plan = specs.map((spec) => ({ spec, mounted: modulesFor(spec, loader.records, settingsFile) }));
    const snapshot = new Map(loader.records);
    try {
      for (const [index, { spec, mounted }] of plan.entries()) {
        const gen = await buildGeneration(spec, mounted, snapshot, appContext());
        current.push(gen);
        const listener: RunningListener = { spec, app: gen.app, servers: [], addresses: [] };
        listeners.push(listener);
        for (const host of spec.bind) {
          const server = createListenerServer(spec, global, trampoline(index), log);
          listener.servers.push(server);
          try {
            await listen(server, host, spec.port);
          } catch (err) {
            throw new Error(`listener '${spec.name}': cannot listen on ${host}:${spec.port}: ${(err as Error).message}`);
          }
          const a = server.address();
          if (a && typeof a === 'object') listener.addresses.push({ host: a.address, port: a.port });
        }
        log.info(
          `Listener '${spec.name}' (${spec.scheme}, audience ${spec.audience}) on ${listener.addresses.map((a) => `${a.host}:${a.port}`).join(', ')} serving ${mounted.map((m) => m.def.name).join(', ') || 'no modules'}`,
        );
        listenerInfos.push({ spec, addresses: listener.addresses.map(addressText), modules: mounted.map((m) => m.def.name) });
      }
    } catch (err) {
      for (const l of listeners) for (const s of l.servers) s.close();
      await Promise.all(current.map((g) => g.app.close().catch(() => undefined)));
      throw err;
    }
    // The reference counts its launched applications (one per listener, HTTP and HTTPS), not the
    // bound addresses, although the message says sockets.
    log.info(`Smart proxy has launched on ${listeners.length} socket(s), waiting for requests`);

    /** Build every listener's next application from the current records (specs by listener). */
    const buildAll = async (specsNow: readonly ListenerSpec[]): Promise<{ gens: Generation[]; mounted: ModuleRecord[][] }> => {
      const records = new Map(loader.records);
      const gens: Generation[] = [];
      const mounted = specsNow.map((spec) => modulesFor(spec, records, settingsFile));
      try {
        for (const [i, spec] of specsNow.entries()) gens.push(await buildGeneration(spec, mounted[i], records, appContext()));
      } catch (err) {
        await Promise.all(gens.map((g) => g.app.close().catch(() => undefined)));
        throw err;
      }
      return { gens, mounted };
    };

    /** New requests go to `gens`; returns the generations they replace. */
    const swap = (specsNow: readonly ListenerSpec[], built: { gens: Generation[]; mounted: ModuleRecord[][] }): Generation[] => {
      const old = [...current];
      for (const [i, l] of listeners.entries()) {
        current[i] = built.gens[i];
        l.app = built.gens[i].app;
        l.spec = specsNow[i];
        listenerInfos[i] = { spec: specsNow[i], addresses: listenerInfos[i].addresses, modules: built.mounted[i].map((m) => m.def.name) };
        draining.add(old[i]);
      }
      return old;
    };

    /** Wait until the replaced generations finished their requests (within the request timeout), then close them. */
    const retireGenerations = async (old: readonly Generation[]): Promise<void> => {
      const ms = global.limits.requestTimeoutMs;
      const done = await Promise.all(old.map((g) => drained(g, ms)));
      const late = old.reduce((n, g, i) => n + (done[i] ? 0 : g.inflight), 0);
      if (late > 0) log.warn(`Reload: ${late} request(s) still running on the previous configuration after ${ms} ms (limits.request_timeout); closing it anyway`);
      await Promise.all(old.map((g) => g.app.close().catch((err: unknown) => log.warn(`Reload: closing the previous application failed: ${describeError(err)}`))));
      for (const g of old) draining.delete(g);
    };

    const refused = (error: string, needsRestart: readonly string[] = []): ReloadResult => {
      log.error(`Reload refused, nothing changed: ${error}`);
      return { ok: false, error, modules: noModuleChanges(), needsRestart };
    };

    const reloadOnce = async (): Promise<ReloadResult> => {
      if (closing) return refused('the proxy is shutting down');
      log.info(`Reloading the settings from ${settingsFile}`);
      // Phase 1: everything is read and checked before anything changes.
      let next: GlobalSettings;
      let listenerPlan: ListenerPlan;
      const tls = new Map<number, SecureContextOptions>();
      let plan: ReloadPlan;
      try {
        next = await loadGlobalSettings(opts.settingsDir);
        const nextSpecs = selectListeners(resolveListeners(next, settingsFile), opts.listenerNames, settingsFile);
        listenerPlan = planListeners(
          listeners.map((l) => l.spec),
          nextSpecs,
          next.listeners.length === 0,
        );
        for (const [i, l] of listeners.entries()) {
          const spec = listenerPlan.effective.get(l.spec.name) as ListenerSpec;
          if (spec.scheme === 'https') tls.set(i, await reloadTlsContext(spec, next, settingsFile, log));
        }
        plan = await loader.prepareReload(next);
        // A listener's module list naming a control-plane module on a client listener.
        for (const spec of listenerPlan.effective.values()) modulesFor(spec, loader.records, settingsFile);
      } catch (err) {
        return refused(describeError(err));
      }
      if (closing) return refused('the proxy is shutting down');
      const needsRestart = [...restartOnlyChanges(global, next), ...listenerPlan.needsRestart];
      for (const key of needsRestart) log.warn(`Reload: '${key}' changed, which needs a restart; the running value is kept until then`);

      // Phase 2: new module instances next to the running ones, new applications, then the swap.
      const applied = await loader.applyReload(plan);
      const specsNow = listeners.map((l) => listenerPlan.effective.get(l.spec.name) as ListenerSpec);
      const previousGlobal = global;
      global = next;
      let built;
      try {
        built = await buildAll(specsNow);
      } catch (err) {
        global = previousGlobal;
        await applied.rollback();
        return refused(`cannot build the HTTP application: ${describeError(err)}`, needsRestart);
      }
      for (const [i, options] of tls) for (const server of listeners[i].servers) (server as HttpsServer).setSecureContext(options);
      const old = swap(specsNow, built);
      const m = applied.changes;
      const list = (names: readonly string[]): string => `[${names.join(', ')}]`;
      log.info(
        `Reloaded: ${m.recreated.length} module(s) recreated ${list(m.recreated)}, ${m.started.length} started ${list(m.started)}, ` +
          `${m.stopped.length} stopped ${list(m.stopped)}, ${m.kept.length} kept ${list(m.kept)}, ${m.failed.length} failed ${list(m.failed)}` +
          (needsRestart.length > 0 ? `; needs a restart for ${needsRestart.join(', ')}` : ''),
      );

      // The previous applications finish what they accepted; then the replaced instances close.
      await retireGenerations(old);
      const failedToStart = await applied.retire(!closing);
      if (failedToStart.length > 0) {
        // Their routes are mounted on the new applications: unmount them.
        try {
          const again = await buildAll(specsNow);
          await retireGenerations(swap(specsNow, again));
        } catch (err) {
          log.error(`Reload: cannot unmount ${list(failedToStart)}: ${describeError(err)}`);
        }
      }
      const modules = { ...m, failed: [...m.failed, ...failedToStart], recreated: m.recreated.filter((n) => !failedToStart.includes(n)) };
      return { ok: true, modules, needsRestart };
    };
    const reloads = new SerialReloads(async () => {
      try {
        return await reloadOnce();
      } catch (err) {
        // Not expected (phase 1 errors are refusals): logged, and the next reload may still run.
        log.error(`Reload failed: ${describeError(err)}`);
        return { ok: false, error: describeError(err), modules: noModuleChanges(), needsRestart: [] };
      }
    });

    const close = (graceMs = 10_000): Promise<void> =>
      (closing ??= (async () => {
        log.info('Shutting down: draining in-flight requests');
        const drainedServers = Promise.all(
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
        await Promise.race([drainedServers, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
        clearTimeout(timer);
        for (const l of listeners) for (const s of l.servers) s.closeAllConnections();
        abort.abort();
        // A reload under way finishes (its requests are gone now) before the modules close.
        await reloads.idle();
        await Promise.all([...current, ...draining].map((g) => g.app.close().catch(() => undefined)));
        await loader.close();
        log.info('Smart proxy stopped');
        await logSink.flush();
      })());
    return {
      get global() {
        return global;
      },
      records: loader.records,
      failedModules: loader.failedModules,
      listeners,
      log,
      logSink,
      metrics,
      reload: () => reloads.request(),
      close,
    };
  } catch (err) {
    abort.abort();
    await loader.close();
    await logSink.flush();
    throw err;
  }
}
