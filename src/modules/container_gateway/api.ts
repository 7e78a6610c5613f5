// The container gateway (spec content.md §2): a registry front end that decides who may pull
// what, then lets Pulp's registry serve it, and the management endpoints Katello refreshes after
// every capsule sync. Routes, relative to the module prefix `/container_gateway`:
//
//   registry   GET /v1/_ping, /v1/search, /v2/, /v2/token, /v2/_catalog, /v2/<name>/manifests/<ref>,
//              /v2/<name>/blobs/<digest>, /v2/<name>/tags/list, /index/static (HEAD too);
//              PUT/POST/PATCH under /v2/<name>/ → 404 UNSUPPORTED (no push)
//   management GET /users; PUT /repository_list, /user_repository_mapping, /update_hosts,
//              /host_repository_mapping, /update_host_repositories
//
// The registry routes are also exported (`exports.registryRoutes`) so that a host-facing listener
// can serve them at `/v1`, `/v2`, `/index` itself, as Apache maps them on a capsule (§1.3).

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ModuleInstance } from '../../core/module.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { HttpClient, HttpResponse } from '../../lib/http/client.ts';
import { GatewayError } from './errors.ts';
import { HostCertificateVerifier, normaliseAddress, tlsPeerCertificate } from './identity.ts';
import type { GatewayStore } from './store/types.ts';
import { readRefreshBody, type Shape } from './wire.ts';

export interface GatewayOptions {
  /** Host that replaces the host of Pulp's redirect locations (`client_endpoint`), or undefined. */
  clientEndpointHost: string | undefined;
  /** Path on Katello's origin for `token` and `_catalog` (`katello_registry_path`). */
  katelloRegistryPath: string;
  /** Addresses whose `X-RHSM-SSL-Client-Cert` header is believed. */
  trustedFrontEnds: readonly string[];
  managementBodyLimit: number;
  /** Deadline of a blob transfer (its bytes may take long; idle gaps are bounded by the client). */
  blobTimeoutMs: number;
}

export interface GatewayDeps {
  options: GatewayOptions;
  store: GatewayStore;
  /** Pulp, base URL `<pulp_endpoint>/pulpcore_registry/`. */
  pulp: HttpClient;
  /** Katello's origin. */
  katello: HttpClient;
  verifier: HostCertificateVerifier;
  log: Logger;
}

/** What a client is, for the pull decision (spec §2.4). */
type Identity =
  | { kind: 'host'; uuid: string }
  | { kind: 'user'; user: string }
  | { kind: 'anonymous'; literal: boolean; badCertificate?: string };

const API_VERSION = 'registry/2.0';
const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
/** Headers of Pulp's answer a registry client needs; nothing else is copied (spec §6.4). */
const PASS_HEADERS = ['content-type', 'content-length', 'docker-content-digest', 'etag', 'content-range', 'accept-ranges', 'last-modified', 'cache-control'];
/** Headers of the client's request Pulp needs; Authorization, Host, cookies … are not forwarded. */
const FORWARD_HEADERS = ['accept', 'range', 'if-none-match', 'if-modified-since'];
const HOST_LOOKUP_RETRY_MS = 60_000;

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function query(request: FastifyRequest): URLSearchParams {
  const url = request.raw.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q >= 0 ? url.slice(q + 1) : '');
}

/** Request host as the client addressed us (`X-Forwarded-Host` from a front end, else `Host`). */
function requestHost(request: FastifyRequest): string {
  const forwarded = header(request, 'x-forwarded-host')?.split(',')[0]?.trim();
  return forwarded || header(request, 'host') || 'localhost';
}

function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i >= 0 && host.indexOf(':') === i ? host.slice(0, i) : host;
}

function challengeHeaders(request: FastifyRequest): Record<string, string> {
  const host = requestHost(request);
  // The realm keeps a non-default port so that a registry on another port than 443 still works;
  // on a capsule (443) it is the reference's `https://<host>/v2/token`.
  return {
    'docker-distribution-api-version': API_VERSION,
    'www-authenticate': `Bearer realm="https://${host}/v2/token",service="${hostWithoutPort(host)}",scope="repository:registry:pull,push"`,
  };
}

function registryError(reply: FastifyReply, status: number, code: string, message: string, headers: Record<string, string> = {}): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .header('content-type', 'application/json')
    .send(Buffer.from(JSON.stringify({ errors: [{ code, message }] })));
}

function json(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

const basicUser = (authorization: string | undefined): { user: string; password: string } | undefined => {
  const m = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? { user: text, password: '' } : { user: text.slice(0, colon), password: text.slice(colon + 1) };
};

const bearerToken = (authorization: string | undefined): string | undefined => /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export function gatewayInstance(deps: GatewayDeps): ModuleInstance {
  const { store, pulp, katello, verifier, log, options } = deps;
  const trusted = new Set(options.trustedFrontEnds.map((a) => normaliseAddress(a)));
  /** In-flight and recently failed Katello lookups of unknown hosts, by UUID. */
  const hostLookups = new Map<string, Promise<void>>();
  const failedLookups = new Map<string, number>();

  async function identify(request: FastifyRequest): Promise<Identity> {
    const peer = normaliseAddress(request.raw.socket.remoteAddress);
    const headerCert = header(request, 'x-rhsm-ssl-client-cert');
    let certificate: Buffer | string | undefined;
    if (trusted.has(peer)) {
      // The front end sets the header on every request; empty or "(null)" means no certificate.
      // Its own TLS certificate (if it presents one to us) is the front end's, never a host's.
      if (headerCert !== undefined && headerCert.trim() !== '' && !headerCert.includes('null')) certificate = headerCert;
    } else {
      if (headerCert !== undefined) request.proxyLog.debug(`ignoring X-RHSM-SSL-Client-Cert from ${peer}: not in trusted_front_ends`);
      certificate = tlsPeerCertificate(request.raw.socket);
    }
    if (certificate !== undefined) {
      const checked = verifier.check(certificate);
      if ('uuid' in checked) {
        await ensureHost(checked.uuid, request);
        return { kind: 'host', uuid: checked.uuid };
      }
      request.proxyLog.warn(`host certificate refused: ${checked.invalid}`);
      return { kind: 'anonymous', literal: false, badCertificate: checked.invalid };
    }
    const token = bearerToken(header(request, 'authorization'));
    if (token === 'unauthenticated' || token === 'unauthorized') return { kind: 'anonymous', literal: true };
    if (token !== undefined) {
      const user = await store.tokenUser(sha256(token), Date.now());
      if (user !== undefined) return user === '' ? { kind: 'anonymous', literal: true } : { kind: 'user', user };
    }
    return { kind: 'anonymous', literal: false };
  }

  /**
   * A host registered after the last capsule sync: ask Katello for its repositories once (one
   * lookup per UUID at a time; a failure is retried after a minute, meanwhile public only).
   */
  async function ensureHost(uuid: string, request: FastifyRequest): Promise<void> {
    if (await store.hostExists(uuid)) return;
    const failedAt = failedLookups.get(uuid);
    if (failedAt !== undefined && Date.now() - failedAt < HOST_LOOKUP_RETRY_MS) return;
    let pending = hostLookups.get(uuid);
    if (!pending) {
      pending = (async () => {
        try {
          const res = await katelloCall('_catalog', { hostuuid: uuid });
          const text = await res.text();
          if (res.status !== 200) throw new Error(`Katello answered ${res.status}`);
          const names = (JSON.parse(text) as { repositories?: unknown }).repositories;
          if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw new Error('Katello _catalog has no repositories list');
          await store.updateHostRepositories([{ key: uuid, repositories: names as string[] }]);
          failedLookups.delete(uuid);
        } catch (err) {
          failedLookups.set(uuid, Date.now());
          request.proxyLog.warn(`could not look up host ${uuid} in Katello: ${(err as Error).message}`);
        } finally {
          hostLookups.delete(uuid);
        }
      })();
      hostLookups.set(uuid, pending);
    }
    await pending;
  }

  function katelloCall(suffix: 'token' | '_catalog', headers: Record<string, string>, params?: URLSearchParams): Promise<HttpResponse> {
    const path = `${options.katelloRegistryPath}${suffix}${params && [...params].length ? `?${params.toString()}` : ''}`;
    return katello.request({ method: 'GET', path, headers: { accept: 'application/json', 'content-type': 'application/json', ...headers } });
  }

  async function catalogFor(identity: Identity, opts?: { contains?: string; limit?: number }): Promise<string[]> {
    if (identity.kind === 'host') return store.catalog({ host: identity.uuid }, opts);
    if (identity.kind === 'user') return store.catalog({ user: identity.user }, opts);
    return store.catalog({}, opts);
  }

  /** The pull decision (spec §2.4, statuses made consistent per §6.5). Undefined = allowed. */
  async function denial(identity: Identity, name: string, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const repo = await store.getRepository(name);
    if (repo && !repo.authRequired) return undefined;
    if (identity.kind === 'anonymous') {
      // Unknown and private look the same to an anonymous client: authenticate first.
      const message = identity.badCertificate ?? 'authentication required';
      return registryError(reply, 401, 'UNAUTHORIZED', message, challengeHeaders(request));
    }
    if (repo && (await store.isMapped(identity.kind === 'host' ? { host: identity.uuid } : { user: identity.user }, name))) return undefined;
    // Authenticated but not allowed: the same answer as for a name that does not exist.
    return registryError(reply, 404, 'NAME_UNKNOWN', 'Repository name unknown', challengeHeaders(request));
  }

  function forwardHeaders(request: FastifyRequest): Record<string, string> {
    const out: Record<string, string> = {};
    for (const h of FORWARD_HEADERS) {
      const v = header(request, h);
      if (v !== undefined) out[h] = v;
    }
    return out;
  }

  function rewriteLocation(location: string, base: URL): string {
    const url = new URL(location, base);
    if (options.clientEndpointHost) url.hostname = options.clientEndpointHost;
    return url.href;
  }

  /** Relay Pulp's answer: errors copied, redirects rewritten, content passed through (spec §2.6.4). */
  async function relay(request: FastifyRequest, reply: FastifyReply, path: string, kind: 'manifests' | 'blobs' | 'tags'): Promise<FastifyReply> {
    const head = request.method === 'HEAD';
    // A client that went away (before or while Pulp answers) must not pin a Pulp connection and
    // its deadline timer: the request is aborted, or the body released, as soon as we know.
    const gone = (): boolean => reply.raw.destroyed || request.raw.socket?.destroyed === true;
    if (gone()) return reply;
    const abort = new AbortController();
    const held: { res?: HttpResponse } = {};
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
      if (held.res && !held.res.body.destroyed) held.res.body.destroy();
    });
    const res = (held.res = await pulp.request({
      method: head ? 'HEAD' : 'GET',
      path,
      headers: forwardHeaders(request),
      signal: abort.signal,
      ...(kind === 'blobs' ? { timeoutMs: options.blobTimeoutMs } : {}),
    }));
    if (gone()) {
      res.body.destroy();
      return reply;
    }
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && typeof location === 'string') {
      await res.dump();
      return reply.code(302).header('location', rewriteLocation(location, res.url)).header('docker-distribution-api-version', API_VERSION).send();
    }
    if (res.status >= 400) request.proxyLog.debug(`Pulp answered ${res.status} for ${path}`);
    reply.code(res.status);
    for (const h of PASS_HEADERS) {
      const v = res.headers[h];
      if (typeof v === 'string') reply.header(h, v);
    }
    const link = res.headers.link;
    if (typeof link === 'string' && link.trim() !== '') reply.header('link', rewriteLink(link, request));
    reply.header('docker-distribution-api-version', API_VERSION);
    if (head || res.status === 204 || res.status === 304) {
      await res.dump();
      return reply.send();
    }
    return reply.send(res.body);
  }

  /** Pulp's `Link` for tag pages points at Pulp's path; clients follow it at ours. */
  function rewriteLink(link: string, request: FastifyRequest): string {
    const url = request.raw.url ?? '';
    const ours = `${url.slice(0, Math.max(0, url.indexOf('/v2/')))}/v2/`;
    return link.replace(/<\/(?:pulpcore_registry\/)?v2\//g, `<${ours}`);
  }

  async function tokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    reply.header('docker-distribution-api-version', API_VERSION);
    const q = query(request);
    const authorization = header(request, 'authorization');
    const params = new URLSearchParams();
    const scope = q.get('scope');
    if (scope !== null) params.set('scope', scope);
    const basicName = basicUser(authorization)?.user || undefined;
    let account = q.get('account') ?? undefined;
    // Without `account` (flatpak, some clients), the Basic user name is the account.
    if (account === undefined) account = basicName;
    if (account !== undefined) params.set('account', account);
    // The token and the mapping belong to whoever authenticated: a client's `account` naming
    // someone else must not file its own repositories (and token) under that other user.
    const owner = basicName ?? account;
    const res = await katelloCall('token', authorization ? { authorization } : {}, params);
    const text = await res.text();
    if (res.status !== 200) {
      const extra = res.status === 401 ? challengeHeaders(request) : {};
      return reply
        .code(res.status)
        .headers(extra)
        .header('content-type', typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : 'text/plain')
        .send(Buffer.from(text));
    }
    let body: { token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw GatewayError.bad_upstream_answer('Received malformed token response from Katello (not JSON)');
    }
    if (typeof body?.token !== 'string' || body.token === '') throw GatewayError.bad_upstream_answer('Received malformed token response from Katello (no token)');
    if (body.token === 'unauthorized') return reply.code(401).headers(challengeHeaders(request)).header('content-type', 'text/plain').send(Buffer.from('unauthorized'));
    const send = (): FastifyReply => reply.code(200).header('content-type', 'application/json').send(Buffer.from(text));
    if (body.token === 'unauthenticated') return send();
    const issued = typeof body.issued_at === 'string' ? Date.parse(body.issued_at) : Date.parse(String(res.headers.date ?? ''));
    if (!Number.isFinite(issued)) throw GatewayError.bad_upstream_answer('Received malformed token response from Katello (no issued_at and no Date)');
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    await store.storeToken(owner, sha256(body.token), issued + expiresIn * 1000);
    if (owner !== undefined && authorization) {
      const cat = await katelloCall('_catalog', { authorization });
      const catText = await cat.text();
      if (cat.status !== 200) return reply.code(cat.status).header('content-type', 'text/plain').send(Buffer.from(catText));
      let names: unknown;
      try {
        names = (JSON.parse(catText) as { repositories?: unknown }).repositories;
      } catch {
        throw GatewayError.bad_upstream_answer('Katello _catalog answer is not JSON');
      }
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) throw GatewayError.bad_upstream_answer('Katello _catalog answer has no repositories list');
      await store.setUserRepositories(owner, names as string[]);
    }
    return send();
  }

  async function catalogRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const identity = await identify(request);
    if (identity.kind === 'anonymous' && !identity.literal) {
      return registryError(reply, 401, 'UNAUTHORIZED', identity.badCertificate ?? 'authentication required', challengeHeaders(request));
    }
    const q = query(request);
    const all = await catalogFor(identity);
    const nText = q.get('n');
    const last = q.get('last');
    let names = last ? all.filter((n) => n > last) : all;
    if (nText !== null) {
      const n = Number(nText);
      if (!Number.isInteger(n) || n < 0) return registryError(reply, 400, 'PAGINATION_NUMBER_INVALID', `n: expected a whole number, got '${nText}'`);
      if (names.length > n && n > 0) {
        const page = names.slice(0, n);
        reply.header('link', `</v2/_catalog?last=${encodeURIComponent(page[page.length - 1])}&n=${n}>; rel="next"`);
        names = page;
      } else if (n === 0) names = [];
    }
    return json(reply.header('docker-distribution-api-version', API_VERSION), 200, { repositories: names });
  }

  async function searchRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    if (header(request, 'docker-distribution-api-version') === API_VERSION) return reply.code(404).header('content-type', 'text/plain').send(Buffer.from('not found'));
    const q = query(request);
    const nText = q.get('n');
    const n = nText === null || nText === '' ? 25 : Number(nText);
    if (!Number.isInteger(n)) throw GatewayError.invalid_parameter(`n: expected a whole number, got '${nText}'`);
    const authorization = header(request, 'authorization');
    let identity: Identity = { kind: 'anonymous', literal: false };
    const basic = basicUser(authorization);
    if (basic && (basic.user !== '' || basic.password !== '')) {
      // Basic credentials are checked by Katello; the `user` query parameter is never believed.
      const res = await katelloCall('token', { authorization: authorization as string }, new URLSearchParams({ account: basic.user }));
      const text = await res.text();
      let token: unknown;
      try {
        token = (JSON.parse(text) as { token?: unknown }).token;
      } catch {
        token = undefined;
      }
      if (res.status !== 200 || typeof token !== 'string' || token === 'unauthenticated' || token === 'unauthorized') {
        return reply.code(401).header('content-type', 'text/plain').send(Buffer.from('unauthorized'));
      }
      identity = { kind: 'user', user: basic.user };
    } else if (bearerToken(authorization)) identity = await identify(request);
    const contains = q.get('q') ?? '';
    const names = n <= 0 ? [] : await catalogFor(identity, { contains: contains || undefined, limit: n });
    return json(reply, 200, { num_results: names.length, query: contains, results: names.map((name) => ({ description: '', name })) });
  }

  async function indexRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const identity = await identify(request);
    const q = query(request);
    const res = await pulp.request({ method: 'GET', path: `index/static${[...q].length ? `?${q.toString()}` : ''}`, headers: { accept: 'application/json' } });
    const text = await res.text(64 * 1024 * 1024);
    if (res.status >= 400) return reply.code(res.status).header('content-type', String(res.headers['content-type'] ?? 'text/plain')).send(Buffer.from(text));
    let index: { Results?: unknown } & Record<string, unknown>;
    try {
      index = JSON.parse(text) as typeof index;
    } catch {
      throw GatewayError.bad_upstream_answer('Pulp index/static answer is not JSON');
    }
    if (!Array.isArray(index.Results)) throw GatewayError.bad_upstream_answer("Pulp index/static answer has no 'Results' list");
    // Every client sees only what it may pull (the reference shows the whole index to anyone
    // without a certificate, spec §6.3).
    const allowed = new Set(await catalogFor(identity));
    const results = index.Results.filter((r) => typeof (r as { Name?: unknown })?.Name === 'string' && allowed.has((r as { Name: string }).Name));
    return json(reply, 200, { ...index, Results: results });
  }

  async function repositoryRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const rest = (request.params as { '*': string })['*'] ?? '';
    const m = /^(.+)\/(manifests|blobs)\/([^/]+)$/.exec(rest) ?? /^(.+)\/(tags)\/(list)\/?$/.exec(rest);
    if (!m) {
      reply.callNotFound();
      return reply;
    }
    const [, name, kind, ref] = m as unknown as [string, string, 'manifests' | 'blobs' | 'tags', string];
    if (!NAME.test(name) || name.length > 255) return registryError(reply, 400, 'NAME_INVALID', `invalid repository name '${name.slice(0, 300)}'`);
    if (kind === 'blobs' && !DIGEST.test(ref)) return registryError(reply, 400, 'DIGEST_INVALID', `invalid digest '${ref.slice(0, 200)}'`);
    if (kind === 'manifests' && !TAG.test(ref) && !DIGEST.test(ref)) return registryError(reply, 400, 'TAG_INVALID', `invalid tag or digest '${ref.slice(0, 200)}'`);
    const identity = await identify(request);
    const denied = await denial(identity, name, request, reply);
    if (denied) return denied;
    let path = `v2/${name}/${kind}/${kind === 'tags' ? 'list' : ref}`;
    if (kind === 'tags') {
      const q = query(request);
      const out = new URLSearchParams();
      for (const k of ['n', 'last']) {
        const v = q.get(k);
        if (v !== null) out.set(k, v);
      }
      if ([...out].length) path += `?${out.toString()}`;
    }
    return relay(request, reply, path, kind);
  }

  const pushRejected = (_request: FastifyRequest, reply: FastifyReply): FastifyReply =>
    registryError(reply, 404, 'UNSUPPORTED', 'Pushing content is unsupported');

  function registryRoutes(app: FastifyInstance): void {
    app.get('/v1/_ping', async (_request, reply) => {
      const res = await pulp.request({ method: 'GET', path: 'v2/', headers: { accept: 'application/json' } });
      const text = await res.text();
      return reply.code(res.status).header('content-type', 'application/json').send(Buffer.from(text));
    });
    app.get('/v1/search', searchRoute);
    app.get('/v2', async (request, reply) => {
      const identity = await identify(request);
      if (identity.kind === 'anonymous' && !identity.literal) {
        return registryError(reply, 401, 'UNAUTHORIZED', identity.badCertificate ?? 'authentication required', challengeHeaders(request));
      }
      return json(reply.header('docker-distribution-api-version', API_VERSION), 200, {});
    });
    app.get('/v2/token', tokenRoute);
    app.get('/v2/_catalog', catalogRoute);
    app.route({ method: ['GET', 'HEAD'], url: '/v2/*', exposeHeadRoute: false, handler: repositoryRoute });
    app.route({ method: ['PUT', 'POST', 'PATCH'], url: '/v2/*', handler: pushRejected });
    app.get('/index/static', indexRoute);
  }

  async function refresh(request: FastifyRequest, shape: Shape) {
    return readRefreshBody(request.raw, header(request, 'content-type'), shape, options.managementBodyLimit);
  }

  const ok = (reply: FastifyReply): FastifyReply => reply.code(200).header('content-type', 'text/html;charset=utf-8').send(Buffer.alloc(0));

  function managementRoutes(app: FastifyInstance): void {
    app.get('/users', async (_request, reply) => json(reply, 200, { users: await store.listUsers() }));
    app.put('/repository_list', async (request, reply) => {
      const body = await refresh(request, 'repositories');
      const r = await store.replaceRepositories(body.repositories);
      log.info(`repository_list: ${body.repositories.length} repositories (${r.added} added, ${r.removed} removed)`);
      return ok(reply);
    });
    app.put('/user_repository_mapping', async (request, reply) => {
      const body = await refresh(request, 'users');
      const r = await store.replaceUserMappings(body.mapping);
      if (r.unknownUsers.length) log.info(`user_repository_mapping: skipped unknown users ${r.unknownUsers.slice(0, 20).join(', ')}`);
      return ok(reply);
    });
    app.put('/update_hosts', async (request, reply) => {
      const body = await refresh(request, 'hostList');
      const r = await store.replaceHosts(body.uuids);
      log.info(`update_hosts: ${body.uuids.length} hosts (${r.added} added, ${r.removed} removed)`);
      return ok(reply);
    });
    app.put('/host_repository_mapping', async (request, reply) => {
      const body = await refresh(request, 'hostMapping');
      const r = await store.replaceHostMappings(body.mapping);
      if (r.unknownHosts) log.info(`host_repository_mapping: skipped ${r.unknownHosts} unknown hosts`);
      return ok(reply);
    });
    app.put('/update_host_repositories', async (request, reply) => {
      const body = await refresh(request, 'hostMapping');
      if (!body.present) throw GatewayError.invalid_body('hosts: missing');
      await store.updateHostRepositories(body.mapping);
      return ok(reply);
    });
  }

  /** Bodies are read by the routes themselves (management bodies stream; pushes are refused unread). */
  function rawBodies(app: FastifyInstance): void {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  }

  return {
    routes(app) {
      rawBodies(app);
      registryRoutes(app);
      managementRoutes(app);
    },
    exports: {
      /** Mount the registry API (`/v1`, `/v2`, `/index`) on another scope, e.g. a host-facing listener (an app with ignoreTrailingSlash, as the core's). */
      registryRoutes(app: FastifyInstance): void {
        rawBodies(app);
        registryRoutes(app);
      },
    },
    async close() {
      await Promise.allSettled([pulp.close(), katello.close()]);
      await store.close();
    },
  };
}
