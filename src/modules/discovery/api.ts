// Routes of /discovery (spec plugins.md §1.2). Inbound: the image's fact upload, checked to be a
// facts document and relayed byte for byte to Foreman's discovered_hosts/facts through the
// module's Foreman link (pooled client, deadline, bulkhead). Outbound: Foreman's calls to a
// discovered node, relayed to `<node_scheme>://<ip>:<node_port>` only when `:ip` is an IP literal
// (node-address.ts), with the TLS policy of the settings, a deadline and a bulkhead of their own.

import { STATUS_CODES } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { openForemanLink } from '../../core/http/foreman-link.ts';
import { abortOnClientGone, bodyBytes, keepRawFormBodies } from '../../core/http/relay.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { GlobalSettings } from '../../core/settings/global.ts';
import { createHttpClient, type HttpClient, type HttpMethod } from '../../lib/http/client.ts';
import { DiscoveryError, NO_FOREMAN_URL } from './errors.ts';
import type { DiscoverySettings } from './module.ts';
import { networkList, parseNodeAddress, type NodeAddress } from './node-address.ts';

export const FACTS_PATH = '/api/v2/discovered_hosts/facts';
const JSON_TYPE = 'application/json';
/** A facts hash is tens of kilobytes; anything far beyond that is not a node's answer. */
const MAX_NODE_BODY = 16 * 1024 * 1024;
/** Foreman's error explanations are short. */
const MAX_FOREMAN_ERROR_BODY = 1024 * 1024;

/** One call through a transport: the answer's status and body, read whole. */
export interface RelayRequest {
  readonly method: HttpMethod;
  /** Absolute URL (nodes) or an origin-relative path (Foreman). */
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer | string;
  readonly signal?: AbortSignal;
}

export interface RelayAnswer {
  readonly status: number;
  readonly body: string;
}

/** How the module reaches nodes and Foreman; tests hand in fakes (api.test.ts). */
export type Transport = (request: RelayRequest) => Promise<RelayAnswer>;

export interface DiscoveryTransports {
  readonly node?: Transport;
  readonly foreman?: Transport;
}

function clientTransport(client: HttpClient, limit: number): Transport {
  return async (r) => {
    const res = await client.request({ method: r.method, path: r.url, headers: r.headers, body: r.body ?? null, ...(r.signal ? { signal: r.signal } : {}) });
    return { status: res.status, body: await res.text(limit) };
  };
}

/** The reference's message for a node's HTTP error, without its stray closing parenthesis. */
export function nodeErrorMessage(status: number, body: string): string {
  return `Proxy error HTTP ${status} (${STATUS_CODES[status] ?? 'Unknown'}): ${body}`;
}

/** Foreman's reason for refusing an upload: `message`, or `error.message`, else N/A. */
function foremanReason(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } };
    const message = parsed.message ?? parsed.error?.message;
    return typeof message === 'string' && message !== '' ? message : 'N/A';
  } catch {
    return 'N/A';
  }
}

/** The upload must be a facts document: a JSON object whose `facts` is an object. */
function checkFacts(body: Buffer): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw DiscoveryError.invalid_facts(`Invalid discovery upload: the body is not JSON (${(err as Error).message})`);
  }
  const facts = (parsed as { facts?: unknown } | null)?.facts;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof facts !== 'object' || facts === null || Array.isArray(facts)) {
    throw DiscoveryError.invalid_facts("Invalid discovery upload: the body must be a JSON object with a 'facts' object");
  }
}

interface NodeCall {
  readonly method: HttpMethod;
  /** Node path, given the parsed address (the legacy reboot names it in the path). */
  path(node: NodeAddress): string;
  /** Legacy reboot: plain HTTP whatever node_scheme says. */
  readonly scheme?: 'http';
  body(request: FastifyRequest): { body: Buffer | string; contentType: string } | undefined;
}

const NODE_CALLS: Record<string, NodeCall> = {
  'GET /:ip/inventory/facter': { method: 'GET', path: () => '/inventory/facter', body: () => undefined },
  'GET /:ip/facts': { method: 'GET', path: () => '/facts', body: () => undefined },
  // The image reads no body; the reference sent an empty form.
  'PUT /:ip/power/reboot': { method: 'PUT', path: () => '/power/reboot', body: () => ({ body: '', contentType: 'application/x-www-form-urlencoded' }) },
  // Foreman's rendered kexec template, copied verbatim.
  'PUT /:ip/power/kexec': {
    method: 'PUT',
    path: () => '/power/kexec',
    body: (request) => {
      const type = request.headers['content-type'];
      return { body: bodyBytes(request), contentType: typeof type === 'string' && type !== '' ? type : JSON_TYPE };
    },
  },
  'PUT /:ip/reboot': {
    method: 'PUT',
    scheme: 'http',
    path: (node) => `/bmc/${encodeURIComponent(node.ip)}/chassis/power/cycle`,
    body: () => ({ body: '', contentType: 'application/x-www-form-urlencoded' }),
  },
};

/** The running discovery module: its Foreman link, its node client and their bulkheads. */
export async function discoveryModule(s: DiscoverySettings, global: GlobalSettings, log: Logger, transports: DiscoveryTransports = {}): Promise<ModuleInstance> {
  const allowed = networkList(s.node_networks);
  const link = await openForemanLink('discovery', s, global);
  if (!link.client && !transports.foreman) log.warn(`fact uploads will fail: ${NO_FOREMAN_URL}`);
  const foreman: Transport | undefined = transports.foreman ?? (link.client ? clientTransport(link.client, MAX_FOREMAN_ERROR_BODY) : undefined);

  let nodeClient: HttpClient | undefined;
  let node = transports.node;
  if (!node) {
    const ca = s.node_verify_tls && s.node_ssl_ca !== undefined && s.node_ssl_ca !== '' ? await readFile(s.node_ssl_ca) : undefined;
    nodeClient = createHttpClient({
      verify: s.node_verify_tls,
      ...(ca ? { ca } : {}),
      timeoutMs: Math.round(s.node_timeout * 1000),
      connections: 4,
      // A node is called a few times in its life and reboots right after: keep nothing around.
      keepAliveTimeoutMs: 1000,
      maxCachedSessions: 0,
    });
    node = clientTransport(nodeClient, MAX_NODE_BODY);
  }
  const nodeTransport = node;
  const nodeBulkhead = new Bulkhead({ name: 'discovery nodes', limit: s.node_concurrency, queue: s.node_queue, queueTimeoutMs: Math.round(s.node_timeout * 1000) });

  const upload = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const body = bodyBytes(request);
    checkFacts(body);
    if (!foreman) throw DiscoveryError.no_foreman_url(NO_FOREMAN_URL);
    const signal = abortOnClientGone(request, reply);
    const answer = await link.bulkhead.run(() =>
      foreman({ method: 'POST', url: FACTS_PATH, headers: { accept: 'application/json,version=2', 'content-type': JSON_TYPE }, body, signal }),
    );
    if (answer.status < 200 || answer.status > 299) {
      throw DiscoveryError.foreman_refused(`Discovery failed, code ${answer.status}, reason: ${foremanReason(answer.body)}`);
    }
    // The image only looks at the status; Foreman's body is not passed on (as in the reference).
    // Buffers keep the content type exactly `application/json`, as the reference labels it.
    return reply.code(200).header('content-type', JSON_TYPE).send(Buffer.alloc(0));
  };

  const relay = (call: NodeCall) => async (request: FastifyRequest<{ Params: { ip: string } }>, reply: FastifyReply): Promise<FastifyReply> => {
    const address = parseNodeAddress(request.params.ip, allowed);
    const scheme = call.scheme ?? s.node_scheme;
    const url = `${scheme}://${address.urlHost}:${s.node_port}${call.path(address)}`;
    const payload = call.body(request);
    const headers: Record<string, string> = { accept: JSON_TYPE };
    if (payload) headers['content-type'] = payload.contentType;
    const signal = abortOnClientGone(request, reply);
    const answer = await nodeBulkhead.run(() => nodeTransport({ method: call.method, url, headers, ...(payload ? { body: payload.body } : {}), signal }));
    if (answer.status >= 200 && answer.status <= 299) return reply.code(200).header('content-type', JSON_TYPE).send(Buffer.from(answer.body));
    request.proxyLog.warn(`node ${address.ip} answered ${call.method} ${call.path(address)} with ${answer.status}`);
    const message = nodeErrorMessage(answer.status, answer.body);
    // A node's 4xx/5xx is passed on, as in the reference; any other non-2xx answer is a bad gateway.
    throw answer.status >= 400 && answer.status <= 599 ? DiscoveryError.node_error(message, answer.status) : DiscoveryError.node_error(message);
  };

  return {
    routes(app) {
      keepRawFormBodies(app);
      app.post('/create', upload);
      for (const [key, call] of Object.entries(NODE_CALLS)) {
        const [method, path] = key.split(' ') as [HttpMethod, string];
        app.route<{ Params: { ip: string } }>({ method, url: path, handler: relay(call) });
      }
    },
    async close() {
      await Promise.all([link.close(), nodeClient?.close()]);
    },
  };
}
