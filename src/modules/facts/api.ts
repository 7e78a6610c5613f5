// /facts routes (spec facts.md): every fact, or one top-level fact.

import type { FastifyInstance } from 'fastify';
import { ProxyError } from '../../core/errors.ts';
import type { Facts } from './gather.ts';

/** `{"<fact>": value}`; 404 for a null/false value; 400 for a name no fact has (reference quirk). */
export function lookupFact(facts: Facts, name: string): Facts {
  if (!Object.hasOwn(facts, name)) throw new ProxyError(400, `Unknown fact '${name}'`, 'facts.unknown');
  const value = facts[name];
  if (value === null || value === undefined || value === false) throw new ProxyError(404, `Fact ${name} not found`, 'facts.not_found');
  return { [name]: value };
}

export function factsRoutes(app: FastifyInstance, gather: () => Promise<Facts>): void {
  app.get('/', async (_request, reply) => reply.type('application/json').send(JSON.stringify(await gather())));
  app.get<{ Params: { fact: string } }>('/:fact', async (request, reply) =>
    reply.type('application/json').send(JSON.stringify(lookupFact(await gather(), request.params.fact))),
  );
}
