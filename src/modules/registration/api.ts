// Routes of /register (spec registration.md): relay the global (GET) and host (POST) registration
// to Foreman with a `url` telling Foreman how hosts reach this proxy, and map the answer for a
// client that pipes it into a shell (`curl … | bash`); failures become shell snippets through the
// module's error policy (errors.ts).

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TLSSocket } from 'node:tls';
import { openForemanLink, type ForemanLink } from '../../core/http/foreman-link.ts';
import { abortOnClientGone, bodyBytes, keepRawFormBodies, requestParams, streamSuccess } from '../../core/http/relay.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { ParamValue } from '../../core/params.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { Static } from '../../core/settings/schema.ts';
import { buildQuery, forwardedHeaders, upstreamAccept } from '../../lib/http/forwarding.ts';
import { FAILURE_SNIPPET, HTML } from './errors.ts';
import type { REGISTRATION_SETTINGS } from './module.ts';

const FORM = 'application/x-www-form-urlencoded';
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

async function relay(request: FastifyRequest, reply: FastifyReply, link: ForemanLink, registrationUrl: string | undefined): Promise<FastifyReply> {
  const out = outgoing(request, registrationUrl ?? proxyBaseUrl(request));
  if (!link.client) throw new Error('missing :foreman_url: from configuration.');
  const client = link.client;
  const headers = forwardedHeaders(request.headers, { drop: ['accept'] });
  headers['accept'] = upstreamAccept(request.headers.accept);
  headers['content-type'] = out.contentType;
  const signal = abortOnClientGone(request, reply);
  const method = request.method === 'POST' ? 'POST' : 'GET';
  const log = request.proxyLog;

  return link.bulkhead.run(async () => {
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

/** The running registration module: its own Foreman link, shared by every listener, closed with it. */
export async function registrationModule(settings: Static<typeof REGISTRATION_SETTINGS>, global: GlobalSettings): Promise<ModuleInstance> {
  const link = await openForemanLink('registration', settings, global);
  // An empty registration_url is unset, as the optional_url check treats it: the host's URL is used.
  const registrationUrl = settings.registration_url === '' ? undefined : settings.registration_url;
  const handler = async (request: FastifyRequest, reply: FastifyReply) => relay(request, reply, link, registrationUrl);
  return {
    routes(app) {
      keepRawFormBodies(app);
      app.get('/', { config: { errorPrefix: 'Error when rendering Global Registration Template: ' } }, handler);
      app.post('/', { config: { errorPrefix: 'Error when rendering Host Registration Template: ' } }, handler);
    },
    close: () => link.close(),
  };
}
