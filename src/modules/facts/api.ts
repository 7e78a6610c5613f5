// /facts routes (spec facts.md): every fact, or one top-level fact.

import type { FastifyInstance } from 'fastify';
import type { ModuleInstance } from '../../core/module.ts';
import { FactsError } from './errors.ts';
import type { Facts } from './gather.ts';

/** `{"<fact>": value}`; 404 for a null/false value; 400 for a name no fact has (reference quirk). */
export function lookupFact(facts: Facts, name: string): Facts {
  if (!Object.hasOwn(facts, name)) throw FactsError.unknown(`Unknown fact '${name}'`);
  const value = facts[name];
  if (value === null || value === undefined || value === false) throw FactsError.not_found(`Fact ${name} not found`);
  return { [name]: value };
}

/** The running facts module. Concurrent requests share one gathering; the next one after it gathers afresh. */
export function factsModule(): ModuleInstance {
  let inflight: Promise<Facts> | undefined;
  // The gathering code is loaded on the first request: Foreman asks for facts rarely.
  const gather = (): Promise<Facts> =>
    (inflight ??= import('./gather.ts')
      .then((g) => g.gatherFacts())
      .finally(() => {
        inflight = undefined;
      }));
  return { routes: (app) => factsRoutes(app, gather) };
}

function factsRoutes(app: FastifyInstance, gather: () => Promise<Facts>): void {
  app.get('/', async (_request, reply) => reply.type('application/json').send(JSON.stringify(await gather())));
  app.get<{ Params: { fact: string } }>('/:fact', async (request, reply) =>
    reply.type('application/json').send(JSON.stringify(lookupFact(await gather(), request.params.fact))),
  );
}
