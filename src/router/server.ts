// The router's request handler for one front listener: authorization exactly as a proxy does it
// (the core's trusted_hosts and client-certificate checks, by the modules' own prefixes), the
// merged root documents, and every other path relayed to an instance running its feature.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { errors as undiciErrors } from 'undici';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { authorize, clientCertificateIdentity } from '../core/http/auth.ts';
import { errorContentType } from '../core/http/error-handler.ts';
import { errorText } from '../core/errors.ts';
import type { ListenerSpec } from '../core/settings/global.ts';
import type { Logger } from '../core/logging-types.ts';
import { guardFor, matchPath, routeFor, type RouteTable } from './routes.ts';
import type { Directory } from './directory.ts';
import type { Fleet, Instance } from './fleet.ts';
import type { RouterSettings } from './settings.ts';
import { exchange, hasBody, isConnectFailure, isConnectionLost, upstreamHeaders } from './forward.ts';

const NOT_FOUND_BODY = Buffer.from('Requested url was not found');
/**
 * Features that identify hosts by their whole certificate, verified by the feature itself against
 * its host CA (the container gateway: registry pulls with the host's entitlement certificate).
 */
const HOST_CERTIFICATE_FEATURES = new Set(['container_gateway']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** A `.` or `..` segment anywhere in a (decoded) path; backslashes count as separators too. */
const DOT_SEGMENT = /(^|[/\\])\.\.?([/\\]|$)/;

export class RouterMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'feature' | 'instance' | 'code'>;
  readonly duration: Histogram<'feature'>;
  readonly unavailable: Counter<'feature'>;
  readonly failovers: Counter<'feature'>;

  // prom-client hashes a label object on every call; the children are kept per label set instead.
  private readonly counted = new Map<string, Counter.Internal>();
  private readonly observed = new Map<string, Histogram.Internal<'feature'>>();

  count(feature: string, instance: string, status: number): void {
    const key = `${feature} ${instance} ${status}`;
    let child = this.counted.get(key);
    if (!child) {
      child = this.requests.labels({ feature, instance, code: String(status) });
      this.counted.set(key, child);
    }
    child.inc();
  }

  observe(feature: string, seconds: number): void {
    let child = this.observed.get(feature);
    if (!child) {
      child = this.duration.labels({ feature });
      this.observed.set(feature, child);
    }
    child.observe(seconds);
  }

  constructor(fleet: Fleet) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'smart_proxy_router_requests_total',
      help: 'Requests answered by the router, by feature (root: its own documents), instance (none: answered by the router) and status.',
      labelNames: ['feature', 'instance', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: 'smart_proxy_router_request_duration_seconds',
      help: 'Time from the request to the end of the relayed response, by feature.',
      labelNames: ['feature'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    this.unavailable = new Counter({
      name: 'smart_proxy_router_unavailable_total',
      help: 'Requests answered 503 because every instance of their feature was down.',
      labelNames: ['feature'],
      registers,
    });
    this.failovers = new Counter({
      name: 'smart_proxy_router_failovers_total',
      help: 'Requests retried on another instance after the first could not be reached.',
      labelNames: ['feature'],
      registers,
    });
    new Gauge({
      name: 'smart_proxy_router_instance_up',
      help: '1 when the instance answered its last health check, else 0.',
      labelNames: ['instance'],
      registers,
      collect() {
        for (const i of fleet.instances) this.set({ instance: i.name }, i.health === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'smart_proxy_router_instance_in_flight',
      help: 'Requests the router is relaying to the instance now.',
      labelNames: ['instance'],
      registers,
      collect() {
        for (const i of fleet.instances) this.set({ instance: i.name }, i.inFlight);
      },
    });
    new Counter({
      name: 'smart_proxy_router_relearns_total',
      help: 'Times an instance was (re)learned: it came up or changed what it serves.',
      registers,
      collect() {
        this.reset();
        this.inc(fleet.relearned);
      },
    });
  }
}

export interface RouterContext {
  settings: RouterSettings;
  table: RouteTable;
  directory: Directory;
  fleet: Fleet;
  metrics: RouterMetrics;
  log: Logger;
  serverHeader: string;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(message);
  res.writeHead(status, { ...headers, 'content-type': errorContentType(req.headers.accept), 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(req: IncomingMessage, res: ServerResponse, body: Buffer, serverHeader: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length, server: serverHeader });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Strip one trailing slash, as the proxy's router ignores it. */
function canonical(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

export function routerHandler(ctx: RouterContext, listener: ListenerSpec): RequestListener {
  const { settings, table, directory, fleet, metrics, log, serverHeader } = ctx;
  const global = settings.global;
  const https = listener.scheme === 'https';
  const clientOnly = listener.audience === 'client';
  const proto = listener.scheme;
  const retryAfter = String(settings.retryAfterSeconds);
  const debug = global.logLevel === 'DEBUG';

  /** The router's own answers under its own prefix: status of the fleet and its metrics. */
  async function own(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/router/metrics') {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, server: serverHeader });
      res.end(text);
      return;
    }
    if (path === '/router/status') {
      const status = fleet.instances.map((i) => ({
        instance: i.name,
        health: i.health,
        since: new Date(i.since).toISOString(),
        features: [...i.running].sort(),
        version: i.version ?? null,
        in_flight: i.inFlight,
        requests: i.requests,
        error: i.lastError ?? null,
      }));
      sendJson(req, res, Buffer.from(JSON.stringify({ instances: status })), serverHeader);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json', server: serverHeader });
    res.end(NOT_FOUND_BODY);
  }

  async function relay(req: IncomingMessage, res: ServerResponse, rawUrl: string, feature: string, rlog: Logger, requestId: string, startedAt: bigint): Promise<void> {
    const method = req.method ?? 'GET';
    const body = hasBody(req);
    const tried = new Set<Instance>();
    const headers = upstreamHeaders(req, { proto, requestId, hostCertificate: HOST_CERTIFICATE_FEATURES.has(feature) });
    let instance = directory.pick(feature, settings.balance, tried);
    for (;;) {
      if (!instance) {
        // Known but down everywhere: 503 and when to try again. Run nowhere: 404 as a proxy without it.
        const unavailable = directory.isDown(feature);
        const status = unavailable ? 503 : 404;
        if (unavailable) {
          metrics.unavailable.inc({ feature });
          send(req, res, 503, `No instance running '${feature}' is available; try again later`, { 'retry-after': retryAfter, server: serverHeader });
        } else {
          res.writeHead(404, { 'content-type': 'application/json', server: serverHeader });
          res.end(NOT_FOUND_BODY);
        }
        return done(status, 'none');
      }
      tried.add(instance);
      instance.inFlight++;
      instance.requests++;
      let result;
      try {
        result = await exchange(instance.pool, req, res, { path: rawUrl, headers, body });
      } finally {
        instance.inFlight--;
      }
      if (result.kind === 'relayed') {
        if (result.aborted && result.status === 0) {
          rlog.debug(`${method} ${rawUrl.split('?')[0]}: the client went away before ${instance.name} answered`);
          return done(499, instance.name);
        }
        if (result.aborted) rlog.warn(`${method} ${rawUrl.split('?')[0]} to ${instance.name} was cut off after status ${result.status}`);
        return done(result.status, instance.name);
      }
      const err = result.err;
      const refused = isConnectFailure(err);
      const unreachable = refused || isConnectionLost(err);
      // Refused or timed-out connects: down at once. A dropped connection may be the instance's
      // own connection limits or a restart: its health check decides.
      if (refused) fleet.connectionFailed(instance, err);
      else if (unreachable) fleet.relearn(instance);
      // Another instance only when the request surely did not half-happen: nothing was sent
      // (connect failed) or it is safe to send twice; a streamed body cannot be sent again.
      const retry = !body && !res.destroyed && (refused || (SAFE_METHODS.has(method) && unreachable));
      const next = retry ? directory.pick(feature, settings.balance, tried) : undefined;
      if (next) {
        metrics.failovers.inc({ feature });
        rlog.warn(`${method} ${rawUrl.split('?')[0]}: ${instance.name} failed (${errorText(err)}), trying ${next.name}`);
        instance = next;
        continue;
      }
      if (res.destroyed) return done(499, instance.name);
      const timeout = err instanceof undiciErrors.HeadersTimeoutError;
      const status = timeout ? 504 : 502;
      const message = timeout
        ? `Instance ${instance.name} did not answer ${method} ${rawUrl.split('?')[0]} within ${settings.responseTimeoutMs / 1000} s`
        : `Instance ${instance.name} failed on ${method} ${rawUrl.split('?')[0]}: ${errorText(err)}`;
      rlog.error(message);
      send(req, res, status, message, { server: serverHeader });
      return done(status, instance.name);
    }

    function done(status: number, instance: string): void {
      const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      metrics.count(feature, instance, status);
      metrics.observe(feature, seconds);
      // The instance logs every request at INFO under the same X-Request-Id; the router adds a
      // line of its own at INFO only for answers it had to make worse (5xx), DEBUG otherwise: a
      // second INFO line per request cost a quarter of the router's CPU time (bench/router.ts).
      if (status >= 500) rlog.warn(`Finished ${method} ${rawUrl.split('?')[0]} with ${status} via ${instance} (${(seconds * 1000).toFixed(2)} ms)`);
      else if (debug) rlog.debug(`Finished ${method} ${rawUrl.split('?')[0]} with ${status} via ${instance} (${(seconds * 1000).toFixed(2)} ms)`);
    }
  }

  return (req, res) => {
    const startedAt = process.hrtime.bigint();
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && given !== '' ? given.slice(0, 128) : randomUUID();
    const rlog = log.withRequest(requestId);
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = matchPath(q >= 0 ? rawUrl.slice(0, q) : rawUrl);
    const method = req.method ?? 'GET';

    // Authorization here is the only check that sees the caller (instances see the router's
    // certificate), so a path must mean to the instance what it means here: dot segments, which
    // some later resolution could remove to land under another prefix, are refused.
    if (DOT_SEGMENT.test(path)) {
      send(req, res, 400, `Path segments '.' and '..' are not allowed: ${path}`, { server: serverHeader });
      metrics.count('invalid', 'none', 400);
      return;
    }
    const deny = (message: string): void => {
      rlog.error(message);
      send(req, res, 403, message, { server: serverHeader });
      metrics.count('auth', 'none', 403);
    };
    const proceed = (): void => {
      const root = canonical(path);
      if (method === 'GET' || method === 'HEAD') {
        const docs = directory.documents;
        if (root === '/features') return sendJson(req, res, docs.features, serverHeader);
        if (root === '/version') return sendJson(req, res, docs.version, serverHeader);
        if (root === '/v2/features' && !clientOnly) return sendJson(req, res, docs.v2Features, serverHeader);
        if ((root === '/router/status' || root === '/router/metrics') && !clientOnly) {
          own(req, res, root).catch((err: unknown) => {
            rlog.error(`Cannot answer ${root}: ${errorText(err)}`, err);
            if (!res.headersSent) send(req, res, 500, errorText(err));
          });
          return;
        }
      }
      const route = routeFor(table, path);
      if (!route || (clientOnly && route.audience !== 'client')) {
        res.writeHead(404, { 'content-type': 'application/json', server: serverHeader });
        res.end(NOT_FOUND_BODY);
        return;
      }
      relay(req, res, rawUrl, route.feature, rlog, requestId, startedAt).catch((err: unknown) => {
        rlog.error(`Relaying ${method} ${path} failed: ${errorText(err)}`, err);
        if (!res.headersSent) send(req, res, 502, errorText(err));
        else res.destroy();
      });
    };

    // Authorization before routing, as the proxy does it (403 even for an unknown path under a
    // protected prefix). The router's own /router paths are control plane.
    const guard = path === '/router' || path.startsWith('/router/') ? { prefix: '/router', authorize: true, exempt: false } : guardFor(table, path);
    if (guard?.exempt) {
      if (guard.authorize === 'client-certificate') {
        const who = clientCertificateIdentity(req.socket, https);
        if ('denied' in who) return deny(who.denied);
      }
      return proceed();
    }
    if (!guard?.authorize) return proceed();
    const verdict = authorize({ socket: req.socket, https, subPath: path.slice(guard.prefix.length) }, global);
    if (verdict instanceof Promise) {
      verdict.then(
        (denied) => (denied === undefined ? proceed() : deny(denied)),
        (err: unknown) => deny(errorText(err)),
      );
    } else if (verdict === undefined) proceed();
    else deny(verdict);
  };
}
