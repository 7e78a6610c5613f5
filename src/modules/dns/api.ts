// Routes of /dns (spec dns.md §1). The core ignores trailing slashes, so `/dns`, `/dns/`,
// `/dns/<name>/` and `/dns/<name>/<type>/` all land here; `DELETE /dns/` has no route (404).

import type { FastifyInstance, FastifyReply } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import type { ModuleInstance } from '../../core/module.ts';
import type { DnsProvider } from './provider.ts';
import { validateCreate, validateRemove } from './validate.ts';

function ok(reply: FastifyReply): FastifyReply {
  return reply.code(200).header('content-type', 'text/html;charset=utf-8').send('');
}

/** The running DNS module: its provider behind one bulkhead shared by every listener. */
export function dnsModule(provider: DnsProvider): ModuleInstance {
  // A slow DNS server queues DNS requests only; past the queue, callers get 503 + Retry-After.
  const bulkhead = new Bulkhead({ name: 'dns', limit: 32, queue: 256, queueTimeoutMs: 30_000 });
  return {
    routes: (app) => dnsRoutes(app, provider, bulkhead),
  };
}

function dnsRoutes(app: FastifyInstance, provider: DnsProvider, bulkhead: Bulkhead): void {
  app.post('/', async (request, reply) => {
    const p = params(request);
    const req = validateCreate(p.fqdn, p.value, p.type);
    await bulkhead.run(() => provider.create(req.type, req.fqdn, req.value));
    return ok(reply);
  });

  const remove = async (value: string, type: string | undefined, reply: FastifyReply): Promise<FastifyReply> => {
    const req = validateRemove(value, type);
    await bulkhead.run(() => provider.remove(req.type, req.name));
    return ok(reply);
  };
  app.delete<{ Params: { value: string } }>('/:value', async (request, reply) =>
    remove(request.params.value, undefined, reply),
  );
  app.delete<{ Params: { value: string; type: string } }>('/:value/:type', async (request, reply) =>
    remove(request.params.value, request.params.type, reply),
  );
}
