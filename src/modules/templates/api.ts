// Routes of /unattended and /userdata (spec templates.md): answer templateServer locally, relay
// everything else to Foreman with the host's params, headers and address, and pass Foreman's
// answer back (200 for 200/201, its status otherwise).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorText, type ProxyError } from '../../core/errors.ts';
import { openForemanLink, type ForemanLink } from '../../core/http/foreman-link.ts';
import { abortOnClientGone, bodyBytes, keepRawFormBodies, requestParams, streamSuccess } from '../../core/http/relay.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { ParamValue, Params } from '../../core/params.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { Static } from '../../core/settings/schema.ts';
import {
  buildQuery,
  cgiEscape,
  clientAddress,
  forwardedHeaders,
  isDotSegment,
  netHttpClassName,
  rubyInspect,
  upstreamAccept,
} from '../../lib/http/forwarding.ts';
import { NO_FOREMAN_URL, TemplatesError } from './errors.ts';
import type { TEMPLATES_SETTINGS } from './module.ts';

/** Route params of the reference that never travel to Foreman. */
const NOT_RELAYED = new Set(['path', 'template', 'kind', 'hostgroup', 'splat', 'captures']);

/** What every relay of the module shares: the Foreman link and the URL Foreman embeds. */
interface Relay {
  readonly link: ForemanLink;
  readonly templateUrl: string;
}

interface RelaySpec {
  method: 'GET' | 'POST';
  /** Path segments below foreman_url, unescaped, e.g. ['unattended', 'provision']. */
  segments: string[];
  /** Error text prefix, built from the params before the POST pseudo-param is added. */
  prefix: string;
  /** userdata answers 500 for every failure, Foreman's own included. */
  userdata: boolean;
}

type Failure = 'invalid_segment' | 'invalid_param' | 'no_foreman_url' | 'unreachable';

function failure(spec: RelaySpec, code: Failure, reason: string): ProxyError {
  const message = `${spec.prefix}${reason}`;
  return spec.userdata ? TemplatesError.userdata_failed(message) : TemplatesError[code](message);
}

function foremanFailure(spec: RelaySpec, reason: string, status: number): ProxyError {
  const message = `${spec.prefix}${reason}`;
  return spec.userdata ? TemplatesError.userdata_failed(message) : TemplatesError.foreman_error(message, status);
}

function upstreamOptions(params: Params, templateUrl: string): [string, ParamValue][] {
  const out: [string, ParamValue][] = [];
  for (const [k, v] of Object.entries(params)) if (!NOT_RELAYED.has(k) && k !== 'url') out.push([k, v]);
  out.push(['url', templateUrl]);
  return out;
}

async function relay(request: FastifyRequest, reply: FastifyReply, relayTo: Relay, spec: RelaySpec, params: Params): Promise<FastifyReply> {
  const { link, templateUrl } = relayTo;
  const segment = spec.segments.find((s) => isDotSegment(s));
  if (segment !== undefined) throw failure(spec, 'invalid_segment', `'${segment}' is not a valid path segment`);

  const opts = upstreamOptions(params, templateUrl);
  const path = spec.segments.map(cgiEscape).join('/');
  let query: string;
  try {
    query = buildQuery(opts);
  } catch (err) {
    throw failure(spec, 'invalid_param', errorText(err));
  }
  if (!link.client) throw failure(spec, 'no_foreman_url', NO_FOREMAN_URL);
  const client = link.client;

  const headers = forwardedHeaders(request.headers, { drop: ['accept', 'x-forwarded-for'] });
  headers['accept'] = upstreamAccept(request.headers.accept);
  headers['x-forwarded-for'] = clientAddress(request.raw.socket.remoteAddress);
  const contentType = params['Content-Type'];
  headers['content-type'] = typeof contentType === 'string' ? contentType : 'application/json';

  const signal = abortOnClientGone(request, reply);
  const optsText = rubyInspect(Object.fromEntries(opts));
  return link.bulkhead.run(async () => {
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
      throw failure(spec, 'unreachable', errorText(err));
    }
    // resolves when the body is through: the Foreman slot is held for the real upstream work
    if (res.status === 200 || res.status === 201) return streamSuccess(reply, res);
    await res.dump();
    throw foremanFailure(
      spec,
      `Error retrieving ${path} for ${optsText} from ${link.foremanHost}: ${netHttpClassName(res.status)}: ${res.status} `,
      res.status,
    );
  });
}

/**
 * The running templates module: one Foreman link (pooled client and bulkhead) shared by
 * /unattended and /userdata on every listener, closed with the module.
 */
export async function templatesModule(settings: Static<typeof TEMPLATES_SETTINGS>, global: GlobalSettings): Promise<ModuleInstance> {
  const link = await openForemanLink('templates', settings, global);
  const relayTo: Relay = { link, templateUrl: settings.template_url };
  return {
    // The reference checks foreman_url in its legacy init hook: the failure is recorded but the
    // module stays running (and every relayed request then fails).
    ...(link.client === undefined ? { softFailure: NO_FOREMAN_URL } : {}),
    routes(app, prefix) {
      keepRawFormBodies(app);
      if (prefix === '/userdata') userdataRoutes(app, relayTo);
      else unattendedRoutes(app, relayTo);
    },
    close: () => link.close(),
  };
}

function unattendedRoutes(app: FastifyInstance, relayTo: Relay): void {
  app.get('/templateServer', async (_request, reply) => {
    // a Buffer, so that the type goes out exactly as the reference labels it (no charset added)
    const body = Buffer.from(JSON.stringify({ templateServer: relayTo.templateUrl }));
    return reply.code(200).header('content-type', 'application/json').send(body);
  });

  app.get<{ Params: { kind: string; template: string; hostgroup: string } }>('/:kind/:template/:hostgroup', async (request, reply) => {
    const { kind, template, hostgroup } = request.params;
    const params = requestParams(request);
    return relay(request, reply, relayTo, {
      method: 'GET',
      segments: ['unattended', kind, template, hostgroup],
      prefix: `Failed to retrieve ${kind} hostgroup template for ${rubyInspect(params)}: `,
      userdata: false,
    }, params);
  });

  app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    return relay(request, reply, relayTo, {
      method: 'GET',
      segments: ['unattended', kind],
      prefix: `Failed to proxy /${kind} for ${rubyInspect(params)}: `,
      userdata: false,
    }, params);
  });

  app.post<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    const prefix = `Failed to proxy /${kind} for ${rubyInspect(params)}: `;
    // the reference labels the relayed body text/plain through a pseudo-param, which therefore
    // also lands in Foreman's query string
    params['Content-Type'] = 'text/plain';
    return relay(request, reply, relayTo, { method: 'POST', segments: ['unattended', kind], prefix, userdata: false }, params);
  });
}

function userdataRoutes(app: FastifyInstance, relayTo: Relay): void {
  app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    return relay(request, reply, relayTo, {
      method: 'GET',
      segments: ['userdata', kind],
      prefix: `Failed to retrieve ${kind} userdata template for ${rubyInspect(params)}: `,
      userdata: true,
    }, params);
  });
}
