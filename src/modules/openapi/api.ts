// GET /apidoc/openapi.json: the document of the running modules, built on the first request and
// kept while the same module instances run (a reload that restarts a module rebuilds it).
// Concurrent first requests share one build; the serialised body is kept per origin asked for.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ModuleInstance, ProxyIntrospection } from '../../core/module.ts';
import type { Logger } from '../../core/logging-types.ts';
import type { DocumentedModule } from '../../core/openapi/generate.ts';
import { PROXY_VERSION } from '../../core/version.ts';

/** Origins whose serialised document is kept (a proxy is reached under a handful of names). */
const MAX_ORIGINS = 8;

interface Built {
  /** The instances the document was built from, to notice a module restarted by a reload. */
  readonly instances: readonly ModuleInstance[];
  readonly document: Promise<Record<string, unknown>>;
  /** origin → the document with `servers` naming it, serialised. */
  readonly bodies: Map<string, Buffer>;
}

function runningModules(proxy: ProxyIntrospection): DocumentedModule[] {
  const modules: DocumentedModule[] = [];
  for (const record of proxy.modules().values()) {
    if (record.state === 'running' && record.instance) modules.push({ def: record.def, instance: record.instance });
  }
  return modules.sort((a, b) => a.def.name.localeCompare(b.def.name));
}

const sameInstances = (a: readonly ModuleInstance[], b: readonly ModuleInstance[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export function openapiModule(proxy: ProxyIntrospection, log: Logger): ModuleInstance {
  let built: Built | undefined;

  const current = (): Built => {
    const modules = runningModules(proxy);
    const instances = modules.map((m) => m.instance);
    if (built && sameInstances(built.instances, instances)) return built;
    // The generator (and @fastify/swagger) is loaded on the first request, not at start-up.
    const document = import('../../core/openapi/generate.ts')
      .then(({ buildApiDocument }) => buildApiDocument({ modules, version: PROXY_VERSION }))
      .then((result) => {
      for (const [name, reason] of Object.entries(result.failures)) log.warn(`module ${name} is not fully documented: ${reason}`);
      if (result.undocumented.length > 0) log.warn(`routes without docs: ${result.undocumented.map((r) => `${r.module} ${r.key}`).join(', ')}`);
      return result.document;
    });
    const next: Built = { instances, document, bodies: new Map() };
    // A failed build is not kept: the next request tries again.
    document.catch(() => {
      if (built === next) built = undefined;
    });
    built = next;
    return next;
  };

  /** The document with `servers` naming the origin the caller used. */
  const body = async (request: FastifyRequest): Promise<Buffer> => {
    const b = current();
    const origin = `${request.protocol}://${request.host}`;
    const cached = b.bodies.get(origin);
    if (cached) return cached;
    const document = await b.document;
    const text = Buffer.from(JSON.stringify({ ...document, servers: [{ url: origin, description: 'This proxy, as the request reached it.' }] }));
    if (b.bodies.size >= MAX_ORIGINS) b.bodies.delete(b.bodies.keys().next().value as string);
    b.bodies.set(origin, text);
    return text;
  };

  return {
    routes(app: FastifyInstance) {
      app.get('/openapi.json', async (request, reply) => reply.type('application/json; charset=utf-8').send(await body(request)));
    },
  };
}
