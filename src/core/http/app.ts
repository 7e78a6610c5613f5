// One fastify application per listener: body parsing, the spec's error and 404 conventions,
// request logging with X-Request-Id, authorization before routing, root endpoints, and every
// module allowed on this listener mounted in its own encapsulated context.

import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactoryHandler } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { ProxyError, errorText } from '../errors.ts';
import { errorHandler, sendError } from './error-handler.ts';
import { parseRackQuery } from '../params.ts';
import type { Logger } from '../logging-types.ts';
import type { ProxyMetrics } from '../metrics.ts';
import type { GlobalSettings, ListenerSpec } from '../settings/global.ts';
import type { ModuleRecord } from '../lifecycle.ts';
import { authorize, callerCertificateIdentity } from './auth.ts';
import { featuresList, v2Features, versionInfo } from './root-routes.ts';

export interface AppOptions {
  listener: ListenerSpec;
  global: GlobalSettings;
  records: ReadonlyMap<string, ModuleRecord>;
  /** Modules to mount on this listener (already filtered by state, enabled and audience). */
  mounted: readonly ModuleRecord[];
  log: Logger;
  /** This proxy's metrics: requests by module, route pattern, method and status. */
  metrics: ProxyMetrics;
  version: string;
  /** Capabilities a provider adds to its module's (from the catalogue). */
  providerCapabilities: (id: string) => readonly string[];
  /** Creates the listener's primary server around fastify's request handler. */
  serverFactory: (handler: FastifyServerFactoryHandler) => Server;
}

const NOT_FOUND_BODY = Buffer.from('Requested url was not found');

interface Guard {
  prefix: string;
  module: string;
  /** trusted_hosts + certificate (true), nothing (false), or the caller's own certificate. */
  authorize: boolean | 'client-certificate';
  /** A path a module exempted from its own authorization (its scope's backstop must let it pass). */
  exempt?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    proxyLog: Logger;
    startedAt: bigint;
    /** Set once trusted_hosts/client-certificate checks passed for this request. */
    authorized: boolean;
    /** CN of the verified client certificate, on paths authorized by the caller's own certificate. */
    clientCertificateCn: string | undefined;
  }
}

/**
 * The path as the router sees it: percent-decoded (find-my-way decodes before matching), so that
 * `/%6cogs` is recognised as `/logs` by the prefix check.
 */
function routerPath(path: string): string {
  if (!path.includes('%')) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function guardFor(guards: readonly Guard[], path: string): Guard | undefined {
  for (const g of guards) if (path === g.prefix || path.startsWith(`${g.prefix}/`)) return g;
  return undefined;
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { listener, global, log } = opts;
  const https = listener.scheme === 'https';
  const serverHeader = `foreman-proxy/${opts.version}`;
  const clientOnly = listener.audience === 'client';
  const metrics = opts.metrics;

  const app = Fastify({
    logger: false,
    bodyLimit: global.limits.bodyLimitBytes,
    routerOptions: {
      ignoreTrailingSlash: true,
      maxParamLength: 1000,
      querystringParser: parseRackQuery,
    },
    genReqId: (req) => {
      const id = req.headers['x-request-id'];
      return typeof id === 'string' && id !== '' ? id.slice(0, 128) : randomUUID();
    },
    serverFactory: (handler) => opts.serverFactory(handler),
    return503OnClosing: true,
    // Malformed URLs and similar router-level rejections get the spec's plain-text error body.
    frameworkErrors: (err, request, reply) => {
      sendError(reply, request, (err as { statusCode?: number }).statusCode ?? 400, errorText(err));
    },
    forceCloseConnections: 'idle',
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, parseRackQuery(body as string));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // Longest prefix first so /puppet/ca is found before /puppet.
  const guards: Guard[] = opts.mounted
    .flatMap((r) => r.def.prefixes.map((prefix): Guard => ({ prefix, module: r.def.name, authorize: r.def.authorize })))
    // The reference mounts its v2 API at /v2 behind authorization: every /v2 path is protected,
    // and the untrusted-host message names the path below /v2 (`/features`).
    .concat(clientOnly ? [] : [{ prefix: '/v2', module: 'foreman_proxy', authorize: true }])
    .concat(
      opts.mounted.flatMap((r) =>
        Object.entries(r.def.pathAuthorization ?? {}).map(([prefix, mode]) => ({
          prefix,
          module: r.def.name,
          authorize: mode === 'none' ? false : ('client-certificate' as const),
          exempt: true,
        })),
      ),
    )
    .sort((a, b) => b.prefix.length - a.prefix.length);

  app.decorateRequest('proxyLog', null as unknown as Logger);
  app.decorateRequest('startedAt', 0n);
  app.decorateRequest('authorized', false);
  app.decorateRequest('clientCertificateCn', undefined);

  const debug = global.logLevel === 'DEBUG';

  /** Authorize the request; on success mark it so the per-module backstop does not repeat it. */
  const runAuth = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void, subPath: string): void => {
    const deny = (denied: string | undefined): void => {
      if (denied === undefined) {
        request.authorized = true;
        return done();
      }
      request.proxyLog.error(denied);
      sendError(reply, request, 403, denied);
    };
    const result = authorize({ socket: request.raw.socket, https, subPath, headers: request.headers }, global);
    if (result instanceof Promise) result.then(deny, done);
    else deny(result);
  };

  // Callback-style hooks with a synchronous fast path: they run on every request.
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAt = process.hrtime.bigint();
    request.proxyLog = log.withRequest(String(request.id));
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    // The reference logs this line at INFO too; here it is DEBUG because the `Finished` line
    // carries the same method and path, and a second INFO line per request halved throughput.
    if (debug) request.proxyLog.debug(`Started ${request.method} ${path} ${q >= 0 ? url.slice(q + 1) : ''}`);
    reply.header('server', serverHeader);
    // Before routing (the reference answers 403 even for unknown paths under a protected prefix).
    const routed = routerPath(path);
    const guard = guardFor(guards, routed);
    if (guard?.exempt) {
      if (guard.authorize === 'client-certificate') {
        const who = callerCertificateIdentity(request.raw, https, global);
        if ('denied' in who) {
          request.proxyLog.error(who.denied);
          return sendError(reply, request, 403, who.denied);
        }
        request.clientCertificateCn = who.cn;
      }
      request.authorized = true;
      return done();
    }
    if (!guard?.authorize) return done();
    runAuth(request, reply, done, routed.slice(guard.prefix.length));
  });

  // Backstop inside every protected scope: whatever spelling of a path reached a protected route,
  // it is authorized before the handler runs.
  const backstop = (prefix: string) => (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
    if (request.authorized) return done();
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const routed = routerPath(q >= 0 ? url.slice(0, q) : url);
    runAuth(request, reply, done, routed.startsWith(prefix) ? routed.slice(prefix.length) : routed);
  };

  app.addHook('onResponse', (request, reply, done) => {
    const ms = Number(process.hrtime.bigint() - request.startedAt) / 1e6;
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    request.proxyLog.info(`Finished ${request.method} ${q >= 0 ? url.slice(0, q) : url} with ${reply.statusCode} (${ms.toFixed(2)} ms)`);
    // By route pattern, never the raw URL (bounded label values); off unless the metrics module runs.
    if (metrics.recordingRequests) metrics.recordRequest(request.routeOptions.url, request.method, reply.statusCode, ms / 1000);
    done();
  });

  app.setErrorHandler(errorHandler(log));

  app.setNotFoundHandler((_request, reply) => {
    reply.code(404).header('content-type', 'application/json').send(NOT_FOUND_BODY);
  });

  const rootDeps = { records: opts.records, version: opts.version, providerCapabilities: opts.providerCapabilities };
  app.get('/features', async (_req, reply) => {
    try {
      return reply.type('application/json').send(Buffer.from(JSON.stringify(featuresList(rootDeps))));
    } catch (err) {
      throw new ProxyError(400, errorText(err));
    }
  });
  app.get('/version', async (_req, reply) => {
    try {
      return reply.type('application/json').send(Buffer.from(JSON.stringify(versionInfo(rootDeps))));
    } catch (err) {
      throw new ProxyError(400, errorText(err));
    }
  });
  if (!clientOnly) {
    // Module states are fixed after start-up; only dynamic capabilities (installed tools) can
    // change, so the body is rebuilt at most every few seconds.
    let cached: { body: Buffer; at: number } | undefined;
    app.get('/v2/features', { onRequest: backstop('/v2') }, async (_req, reply) => {
      try {
        const now = Date.now();
        if (!cached || now - cached.at > 5000) cached = { body: Buffer.from(JSON.stringify(await v2Features(rootDeps))), at: now };
        return reply.type('application/json').send(cached.body);
      } catch (err) {
        throw new ProxyError(500, errorText(err));
      }
    });
  }

  for (const record of opts.mounted) {
    const instance = record.instance;
    if (!instance) continue;
    for (const prefix of record.def.prefixes) {
      await app.register(
        async (scope) => {
          if (record.def.authorize) scope.addHook('onRequest', backstop(prefix));
          // The `module` label of the request metrics, found by route pattern when a request ends.
          scope.addHook('onRoute', (route) => metrics.setRouteModule(route.url, record.def.name));
          scope.setErrorHandler(errorHandler(log, record.def.errors));
          await instance.routes(scope, prefix);
        },
        { prefix },
      );
    }
  }
  return app;
}
