// Routes of /puppet (spec puppet.md §1). They live under /puppet/run and /puppet/environments
// only, so the puppetca module's /puppet/ca/* routes (a longer prefix in their own context) are
// never shadowed.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError, badRequest, errorText, notFound, notImplemented, unavailable } from '../../core/errors.ts';
import type { ModuleContext } from '../../core/module.ts';
import { classesAndErrors, environmentNameProblem, legacyClasses } from '../../lib/puppet/classes.ts';
import { quoted } from '../../lib/puppet/certname.ts';
import { EnvironmentNotFoundError, PuppetTimeoutError, type PuppetProvider } from './provider.ts';

function environmentParam(request: FastifyRequest): string {
  const value = (request.params as { environment?: unknown }).environment;
  const name = typeof value === 'string' ? value : '';
  const problem = environmentNameProblem(name);
  if (problem) throw badRequest(`Invalid environment name ${quoted(name)}: ${problem}`, 'puppet.invalid_environment');
  return name;
}

/** A Buffer, so the type goes out exactly as the reference labels it (fastify adds no charset). */
function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

function classesError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  if (err instanceof EnvironmentNotFoundError) return notFound(err.message, 'puppet.environment_not_found');
  if (err instanceof PuppetTimeoutError) return unavailable(err.message, 15, 'puppet.timeout');
  return new ProxyError(406, `Failed to show puppet classes: ${errorText(err)}`, 'puppet.failed');
}

export async function puppetRoutes(app: FastifyInstance, ctx: ModuleContext<PuppetProvider>): Promise<void> {
  const provider = ctx.providers[0];
  if (!provider) throw new Error("provider 'puppet_proxy_puppet_api' is missing");

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('content-type', 'application/json');
  });

  app.post('/run', async () => {
    throw notImplemented('Puppetrun support has been removed in version 2.3', 'puppet.run_removed');
  });

  app.get('/environments', async (_request, reply) => {
    try {
      return json(reply, (await provider.environments()).map((e) => e.name));
    } catch (err) {
      if (err instanceof ProxyError) throw err;
      throw new ProxyError(406, `Failed to list puppet environments: ${errorText(err)}`, 'puppet.failed');
    }
  });

  app.get('/environments/:environment', async (request, reply) => {
    const name = environmentParam(request);
    let found;
    try {
      found = (await provider.environments()).find((e) => e.name === name);
    } catch (err) {
      if (err instanceof ProxyError) throw err;
      throw new ProxyError(406, `Failed to show puppet environment: ${errorText(err)}`, 'puppet.failed');
    }
    if (!found) throw notFound(`Could not find environment '${name}'`, 'puppet.environment_not_found');
    return json(reply, { name: found.name, paths: found.paths });
  });

  app.get('/environments/:environment/classes', async (request, reply) => {
    const name = environmentParam(request);
    let body;
    try {
      body = legacyClasses(await provider.classes(name));
    } catch (err) {
      throw classesError(err);
    }
    return json(reply, body);
  });

  app.get('/environments/:environment/classes_and_errors', async (request, reply) => {
    const name = environmentParam(request);
    let body;
    try {
      body = classesAndErrors(await provider.classes(name));
    } catch (err) {
      throw classesError(err);
    }
    return json(reply, body);
  });
}
