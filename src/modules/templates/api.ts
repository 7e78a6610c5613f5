// Routes of /unattended and /userdata (spec templates.md): answer templateServer locally, relay
// everything else to Foreman with the host's params, headers and address, and pass Foreman's
// answer back (200 for 200/201, its status otherwise).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError, errorText } from '../../core/errors.ts';
import type { ModuleContext } from '../../core/module.ts';
import type { ParamValue, Params } from '../../core/params.ts';
import {
  buildQuery,
  cgiEscape,
  clientAddress,
  forwardedHeaders,
  isDotSegment,
  netHttpClassName,
  rubyInspect,
} from '../../lib/http/forwarding.ts';
import { upstreamAccept } from '../../lib/http/forwarding.ts';
import { abortOnClientGone, streamSuccess } from './relay.ts';
import { bodyBytes, keepRawFormBodies, requestParams } from './request-data.ts';
import { upstreamOf, type Upstream } from './upstream.ts';

/** Route params of the reference that never travel to Foreman. */
const NOT_RELAYED = new Set(['path', 'template', 'kind', 'hostgroup', 'splat', 'captures']);

interface RelaySpec {
  method: 'GET' | 'POST';
  /** Path segments below foreman_url, unescaped, e.g. ['unattended', 'provision']. */
  segments: string[];
  /** Error text prefix, built from the params before the POST pseudo-param is added. */
  prefix: string;
  /** Status for connection failures and bad params (and, when `always`, for Foreman's errors too). */
  failureStatus: number;
  /** userdata answers this status for every failure, Foreman's own included. */
  always: boolean;
}

function upstreamOptions(params: Params, templateUrl: string): [string, ParamValue][] {
  const out: [string, ParamValue][] = [];
  for (const [k, v] of Object.entries(params)) if (!NOT_RELAYED.has(k) && k !== 'url') out.push([k, v]);
  out.push(['url', templateUrl]);
  return out;
}

async function relay(request: FastifyRequest, reply: FastifyReply, up: Upstream, spec: RelaySpec, params: Params): Promise<FastifyReply> {
  const fail = (status: number, message: string): ProxyError =>
    new ProxyError(status, `${spec.prefix}${message}`, 'templates.relay');
  const segment = spec.segments.find((s) => isDotSegment(s));
  if (segment !== undefined) throw fail(spec.failureStatus, `'${segment}' is not a valid path segment`);

  const opts = upstreamOptions(params, up.templateUrl);
  const path = spec.segments.map(cgiEscape).join('/');
  let query: string;
  try {
    query = buildQuery(opts);
  } catch (err) {
    throw fail(spec.failureStatus, errorText(err));
  }
  if (!up.client) throw fail(spec.failureStatus, 'missing :foreman_url: from configuration.');
  const client = up.client;

  const headers = forwardedHeaders(request.headers, { drop: ['accept', 'x-forwarded-for'] });
  headers['accept'] = upstreamAccept(request.headers.accept);
  headers['x-forwarded-for'] = clientAddress(request.raw.socket.remoteAddress);
  const contentType = params['Content-Type'];
  headers['content-type'] = typeof contentType === 'string' ? contentType : 'application/json';

  const signal = abortOnClientGone(request, reply);
  const optsText = rubyInspect(Object.fromEntries(opts));
  return up.bulkhead.run(async () => {
    if (signal.aborted) return reply;
    let res;
    try {
      res = await client.request({
        method: spec.method,
        path: `${path}?${query}`,
        headers,
        body: spec.method === 'POST' ? bodyBytes(request) : null,
        signal,
      });
    } catch (err) {
      throw fail(spec.failureStatus, errorText(err));
    }
    // resolves when the body is through: the Foreman slot is held for the real upstream work
    if (res.status === 200 || res.status === 201) return streamSuccess(reply, res);
    await res.dump();
    throw fail(
      spec.always ? spec.failureStatus : res.status,
      `Error retrieving ${path} for ${optsText} from ${up.foremanHost}: ${netHttpClassName(res.status)}: ${res.status} `,
    );
  });
}

export function unattendedRoutes(app: FastifyInstance, ctx: ModuleContext): void {
  keepRawFormBodies(app);
  const up = upstreamOf(ctx);

  app.get('/templateServer', async (_request, reply) => {
    // a Buffer, so that the type goes out exactly as the reference labels it (no charset added)
    const body = Buffer.from(JSON.stringify({ templateServer: up.templateUrl }));
    return reply.code(200).header('content-type', 'application/json').send(body);
  });

  app.get<{ Params: { kind: string; template: string; hostgroup: string } }>('/:kind/:template/:hostgroup', async (request, reply) => {
    const { kind, template, hostgroup } = request.params;
    const params = requestParams(request);
    return relay(request, reply, up, {
      method: 'GET',
      segments: ['unattended', kind, template, hostgroup],
      prefix: `Failed to retrieve ${kind} hostgroup template for ${rubyInspect(params)}: `,
      failureStatus: 400,
      always: false,
    }, params);
  });

  app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    return relay(request, reply, up, {
      method: 'GET',
      segments: ['unattended', kind],
      prefix: `Failed to proxy /${kind} for ${rubyInspect(params)}: `,
      failureStatus: 400,
      always: false,
    }, params);
  });

  app.post<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    const prefix = `Failed to proxy /${kind} for ${rubyInspect(params)}: `;
    // the reference labels the relayed body text/plain through a pseudo-param, which therefore
    // also lands in Foreman's query string
    params['Content-Type'] = 'text/plain';
    return relay(request, reply, up, { method: 'POST', segments: ['unattended', kind], prefix, failureStatus: 400, always: false }, params);
  });
}

export function userdataRoutes(app: FastifyInstance, ctx: ModuleContext): void {
  keepRawFormBodies(app);
  const up = upstreamOf(ctx);

  app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    return relay(request, reply, up, {
      method: 'GET',
      segments: ['userdata', kind],
      prefix: `Failed to retrieve ${kind} userdata template for ${rubyInspect(params)}: `,
      failureStatus: 500,
      always: true,
    }, params);
  });
}
