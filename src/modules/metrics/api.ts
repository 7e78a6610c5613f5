// GET /metrics (Prometheus text exposition), GET /status (HTML) and GET /status.json, with the
// module's own authorization: the peers listed in scrape_addresses / status_addresses pass; anyone
// else is checked exactly as the core checks every protected module (trusted_hosts, then the
// client certificate over HTTPS), so listing a scraper opens these read-only paths to it and
// nothing else of the proxy.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AddressList } from '../../lib/net/address-list.ts';
import type { TLSSocket } from 'node:tls';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { ModuleContext, ModuleInstance } from '../../core/module.ts';
import { authorize } from '../../core/http/auth.ts';
import { sendError } from '../../core/http/error-handler.ts';
import type { MetricsSettings } from './module.ts';
import { RequestRates, gatherStatus, renderStatusPage } from './status-page.ts';

type Hook = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void;

/** The scope's authorization: the listed peers, or trusted_hosts and the certificate as in the core. */
function accessGuard(global: GlobalSettings, prefix: string, open: AddressList): Hook {
  return (request, reply, done) => {
    const socket = request.raw.socket;
    if (open.has(socket.remoteAddress)) return done();
    const url = request.raw.url ?? '';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    const subPath = path.startsWith(prefix) ? path.slice(prefix.length) : path;
    const decide = (denied: string | undefined): void => {
      if (denied === undefined) return done();
      request.proxyLog.error(denied);
      sendError(reply, request, 403, denied);
    };
    const result = authorize({ socket, https: (socket as TLSSocket).encrypted === true, subPath, headers: request.headers }, global);
    if (result instanceof Promise) result.then(decide, done);
    else decide(result);
  };
}

/** Headers of the status answers: never cached, and the page may load nothing at all (no script). */
function statusHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'");
}

export function metricsModule(ctx: ModuleContext<MetricsSettings>): ModuleInstance {
  const metrics = ctx.proxy.metrics;
  metrics.enableProcessMetrics();
  const stopRecording = metrics.startRecordingRequests();
  const rates = new RequestRates(metrics);
  rates.start();
  const scrapers = new AddressList(ctx.settings.scrape_addresses);
  const viewers = new AddressList(ctx.settings.status_addresses);
  const { status_refresh: refresh, status_recent_errors: recentErrors } = ctx.settings;

  return {
    routes(app: FastifyInstance, prefix: string) {
      app.addHook('onRequest', accessGuard(ctx.global, prefix, prefix === '/metrics' ? scrapers : viewers));
      if (prefix === '/metrics') {
        app.get('/', async (_request, reply) => {
          const body = await metrics.registry.metrics();
          return reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store').send(body);
        });
      } else if (prefix === '/status') {
        app.get('/', async (_request, reply) => {
          const page = renderStatusPage(gatherStatus(ctx.proxy, rates, recentErrors), refresh);
          return statusHeaders(reply).type('text/html; charset=utf-8').send(page);
        });
      } else {
        app.get('/', async (_request, reply) => {
          const body = JSON.stringify(gatherStatus(ctx.proxy, rates, recentErrors));
          return statusHeaders(reply).type('application/json').send(body);
        });
      }
    },
    close() {
      rates.stop();
      stopRecording();
    },
  };
}
