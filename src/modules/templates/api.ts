// Routes of /unattended and /userdata (spec templates.md): answer templateServer locally, relay
// everything else to Foreman with the host's params, headers and address, and pass Foreman's
// answer back (200 for 200/201, its status otherwise).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorText, ProxyError } from '../../core/errors.ts';
import { openForemanLink, type ForemanLink } from '../../core/http/foreman-link.ts';
import { abortOnClientGone, bodyBytes, keepRawFormBodies, requestParams, sendBody, streamBody, streamSuccess } from '../../core/http/relay.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { CoalescerStats } from '../../lib/http/coalesce.ts';
import { clientWantsFresh, sharingKey } from '../../lib/http/coalesce-policy.ts';
import type { ParamValue, Params } from '../../core/params.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import type { Static } from '../../core/settings/schema.ts';
import {
  buildQuery,
  cgiEscape,
  TrustedProxies,
  forwardedHeaders,
  isDotSegment,
  netHttpClassName,
  rubyInspect,
  upstreamAccept,
} from '../../lib/http/forwarding.ts';
import { NO_FOREMAN_URL, TemplatesError } from './errors.ts';
import type { TEMPLATES_SETTINGS } from './module.ts';
import { SharedRelay, type SharedAnswer } from './shared-relay.ts';
import { classify, parseShareRules, type ShareRule } from './sharing.ts';

/** Route params of the reference that never travel to Foreman. */
const NOT_RELAYED = new Set(['path', 'template', 'kind', 'hostgroup', 'splat', 'captures']);

/** What every relay of the module shares: the Foreman link and the URL Foreman embeds. */
interface Relay {
  readonly link: ForemanLink;
  readonly templateUrl: string;
  /** Requests that may share one Foreman answer (sharing.ts); undefined without foreman_url. */
  readonly sharing: Sharing | undefined;
  /** Front ends (settings.yml trusted_proxies) behind which the host's address is in X-Forwarded-For. */
  readonly proxies: TrustedProxies;
}

interface Sharing {
  readonly rules: readonly ShareRule[];
  readonly acrossHosts: boolean;
  readonly relay: SharedRelay;
}

/** What the templates module offers other parts of the proxy (metrics). */
export interface TemplatesExports {
  /** Requests relayed to Foreman, joined to another's relay, or answered from the cache, for shareable requests. */
  sharedStats(): CoalescerStats;
}

interface RelaySpec {
  method: 'GET' | 'POST';
  /** Which route: /unattended/<kind> or the hostgroup one (sharing rules tell them apart). */
  route: 'kind' | 'hostgroup';
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
  // Foreman picks the host by this address when the request names none.
  headers['x-forwarded-for'] = relayTo.proxies.clientOf(request.raw.socket.remoteAddress, request.headers['x-forwarded-for']);
  const contentType = params['Content-Type'];
  headers['content-type'] = typeof contentType === 'string' ? contentType : 'application/json';

  const signal = abortOnClientGone(request, reply);
  const optsText = rubyInspect(Object.fromEntries(opts));
  const retrieving = (status: number): ProxyError =>
    foremanFailure(spec, `Error retrieving ${path} for ${optsText} from ${link.foremanHost}: ${netHttpClassName(status)}: ${status} `, status);

  const sharing = relayTo.sharing;
  if (sharing !== undefined && !spec.userdata) {
    const verdict = classify(
      {
        route: spec.route,
        method: spec.method,
        segments: spec.segments.slice(1),
        // what Foreman receives: a bare key (null value) is not relayed
        paramNames: opts.filter(([k, v]) => k !== 'url' && v !== null).map(([k]) => k),
        headers: request.headers,
      },
      sharing.rules,
      sharing.acrossHosts,
    );
    if (verdict.shared) {
      // Shared between hosts: the answer must not be chosen by one of them, so no address goes up.
      const sharedHeaders = { ...headers };
      if (!verdict.byAddress) delete sharedHeaders['x-forwarded-for'];
      const address = verdict.byAddress ? { address: headers['x-forwarded-for'] } : {};
      const key = sharingKey({ method: 'GET', path, query, headers: sharedHeaders, ...address });
      let answer: SharedAnswer;
      try {
        const bypassCache = clientWantsFresh(request.headers);
        answer = await sharing.relay.get({ key, path: `${path}?${query}`, headers: sharedHeaders, signal, bypassCache });
      } catch (err) {
        if (signal.aborted) return reply;
        if (err instanceof ProxyError) throw err;
        throw failure(spec, 'unreachable', errorText(err));
      }
      if (answer.kind === 'held') {
        if (answer.status !== 200 && answer.status !== 201) throw retrieving(answer.status);
        return sendBody(reply, answer.body, answer.contentEncoding);
      }
      const stream = answer.take();
      if (stream !== undefined) return streamBody(reply, stream, answer.headers);
      // someone else streams that large answer; this host gets its own relay below
    }
  }

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
    throw retrieving(res.status);
  });
}

/**
 * The running templates module: one Foreman link (pooled client and bulkhead) shared by
 * /unattended and /userdata on every listener, closed with the module.
 */
export async function templatesModule(settings: Static<typeof TEMPLATES_SETTINGS>, global: GlobalSettings): Promise<ModuleInstance> {
  const link = await openForemanLink('templates', settings, global);
  const rules = parseShareRules(settings.shared_requests);
  const sharing: Sharing | undefined =
    link.client === undefined || rules.length === 0
      ? undefined
      : {
          rules,
          acrossHosts: settings.shared_across_hosts,
          relay: new SharedRelay({
            link,
            client: link.client,
            bodyLimit: settings.shared_body_limit,
            maxTtlMs: Math.round(settings.shared_cache_ttl * 1000),
            maxEntries: settings.shared_cache_entries,
          }),
        };
  const relayTo: Relay = { link, templateUrl: settings.template_url, sharing, proxies: new TrustedProxies(global.trustedProxies) };
  const noStats: CoalescerStats = { upstream: 0, coalesced: 0, cacheHits: 0, cached: 0, inFlight: 0 };
  const exports: TemplatesExports = { sharedStats: () => sharing?.relay.stats() ?? noStats };
  return {
    // The reference checks foreman_url in its legacy init hook: the failure is recorded but the
    // module stays running (and every relayed request then fails).
    ...(link.client === undefined ? { softFailure: NO_FOREMAN_URL } : {}),
    routes(app, prefix) {
      keepRawFormBodies(app);
      if (prefix === '/userdata') userdataRoutes(app, relayTo);
      else unattendedRoutes(app, relayTo);
    },
    exports,
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
      route: 'hostgroup',
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
      route: 'kind',
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
    return relay(request, reply, relayTo, { method: 'POST', route: 'kind', segments: ['unattended', kind], prefix, userdata: false }, params);
  });
}

function userdataRoutes(app: FastifyInstance, relayTo: Relay): void {
  app.get<{ Params: { kind: string } }>('/:kind', async (request, reply) => {
    const { kind } = request.params;
    const params = requestParams(request);
    return relay(request, reply, relayTo, {
      method: 'GET',
      route: 'kind',
      segments: ['userdata', kind],
      prefix: `Failed to retrieve ${kind} userdata template for ${rubyInspect(params)}: `,
      userdata: true,
    }, params);
  });
}
