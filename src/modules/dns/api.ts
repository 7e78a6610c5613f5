// Routes of /dns (spec dns.md §1). The core ignores trailing slashes, so `/dns`, `/dns/`,
// `/dns/<name>/` and `/dns/<name>/<type>/` all land here; `DELETE /dns/` has no route (404).

import type { FastifyInstance, FastifyReply } from 'fastify';
import { ProxyError, badRequest, errorText } from '../../core/errors.ts';
import type { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import type { DnsProvider } from './provider.ts';
import { validateCreate, validateRemove } from './validate.ts';

export interface DnsRuntime {
  provider: DnsProvider;
  bulkhead: Bulkhead;
}

function ok(reply: FastifyReply): FastifyReply {
  return reply.code(200).header('content-type', 'text/html;charset=utf-8').send('');
}

/** Provider failures that are not already HTTP-shaped become 400 with their text (reference). */
async function call(rt: DnsRuntime, fn: (p: DnsProvider) => Promise<void>): Promise<void> {
  try {
    await rt.bulkhead.run(() => fn(rt.provider));
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw badRequest(errorText(err), 'dns.error');
  }
}

export function dnsRoutes(app: FastifyInstance, rt: DnsRuntime): void {
  app.post('/', async (request, reply) => {
    const p = params(request);
    const req = validateCreate(p.fqdn, p.value, p.type);
    await call(rt, (prov) => prov.create(req.type, req.fqdn, req.value));
    return ok(reply);
  });

  const remove = async (value: string, type: string | undefined, reply: FastifyReply): Promise<FastifyReply> => {
    const req = validateRemove(value, type);
    await call(rt, (prov) => prov.remove(req.type, req.name));
    return ok(reply);
  };
  app.delete<{ Params: { value: string } }>('/:value', async (request, reply) =>
    remove(request.params.value, undefined, reply),
  );
  app.delete<{ Params: { value: string; type: string } }>('/:value/:type', async (request, reply) =>
    remove(request.params.value, request.params.type, reply),
  );
}
