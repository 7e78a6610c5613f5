// The running capsule front end: one connection pool and one bulkhead per upstream group (Katello
// for subscription-manager, Katello for Insights, Pulp's content app), and the routes of every
// prefix of the URL map. Relaying is undici's: the host's body streams to the upstream and the
// upstream's body streams back through fastify, both with backpressure, so a 1 GiB ISO never sits
// in memory; the bulkhead slot is held until the body is through, so the caps are real.

import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { readFile } from 'node:fs/promises';
import { Agent, type Dispatcher } from 'undici';
import { Bulkhead } from '../../core/bulkhead.ts';
import { abortOnClientGone } from '../../core/http/relay.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { Static } from '../../core/settings/schema.ts';
import { describeFailure } from '../../lib/http/client.ts';
import { foremanTlsFiles } from '../../lib/http/foreman.ts';
import { clientAddress } from '../../lib/http/forwarding.ts';
import { CapsuleError } from './errors.ts';
import { downstreamResponseHeaders, NO_CERTIFICATE, upstreamRequestHeaders, verifiedClientCertificate } from './headers.ts';
import type { CAPSULE_SETTINGS } from './module.ts';
import { pubHandler } from './pub.ts';
import {
  CONTENT_ROUTES,
  KATELLO_ROUTES,
  PUB_PREFIX,
  contentTarget,
  hasDotSegment,
  katelloTarget,
  parseContentOrigin,
  splitTarget,
  type ContentRoute,
  type KatelloGroup,
  type KatelloRoute,
} from './routes.ts';

type CapsuleSettings = Static<typeof CAPSULE_SETTINGS>;

const METHODS: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const CONNECT_TIMEOUT_MS = 10_000;
/** Idle upstream sockets are closed before the usual server keep-alive timeouts (5 s and more). */
const KEEP_ALIVE_MS = 4_000;
/** Added to a route's longest wait for the host's socket idle timeout, so ours fires first. */
const SOCKET_MARGIN_MS = 30_000;

/** One upstream of a route group: where it is, its pool, its cap and its waits. */
export interface UpstreamGroup {
  readonly name: string;
  readonly dispatcher: Dispatcher;
  /** `http://host:port`, or `http://localhost` on a unix socket. */
  readonly origin: string;
  /** Path of the upstream's base URL, put before relayed paths (Katello), '' otherwise. */
  readonly basePath: string;
  readonly bulkhead: Bulkhead;
  /** Longest wait for the answer's headers, counted from the request's arrival (Katello), or from the slot (content). */
  readonly headersTimeoutMs: number;
  readonly fromArrival: boolean;
  /** Longest silence while the answer's body streams. */
  readonly bodyTimeoutMs: number;
  /** Longest possible wait for a slot. */
  readonly queueTimeoutMs: number;
}

/** Test seam: dispatchers to use instead of real connection pools (undici's MockAgent). */
export interface CapsuleDispatchers {
  katello?: Dispatcher;
  content?: Dispatcher;
}

async function readTls(path: string, setting: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`cannot read ${setting} '${path}' for connections to Katello: ${(err as Error).message}`, { cause: err });
  }
}

/** TLS towards Katello: capsule.yml's katello_ssl_*, else the proxy's Foreman client files (spec README §5.4). */
async function katelloTls(s: CapsuleSettings, global: GlobalSettings, katelloUrl: string) {
  if (!katelloUrl.toLowerCase().startsWith('https:')) return {};
  const fallback = foremanTlsFiles({ ...global, foremanUrl: katelloUrl });
  const ca = s.katello_ssl_ca ? { path: s.katello_ssl_ca, setting: 'katello_ssl_ca' } : fallback.caFile;
  const pair =
    s.katello_ssl_cert && s.katello_ssl_key
      ? { cert: { path: s.katello_ssl_cert, setting: 'katello_ssl_cert' }, key: { path: s.katello_ssl_key, setting: 'katello_ssl_key' } }
      : fallback.certFile && fallback.keyFile
        ? { cert: fallback.certFile, key: fallback.keyFile }
        : undefined;
  return {
    // as towards Foreman: no CA configured means no verification
    rejectUnauthorized: ca !== undefined,
    ...(ca ? { ca: await readTls(ca.path, ca.setting) } : {}),
    ...(pair ? { cert: await readTls(pair.cert.path, pair.cert.setting), key: await readTls(pair.key.path, pair.key.setting) } : {}),
  };
}

function katelloGroup(name: KatelloGroup, s: CapsuleSettings, katelloUrl: URL, dispatcher: Dispatcher): UpstreamGroup {
  const timeoutMs = Math.round((name === 'rhsm' ? s.rhsm_timeout : s.insights_timeout) * 1000);
  return {
    name: `capsule ${name}`,
    dispatcher,
    origin: katelloUrl.origin,
    basePath: katelloUrl.pathname,
    bulkhead: new Bulkhead({
      name: `capsule ${name}`,
      limit: name === 'rhsm' ? s.rhsm_concurrency : s.insights_concurrency,
      queue: name === 'rhsm' ? s.rhsm_queue : s.insights_queue,
      // the wait for a slot counts against the route's timeout
      queueTimeoutMs: timeoutMs,
    }),
    headersTimeoutMs: timeoutMs,
    fromArrival: true,
    bodyTimeoutMs: timeoutMs,
    queueTimeoutMs: timeoutMs,
  };
}

function elapsedMs(request: FastifyRequest): number {
  return Number(process.hrtime.bigint() - request.startedAt) / 1e6;
}

function hasBody(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Relay the request to `group`'s upstream at `path` and stream the answer back. Resolves when the
 * answer's body is through (or broke off), so the caller's slot is held for the real work.
 */
async function relay(request: FastifyRequest, reply: FastifyReply, group: UpstreamGroup, path: string, headers: Record<string, string>): Promise<FastifyReply> {
  // The listener's idle timeout on the host's socket (120 s by default) must not cut a wait the
  // route allows (subscription-manager waits 180 s for Katello).
  const socket = request.raw.socket;
  const longest = (group.fromArrival ? group.headersTimeoutMs : group.queueTimeoutMs + group.headersTimeoutMs) + SOCKET_MARGIN_MS;
  if (socket.timeout !== undefined && socket.timeout > 0 && socket.timeout < longest) socket.setTimeout(longest);

  const signal = abortOnClientGone(request, reply);
  const url = new URL(path, group.origin);
  return group.bulkhead.run(async () => {
    if (signal.aborted) return reply;
    const headersTimeout = group.fromArrival ? group.headersTimeoutMs - elapsedMs(request) : group.headersTimeoutMs;
    if (headersTimeout <= 0) throw CapsuleError.timeout(`No free slot for ${group.name} within ${group.headersTimeoutMs} ms`);
    let started = false;
    try {
      // undici writes the upstream's body straight into the host's socket, pausing the upstream
      // while the host's socket is full: no intermediate stream, no buffering beyond the sockets'.
      await group.dispatcher.stream(
        {
          origin: group.origin,
          path,
          method: request.method as Dispatcher.HttpMethod,
          headers,
          body: hasBody(request) ? request.raw : null,
          signal,
          headersTimeout: Math.ceil(headersTimeout),
          bodyTimeout: group.bodyTimeoutMs,
        },
        ({ statusCode, headers: upstreamHeaders }) => {
          started = true;
          reply.hijack();
          const ours = reply.getHeaders() as Record<string, string | string[]>;
          reply.raw.writeHead(statusCode, { ...ours, ...downstreamResponseHeaders(upstreamHeaders) });
          return reply.raw;
        },
      );
    } catch (err) {
      // Once the answer has started, a failure can only cut the connection (undici destroyed it).
      if (started) {
        // a host that hangs up mid-download (dnf cancelling, a Range probe) is no upstream fault
        if (signal.aborted) request.proxyLog.debug(`${group.name}: the host went away during the answer from ${url.href}`);
        else request.proxyLog.warn(`${group.name}: the answer from ${url.href} broke off: ${(err as Error).message}`);
        return reply;
      }
      throw describeFailure(err, url, { idleMs: Math.ceil(headersTimeout), connectMs: CONNECT_TIMEOUT_MS });
    }
    return reply;
  });
}

export async function capsuleModule(s: CapsuleSettings, global: GlobalSettings, log: Logger, dispatchers: CapsuleDispatchers = {}): Promise<ModuleInstance> {
  const katelloUrlText = s.katello_url || global.foremanUrl;
  if (!katelloUrlText) throw new Error('capsule: set katello_url in capsule.yml or foreman_url in settings.yml (where /rhsm is relayed)');
  const katelloUrl = new URL(katelloUrlText);
  const content = parseContentOrigin(s.pulp_content_url);
  if (typeof content === 'string') throw new Error(`capsule.yml: pulp_content_url ${content}`);

  const owned: Dispatcher[] = [];
  const katelloDispatcher = async (connections: number): Promise<Dispatcher> => {
    if (dispatchers.katello) return dispatchers.katello;
    const agent = new Agent({
      connections,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connect: { timeout: CONNECT_TIMEOUT_MS, ...(await katelloTls(s, global, katelloUrlText)) },
    });
    owned.push(agent);
    return agent;
  };
  const groups: Record<KatelloGroup, UpstreamGroup> = {
    rhsm: katelloGroup('rhsm', s, katelloUrl, await katelloDispatcher(s.rhsm_concurrency)),
    insights: katelloGroup('insights', s, katelloUrl, await katelloDispatcher(s.insights_concurrency)),
  };

  let contentDispatcher = dispatchers.content;
  if (!contentDispatcher) {
    const contentCa = global.foremanSslCa ?? global.sslCaFile;
    const agent = new Agent({
      connections: s.content_concurrency,
      keepAliveTimeout: KEEP_ALIVE_MS,
      connect:
        content.kind === 'unix'
          ? { socketPath: content.socketPath, timeout: CONNECT_TIMEOUT_MS }
          : { timeout: CONNECT_TIMEOUT_MS, ...(content.https && contentCa ? { ca: await readTls(contentCa, 'the content app CA') } : {}) },
    });
    owned.push(agent);
    contentDispatcher = agent;
  }
  const contentTimeoutMs = Math.round(s.content_timeout * 1000);
  const contentGroup: UpstreamGroup = {
    name: 'capsule content',
    dispatcher: contentDispatcher,
    origin: content.kind === 'unix' ? 'http://localhost' : content.origin,
    basePath: '',
    bulkhead: new Bulkhead({
      name: 'capsule content',
      limit: s.content_concurrency,
      queue: s.content_queue,
      queueTimeoutMs: Math.round(s.content_queue_timeout * 1000),
    }),
    headersTimeoutMs: contentTimeoutMs,
    fromArrival: false,
    bodyTimeoutMs: contentTimeoutMs,
    queueTimeoutMs: Math.round(s.content_queue_timeout * 1000),
  };

  const trusted = new Set((s.trusted_frontends ?? []).map((a) => clientAddress(a)));
  const contentLabel = content.kind === 'unix' ? `unix:${content.socketPath}` : content.origin;
  log.debug(`capsule: Katello at ${katelloUrl.origin}, content app at ${contentLabel}, /pub from ${s.pub_dir}`);

  /** The relay's own headers: forwarding facts, then the host's identity. */
  const forwarding = (request: FastifyRequest): { peer: string; fromTrustedFrontend: boolean; set: Record<string, string> } => {
    const peer = clientAddress(request.raw.socket.remoteAddress);
    const encrypted = (request.raw.socket as { encrypted?: boolean }).encrypted === true;
    const host = request.headers.host;
    return {
      peer,
      fromTrustedFrontend: trusted.has(peer),
      set: { 'x-forwarded-proto': encrypted ? 'https' : 'http', ...(host ? { 'x-forwarded-host': host } : {}) },
    };
  };

  const checkPath = (request: FastifyRequest): string => {
    const raw = request.raw.url ?? '/';
    if (hasDotSegment(splitTarget(raw).path)) throw CapsuleError.bad_path(`Invalid path: dot segments are not relayed`);
    return raw;
  };

  const katelloHandler = (route: KatelloRoute) => async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = checkPath(request);
    const f = forwarding(request);
    // Always set, as Apache does: without it Katello would take the proxy's own certificate (its
    // TLS peer) for the host's. A trusted front end's value passes as it verified it.
    const passed = f.fromTrustedFrontend ? request.headers['x-rhsm-ssl-client-cert'] : undefined;
    const identity = typeof passed === 'string' && passed !== '' ? passed : (verifiedClientCertificate(request.raw.socket)?.apacheForm ?? NO_CERTIFICATE);
    f.set['x-rhsm-ssl-client-cert'] = identity;
    const headers = upstreamRequestHeaders(request.headers, f);
    return relay(request, reply, groups[route.group], katelloTarget(groups[route.group].basePath, raw), headers);
  };

  const contentHandler = (route: ContentRoute) => async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = checkPath(request);
    const f = forwarding(request);
    if (route.clientCert && !f.fromTrustedFrontend) {
      const cert = verifiedClientCertificate(request.raw.socket);
      if (cert) f.set['x-client-cert'] = cert.urlEncoded;
    }
    const headers = upstreamRequestHeaders(request.headers, f);
    if (!route.clientCert) delete headers['x-client-cert'];
    return relay(request, reply, contentGroup, contentTarget(route, raw), headers);
  };

  const pub = pubHandler(s.pub_dir);

  return {
    routes(app: FastifyInstance, prefix: string) {
      // Bodies are relayed as streams, never parsed or buffered (and not limited here: Katello
      // and Pulp apply their own limits).
      app.removeAllContentTypeParsers();
      app.addContentTypeParser('*', (_request, _payload, done) => done(null));
      const katello = KATELLO_ROUTES.find((r) => r.prefix === prefix);
      const contentRoute = CONTENT_ROUTES.find((r) => r.prefix === prefix);
      let handler: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
      if (katello) handler = katelloHandler(katello);
      else if (contentRoute) handler = contentHandler(contentRoute);
      else if (prefix === PUB_PREFIX) handler = pub;
      else throw new Error(`capsule: no route for prefix ${prefix}`);
      for (const url of ['/', '/*']) {
        app.route({ method: METHODS, url, exposeHeadRoute: false, config: { capsuleErrorBody: katello ? 'json' : 'text' }, handler });
      }
    },
    close: async () => {
      await Promise.all(owned.map((d) => d.close()));
    },
  };
}
