// Routes of /puppet (spec puppet.md §1). They live under /puppet/run and /puppet/environments
// only, so the puppetca module's /puppet/ca/* routes (a longer prefix in their own context) are
// never shadowed. A provider's plain failure becomes 406 with the route's `errorPrefix`.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ModuleInstance } from '../../core/module.ts';
import { classesAndErrors, environmentNameProblem, legacyClasses } from '../../lib/puppet/classes.ts';
import { quoted } from '../../lib/puppet/certname.ts';
import { PuppetError } from './errors.ts';
import type { PuppetProvider } from './provider.ts';

function environmentParam(request: FastifyRequest): string {
  const value = (request.params as { environment?: unknown }).environment;
  const name = typeof value === 'string' ? value : '';
  const problem = environmentNameProblem(name);
  if (problem) throw PuppetError.invalid_environment(`Invalid environment name ${quoted(name)}: ${problem}`);
  return name;
}

/** A Buffer, so the type goes out exactly as the reference labels it (fastify adds no charset). */
function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

/** The running puppet module: routes over the Puppet Server API provider. */
export function puppetModule(provider: PuppetProvider): ModuleInstance {
  return {
    routes: (app) => puppetRoutes(app, provider),
  };
}

const CLASSES = { config: { errorPrefix: 'Failed to show puppet classes: ' } };

function puppetRoutes(app: FastifyInstance, provider: PuppetProvider): void {
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('content-type', 'application/json');
  });

  app.post('/run', async () => {
    throw PuppetError.run_removed('Puppetrun support has been removed in version 2.3');
  });

  app.get('/environments', { config: { errorPrefix: 'Failed to list puppet environments: ' } }, async (_request, reply) =>
    json(reply, (await provider.environments()).map((e) => e.name)),
  );

  app.get('/environments/:environment', { config: { errorPrefix: 'Failed to show puppet environment: ' } }, async (request, reply) => {
    const name = environmentParam(request);
    const found = (await provider.environments()).find((e) => e.name === name);
    if (!found) throw PuppetError.environment_not_found(`Could not find environment '${name}'`);
    return json(reply, { name: found.name, paths: found.paths });
  });

  app.get('/environments/:environment/classes', CLASSES, async (request, reply) =>
    json(reply, legacyClasses(await provider.classes(environmentParam(request)))),
  );

  app.get('/environments/:environment/classes_and_errors', CLASSES, async (request, reply) =>
    json(reply, classesAndErrors(await provider.classes(environmentParam(request)))),
  );
}
