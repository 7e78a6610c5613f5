// Routes of /register (spec registration.md): relay the global (GET) and host (POST) registration
// to Foreman with a `url` telling Foreman how hosts reach this proxy, and map the answer for a
// client that pipes it into a shell (`curl … | bash`), so every failure is a shell snippet.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { ProxyError, errorText } from '../../core/errors.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { ModuleContext } from '../../core/module.ts';
import type { ParamValue } from '../../core/params.ts';
import { buildQuery, forwardedHeaders, upstreamAccept } from '../../lib/http/forwarding.ts';
import { abortOnClientGone, streamSuccess } from '../templates/relay.ts';
import { bodyBytes, keepRawFormBodies, requestParams } from '../templates/request-data.ts';
import { upstreamOf, type Upstream } from './upstream.ts';

const HTML = 'text/html;charset=utf-8';
const FORM = 'application/x-www-form-urlencoded';
export const FAILURE_SNIPPET = 'echo "Internal Server Error"\nexit 1\n';
export const BUSY_SNIPPET = 'echo "Too many hosts are registering right now, please try again later"\nexit 1\n';
/** Foreman's plain-text error explanations are short; anything longer is not relayed whole. */
const MAX_ERROR_BODY = 1024 * 1024;

function first(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const head = v?.split(',')[0]?.trim();
  return head === undefined || head === '' ? undefined : head;
}

/** The proxy's base URL as the host sees it (scheme://host[:port]), for Foreman to embed in the script. */
export function proxyBaseUrl(request: FastifyRequest): string {
  const socket = request.raw.socket as TLSSocket;
  const scheme = first(request.headers['x-forwarded-proto']) ?? (socket.encrypted ? 'https' : 'http');
  const host =
    first(request.headers['x-forwarded-host']) ??
    first(request.headers.host) ??
    `${socket.localAddress?.includes(':') ? `[${socket.localAddress}]` : socket.localAddress}:${socket.localPort}`;
  return `${scheme}://${host}`;
}

interface Outgoing {
  query: string;
  contentType: string;
  body: Buffer | null;
}

function outgoing(request: FastifyRequest, url: string): Outgoing {
  const withUrl = (): string => {
    const pairs: [string, ParamValue][] = Object.entries(requestParams(request, false)).filter(([k]) => k !== 'url');
    pairs.push(['url', url]);
    return buildQuery(pairs);
  };
  if (request.method !== 'POST') return { query: withUrl(), contentType: 'application/json', body: null };
  // Exact comparison, as the reference: with a charset parameter the form takes the JSON branch.
  if (request.headers['content-type'] === FORM) return { query: buildQuery([['url', url]]), contentType: FORM, body: bodyBytes(request) };
  return { query: withUrl(), contentType: 'application/json', body: bodyBytes(request) };
}

async function relay(request: FastifyRequest, reply: FastifyReply, up: Upstream, log: Logger): Promise<FastifyReply> {
  const url = up.registrationUrl ?? proxyBaseUrl(request);
  const out = outgoing(request, url);
  if (!up.client) throw new Error('missing :foreman_url: from configuration.');
  const client = up.client;
  const headers = forwardedHeaders(request.headers, { drop: ['accept'] });
  headers['accept'] = upstreamAccept(request.headers.accept);
  headers['content-type'] = out.contentType;
  const signal = abortOnClientGone(request, reply);
  const method = request.method === 'POST' ? 'POST' : 'GET';

  return up.bulkhead.run(async () => {
    if (signal.aborted) return reply;
    const res = await client.request({ method, path: `/register?${out.query}`, headers, body: out.body, signal });
    // resolves when Foreman's body is through: the slot is held for the real upstream work
    if (res.status >= 200 && res.status < 300) return streamSuccess(reply, res);
    const type = res.headers['content-type'];
    const typeText = Array.isArray(type) ? type.join(', ') : type;
    if (typeText === undefined) {
      await res.dump();
      throw new Error(`Foreman answered ${res.status} without a Content-Type`);
    }
    if (typeText.includes('text/plain')) {
      const text = await res.text(MAX_ERROR_BODY);
      log.error(`Foreman refused the registration with ${res.status}: ${text.trim()}`);
      return reply.code(res.status).header('content-type', HTML).send(text);
    }
    await res.dump();
    log.error(`Foreman refused the registration with ${res.status} (${typeText})`);
    return reply.code(res.status).header('content-type', HTML).send(FAILURE_SNIPPET);
  });
}

function loggerOf(request: FastifyRequest, fallback: Logger): Logger {
  return (request as FastifyRequest & { proxyLog?: Logger }).proxyLog ?? fallback;
}

export function registrationRoutes(app: FastifyInstance, ctx: ModuleContext): void {
  keepRawFormBodies(app);
  const up = upstreamOf(ctx);

  const handler = (what: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    const log = loggerOf(request, ctx.log);
    try {
      return await relay(request, reply, up, log);
    } catch (err) {
      if (err instanceof ProxyError && err.status === 503) {
        log.warn(`${what}: ${err.message}`);
        return reply.code(503).headers(err.headers).header('content-type', HTML).send(BUSY_SNIPPET);
      }
      log.error(`Error when rendering ${what}: ${errorText(err)}`, err);
      if (reply.sent) return reply;
      return reply.code(500).header('content-type', HTML).send(FAILURE_SNIPPET);
    }
  };

  app.get('/', handler('Global Registration Template'));
  app.post('/', handler('Host Registration Template'));
}
