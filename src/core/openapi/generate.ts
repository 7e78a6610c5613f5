// The OpenAPI 3.1 document of a running proxy. The route list comes from fastify itself: every
// running module's instance mounts its routes on a throwaway fastify app with @fastify/swagger
// (3.1 mode), exactly as a listener mounts them (instance.routes(scope, prefix) may run any number
// of times by contract). An onRoute hook marks each route with its module; swagger builds the
// paths, methods and path parameters from fastify's routes, then each operation is completed from
// the module's openapi.ts (summary, parameters, body, responses) and the module's authorization.
// Nothing here touches the proxy's real listeners: their routes keep no schema at all, so the
// documentation cannot change a status, an error message or a response body.

import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import type { ModuleDefinition, ModuleInstance } from '../module.ts';
import { errorText } from '../errors.ts';
import { ref, sharedResponses } from './components.ts';
import { rootDocs, rootRoutes } from './root-docs.ts';
import type { ModuleApiDocs, OpenApiOperation, OpenApiParameter } from './types.ts';

/** A module whose routes are documented: its definition and its running instance. */
export interface DocumentedModule {
  readonly def: ModuleDefinition;
  readonly instance: ModuleInstance;
}

/** One route as fastify registered it, in the docs' key form. */
export interface RegisteredRoute {
  /** Module name, or `root` for the routes of core/http/app.ts. */
  readonly module: string;
  /** `'<METHOD> <url>'`, the key of the module's docs. */
  readonly key: string;
}

export interface ApiDocument {
  readonly document: Record<string, unknown>;
  /** Every route documented (one per method). */
  readonly routes: readonly RegisteredRoute[];
  /** Routes a module registers that its openapi.ts does not describe. */
  readonly undocumented: readonly RegisteredRoute[];
  /** Docs entries that name no registered route (`module: key`). */
  readonly unmatched: readonly RegisteredRoute[];
  /** Modules whose docs or routes could not be loaded, with the reason (the rest is still documented). */
  readonly failures: Readonly<Record<string, string>>;
}

export interface DocumentOptions {
  readonly modules: readonly DocumentedModule[];
  readonly version: string;
  /** Include /features, /version and /v2/features (default true). */
  readonly root?: boolean;
}

const ROOT = 'root';
const ROUTE_MARK = 'x-proxy-route';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** A route url in the docs' form: no trailing slash (the listeners ignore it), except `/`. */
export function normaliseUrl(url: string): string {
  return url.length > 1 && url.endsWith('/') ? url.slice(0, -1) : url;
}

export function routeKey(method: string, url: string): string {
  return `${method.toUpperCase()} ${normaliseUrl(url)}`;
}

/**
 * The methods of a route that are documented. The HEAD route fastify adds beside every GET
 * arrives alone (method `'HEAD'`): it is the GET's and is described there. Explicit HEAD routes
 * come in a method list (`['GET', 'HEAD']`).
 */
function documentedMethods(method: RouteOptions['method']): string[] {
  if (typeof method === 'string') return method === 'HEAD' ? [] : [method];
  return [...method];
}

const API_DESCRIPTION = `The HTTP API of this Foreman Smart Proxy (a drop-in replacement of the Ruby proxy): the
routes of the modules running on this proxy, and the root routes. Each module is one tag.

**Listeners and audiences.** Control-plane listeners (audience \`foreman\`) serve the modules Foreman calls;
client listeners (audience \`client\`) serve what provisioned hosts fetch (templates, registration,
httpboot, the capsule's content). Each operation says where it is served in \`x-audience\` (\`foreman\`,
\`client\`, or \`both\` for /features and /version). This document is
served on control-plane listeners only.

**Security.** On HTTPS the proxy requests a client certificate signed by \`ssl_ca_file\` (mutual TLS); a
certificate from another CA fails the handshake, no certificate completes it. Protected routes
(security \`mutualTLS\`) then require the certificate, and when \`trusted_hosts\` is set, its CN must be in the
list (compared lower-cased). Over plain HTTP the same routes check the peer's reverse DNS name (forward
verified) against \`trusted_hosts\` instead. A refusal is 403 with the reason as plain text; the check runs
before routing, so an unknown path under a protected prefix is 403 too. Routes with \`security: []\` are
public.

**Conventions** (the reference's, kept for Foreman): errors are the message as a plain-text body,
labelled \`application/json\` when the client accepts JSON (otherwise \`text/html;charset=utf-8\`); an unknown
route or method is 404 \`Requested url was not found\` (labelled JSON); a saturated backend answers 503 with
\`Retry-After\`. Parameters may be sent in the query string or as an \`application/x-www-form-urlencoded\`
body (path parameters win). Trailing slashes are ignored. Every GET also answers HEAD.`;

function baseDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Foreman Smart Proxy',
      version,
      description: API_DESCRIPTION,
      license: { name: 'GPL-3.0-or-later', identifier: 'GPL-3.0-or-later' },
    },
    components: {
      securitySchemes: {
        mutualTLS: {
          type: 'mutualTLS',
          description:
            'A client certificate signed by the proxy\'s `ssl_ca_file`; when `trusted_hosts` is set, its CN must be listed there. ' +
            'Over plain HTTP, the peer\'s reverse DNS name is checked against `trusted_hosts` instead.',
        },
      },
      responses: sharedResponses,
    },
    security: [{ mutualTLS: [] }],
  };
}

interface RouteMark {
  module: string;
  url: string;
}

/** How a route of `def` is authorized: `mutualTLS` (trusted_hosts + certificate), `certificate` or `public`. */
function authorizationOf(def: ModuleDefinition | undefined, url: string): 'mutualTLS' | 'certificate' | 'public' {
  if (!def) return url === '/v2/features' ? 'mutualTLS' : 'public';
  const exempt = Object.entries(def.pathAuthorization ?? {})
    .filter(([prefix]) => url === prefix || url.startsWith(`${prefix}/`))
    .sort((a, b) => b[0].length - a[0].length)[0];
  if (exempt) return exempt[1] === 'none' ? 'public' : 'certificate';
  return def.authorize ? 'mutualTLS' : 'public';
}

function mergeParameters(generated: unknown, documented: readonly OpenApiParameter[] | undefined): OpenApiParameter[] | undefined {
  const fromRoute = Array.isArray(generated) ? (generated as OpenApiParameter[]) : [];
  const docs = documented ?? [];
  const same = (a: OpenApiParameter, b: OpenApiParameter): boolean => a.name === b.name && a.in === b.in;
  const merged = [...fromRoute.map((p) => docs.find((d) => same(d, p)) ?? p), ...docs.filter((d) => !fromRoute.some((p) => same(d, p)))];
  return merged.length > 0 ? merged : undefined;
}

function operationId(module: string, key: string): string {
  return `${module}_${key}`
    .replace(/:(\w+)/g, 'by_$1')
    .replace(/\*/g, 'any')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/_+$/, '');
}

/** Build the document of the given running modules (and the root routes). */
export async function buildApiDocument(options: DocumentOptions): Promise<ApiDocument> {
  const defs = new Map(options.modules.map((m) => [m.def.name, m.def]));
  const docs = new Map<string, ModuleApiDocs>();
  const failures: Record<string, string> = {};
  if (options.root !== false) docs.set(ROOT, rootDocs);
  for (const { def } of options.modules) {
    try {
      docs.set(def.name, def.apiDocs ? await def.apiDocs() : {});
    } catch (err) {
      failures[def.name] = `its openapi.ts could not be loaded: ${errorText(err)}`;
      docs.set(def.name, {});
    }
  }

  const app: FastifyInstance = Fastify({ logger: false, routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 } });
  // Routes here are never called: nothing is validated or serialised.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  const routes: RegisteredRoute[] = [];
  await app.register(fastifySwagger, {
    openapi: baseDocument(options.version),
    // A wildcard becomes a named path parameter (`{path}`, described by the module) rather than `{*}`.
    transform: ({ schema, url }) => ({ schema, url: url.replace(/\*$/, ':path') }),
  });

  const mark = (module: string) => (route: RouteOptions) => {
    const url = normaliseUrl(route.url);
    const methods = documentedMethods(route.method);
    if (methods.length === 0) return;
    for (const method of methods) routes.push({ module, key: routeKey(method, url) });
    const markSchema: Record<string, unknown> = { tags: [module], [ROUTE_MARK]: { module, url } satisfies RouteMark };
    route.schema = markSchema;
  };

  if (options.root !== false) {
    await app.register(async (scope) => {
      scope.addHook('onRoute', mark(ROOT));
      for (const [method, url] of rootRoutes) scope.route({ method, url, handler: async () => '' });
    });
  }
  for (const { def, instance } of options.modules) {
    for (const prefix of def.prefixes) {
      await app.register(
        async (scope) => {
          scope.addHook('onRoute', mark(def.name));
          // Caught here: a plugin's error would stop the whole throwaway app from booting.
          try {
            await instance.routes(scope, prefix);
          } catch (err) {
            failures[def.name] = `its routes could not be listed: ${errorText(err)}`;
          }
        },
        { prefix },
      );
    }
  }
  await app.ready();
  const document = structuredClone(app.swagger()) as Record<string, unknown> & { paths?: Record<string, Record<string, Record<string, unknown>>> };
  await app.close();

  const used = new Set<string>();
  const undocumented: RegisteredRoute[] = [];
  for (const pathItem of Object.values(document.paths ?? {})) {
    for (const method of METHODS) {
      const generated = pathItem[method];
      if (!generated) continue;
      const routeMark = generated[ROUTE_MARK] as RouteMark | undefined;
      if (!routeMark) continue;
      const key = routeKey(method, routeMark.url);
      const def = defs.get(routeMark.module);
      const documented = docs.get(routeMark.module)?.[key];
      if (documented) used.add(`${routeMark.module} ${key}`);
      else undocumented.push({ module: routeMark.module, key });
      pathItem[method] = completeOperation(routeMark, key, generated, documented, def);
    }
  }
  const unmatched: RegisteredRoute[] = [];
  for (const [module, moduleDocs] of docs) {
    for (const key of Object.keys(moduleDocs)) if (!used.has(`${module} ${key}`)) unmatched.push({ module, key });
  }
  document.tags = tagsOf(options.modules, options.root !== false);
  return { document, routes, undocumented, unmatched, failures };
}

function completeOperation(
  routeMark: RouteMark,
  key: string,
  generated: Record<string, unknown>,
  documented: OpenApiOperation | undefined,
  def: ModuleDefinition | undefined,
): Record<string, unknown> {
  const operation: Record<string, unknown> = {
    ...(documented ?? { summary: `${key} (undocumented)`, responses: { '200': { description: 'Not documented.' } } }),
  };
  operation.tags = [routeMark.module];
  operation.operationId ??= operationId(routeMark.module, key);
  const parameters = mergeParameters(generated.parameters, documented?.parameters);
  if (parameters) operation.parameters = parameters;
  else delete operation.parameters;
  const responses = { ...(operation.responses as Record<string, unknown>) };
  // A module that authorizes its routes itself says so with the operation's own `security`.
  const auth = documented?.security !== undefined ? 'documented' : authorizationOf(def, routeMark.url);
  if (auth === 'public') operation.security = [];
  else if (auth !== 'documented') responses['403'] ??= ref.forbidden;
  if (auth === 'certificate') {
    operation.description = `${operation.description ? `${String(operation.description)}\n\n` : ''}The caller is identified by its own client certificate (its CN), not by trusted_hosts.`;
  }
  operation.responses = responses;
  operation['x-audience'] ??= def?.audience ?? 'foreman';
  return operation;
}

function tagsOf(modules: readonly DocumentedModule[], root: boolean): Record<string, string>[] {
  const tags = modules.map(({ def }) => ({ name: def.name, description: `${def.summary} Audience: ${def.audience}. Prefixes: ${def.prefixes.join(', ')}.` }));
  if (root) tags.unshift({ name: ROOT, description: 'The root routes: features and version.' });
  return tags.sort((a, b) => a.name.localeCompare(b.name));
}
