// `smart-proxy router`: one front door for several proxy instances (issue 13). It learns which
// instance serves which feature from the instances themselves, answers Foreman's root calls as
// one proxy, and relays every other request to an instance running its feature.

import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { SettingsError } from '../core/errors.ts';
import { PROXY_VERSION } from '../core/version.ts';
import { discoverCatalogue } from '../core/registry.ts';
import { LogBuffer } from '../core/log-buffer.ts';
import { LogSink, createLogger } from '../core/logging.ts';
import { createListenerServer, listen, resolveListeners } from '../core/http/listeners.ts';
import { loadRouterSettings, type RouterSettings } from './settings.ts';
import { routeTable } from './routes.ts';
import { Fleet } from './fleet.ts';
import { Directory } from './directory.ts';
import { RouterMetrics, routerHandler } from './server.ts';

const HELP = `Usage: smart-proxy router [options]

Runs the router in front of several smart-proxy instances: it learns which instance runs which
feature from their own /v2/features, answers /features, /v2/features and /version as one proxy,
and relays every other request to an instance running its feature.

Settings: the front listener (ports, bind_host, TLS files, trusted_hosts, limits, log settings)
from DIR/settings.yml, the same keys as the proxy's; the router's own from
DIR/settings.d/router.yml (instances, health checks, upstream TLS, timeouts).

Options:
  --settings DIR     directory holding settings.yml (default /etc/foreman-proxy)
  --version          print the version
  -h, --help         this help
`;

export interface RunningRouter {
  settings: RouterSettings;
  fleet: Fleet;
  listeners: { name: string; addresses: { host: string; port: number }[] }[];
  close(graceMs?: number): Promise<void>;
}

/** Start the router from a settings directory; throws SettingsError on bad settings. */
export async function startRouter(settingsDir: string): Promise<RunningRouter> {
  const settings = await loadRouterSettings(settingsDir);
  const global = settings.global;
  const specs = resolveListeners(global, join(global.settingsDir, 'settings.yml'));
  const table = routeTable(await discoverCatalogue());

  const logSink = new LogSink({ logFile: global.logFile, level: global.logLevel, buffer: new LogBuffer(global.logBuffer, global.logBufferErrors) });
  const log = createLogger(logSink, 'router');
  // The fleet tells the directory of every change; the directory needs the fleet's instances.
  const events = { changed: (): void => undefined };
  const fleet = await Fleet.create(settings, log, events);
  const directory = new Directory(fleet.instances, PROXY_VERSION);
  events.changed = () => directory.rebuild();
  const metrics = new RouterMetrics(fleet);
  const ctx = { settings, table, directory, fleet, metrics, log, serverHeader: `foreman-proxy/${PROXY_VERSION}` };

  const servers: Server[] = [];
  const listeners: RunningRouter['listeners'] = [];
  try {
    // Learned before the first request is taken, so Foreman never sees a half-known fleet.
    await fleet.start();
    for (const spec of specs) {
      const handler = routerHandler(ctx, spec);
      const addresses: { host: string; port: number }[] = [];
      for (const host of spec.bind) {
        const server = createListenerServer(spec, global, handler, log);
        servers.push(server);
        try {
          await listen(server, host, spec.port);
        } catch (err) {
          throw new Error(`listener '${spec.name}': cannot listen on ${host}:${spec.port}: ${(err as Error).message}`);
        }
        const a = server.address();
        if (a && typeof a === 'object') addresses.push({ host: a.address, port: a.port });
      }
      listeners.push({ name: spec.name, addresses });
      log.info(`Listener '${spec.name}' (${spec.scheme}, audience ${spec.audience}) on ${addresses.map((a) => `${a.host}:${a.port}`).join(', ')}`);
    }
  } catch (err) {
    for (const s of servers) s.close();
    await fleet.close();
    await logSink.flush();
    throw err;
  }
  const port = (scheme: 'http' | 'https'): number | null => {
    const i = specs.findIndex((s) => s.scheme === scheme);
    return i < 0 ? null : (listeners[i].addresses[0]?.port ?? null);
  };
  directory.setPorts({ http: port('http'), https: port('https') });
  log.info(`Router serving ${settings.instances.length} instance(s): ${fleet.instances.map((i) => `${i.name} (${i.health})`).join(', ')}`);

  let closing: Promise<void> | undefined;
  const close = (graceMs = 10_000): Promise<void> =>
    (closing ??= (async () => {
      log.info('Router shutting down: draining in-flight requests');
      const drained = Promise.all(servers.map((s) => new Promise<void>((r) => {
        s.close(() => r());
        s.closeIdleConnections();
      })));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      for (const s of servers) s.closeAllConnections();
      await fleet.close();
      log.info('Router stopped');
      await logSink.flush();
    })());
  process.on('SIGUSR1', () => logSink.reopen());
  return { settings, fleet, listeners, close };
}

/** Runs the router until it is stopped; resolves to the process exit code. */
export async function runRouter(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: { settings: { type: 'string' }, version: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (err) {
    process.stderr.write(`smart-proxy router: ${(err as Error).message}\n\n${HELP}`);
    return 1;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${PROXY_VERSION}\n`);
    return 0;
  }
  let router: RunningRouter;
  try {
    router = await startRouter(resolve(values.settings ?? '/etc/foreman-proxy'));
  } catch (err) {
    process.stderr.write(`smart-proxy router: ${err instanceof SettingsError || err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  if (process.env.SMART_PROXY_PRINT_READY === '1') process.stdout.write(`${JSON.stringify({ ready: router.listeners })}\n`);
  return new Promise<number>((resolveExit) => {
    const stop = (): void => {
      void router.close().then(() => resolveExit(0));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
