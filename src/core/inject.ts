// Route tests without sockets: one module mounted on a real fastify app of the core (the same auth
// hooks, error handlers and body parsing as a listener), driven with fastify's `inject()`, with
// fake providers standing in for the backends. Used by every module's `api.test.ts`.

import { createServer } from 'node:http';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './http/app.ts';
import type { ModuleRecord } from './lifecycle.ts';
import { LogBuffer } from './log-buffer.ts';
import { ProxyMetrics } from './metrics.ts';
import { silentLogger } from './logging.ts';
import { Providers, settingsFileName, type EnabledValue, type ModuleDefinition, type ModuleInstance, type Settings } from './module.ts';
import { parseGlobalSettings } from './settings/load-global.ts';
import type { GlobalSettings } from './settings/global.ts';
import { checkDeclared, readDeclared, typed, type TObject } from './settings/schema.ts';

export interface MountOptions {
  /** The module file's settings as written in `<name>.yml` (without `enabled`). */
  settings?: Settings;
  /** settings.yml keys (no leading colons); defaults to an HTTP proxy with no trusted_hosts. */
  global?: Record<string, unknown>;
  /** Fake providers by `:use_provider:` name. */
  providers?: Record<string, unknown>;
  enabled?: EnabledValue;
  /** What `ctx.dependency(name)` returns: the exports of the modules `def` requires. */
  dependencies?: Record<string, unknown>;
}

export interface MountedModule {
  app: FastifyInstance;
  instance: ModuleInstance;
  global: GlobalSettings;
  close(): Promise<void>;
}

/**
 * Mount `def` alone on an in-memory app. Settings problems throw, as they would fail the group.
 * Given the test's context, the app and the instance are closed when the test ends.
 */
export async function mountModule<S extends TObject, P>(def: ModuleDefinition<S, P>, options: MountOptions = {}, t?: TestContext): Promise<MountedModule> {
  const global = parseGlobalSettings({ http_port: 8000, ...options.global }, '/nonexistent/settings.yml', '/nonexistent');
  const enabled = options.enabled ?? 'both';
  let settings = readDeclared(settingsFileName(def), def.settings, options.settings ?? {});
  if (def.computeSettings) settings = def.computeSettings(settings, global, enabled);
  const problem = await checkDeclared(def.name, settingsFileName(def), def.settings, settings);
  if (problem) throw new Error(problem.message);
  const logBuffer = new LogBuffer(100, 100);
  const failedModules: Record<string, string> = {};
  const metrics = new ProxyMetrics();
  const instance = await def.create(
    {
      name: def.name,
      settings: typed(def.settings, settings),
      global,
      log: silentLogger,
      signal: new AbortController().signal,
      proxy: { logBuffer, failedModules: () => failedModules, metrics, modules: () => new Map(), listeners: () => [] },
      dependency: <T>(name: string) =>
        name in (options.dependencies ?? {}) ? Promise.resolve(options.dependencies?.[name] as T) : Promise.reject(new Error(`no dependency '${name}' given to mountModule`)),
    },
    new Providers(new Map(Object.entries(options.providers ?? {})) as Map<string, P>),
  );
  const record: ModuleRecord = {
    def: def as unknown as ModuleDefinition,
    state: 'running',
    enabled,
    settings,
    providerIds: Object.keys(options.providers ?? {}),
    providerSettings: [],
    instance,
    failure: undefined,
    problem: undefined,
  };
  const app = await buildApp({
    listener: { name: 'inject', bind: ['127.0.0.1'], port: 0, scheme: 'http', audience: 'foreman', clientCert: 'request' },
    global,
    records: new Map([[def.name, record]]),
    mounted: [record],
    log: silentLogger,
    metrics,
    version: '0.0.0-test',
    providerCapabilities: () => [],
    serverFactory: (handler) => createServer(handler),
  });
  await app.ready();
  const close = async (): Promise<void> => {
    await app.close();
    await instance.close?.();
  };
  t?.after(close);
  return { app, instance, global, close };
}

/** What an injected request was answered: status, body and, when given, the exact content type. */
export function assertAnswer(
  res: { statusCode: number; body: string; headers: Record<string, unknown> },
  status: number,
  body: string | RegExp,
  contentType?: string,
): void {
  assert.equal(res.statusCode, status, `status (body: ${res.body})`);
  if (typeof body === 'string') assert.equal(res.body, body);
  else assert.match(res.body, body);
  if (contentType !== undefined) assert.equal(res.headers['content-type'], contentType);
}
