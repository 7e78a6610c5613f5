// Routes of /puppet/ca (spec puppetca.md §1). Every route answers with Content-Type
// application/json, empty bodies included, as the reference sets it before doing any work.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError, badRequest, errorText, notFound, notImplemented } from '../../core/errors.ts';
import type { ModuleContext } from '../../core/module.ts';
import { params, rawBody } from '../../core/http/request-params.ts';
import { autosignEntryProblem, certnameProblem, quoted } from '../../lib/puppet/certname.ts';
import { MAX_CSR_BYTES } from '../../lib/puppet/csr.ts';
import { NotPresentError, type AutosignProvider, type CertificateProvider, type PuppetCaProvider } from './provider.ts';

export interface PuppetCaBackends {
  autosign: AutosignProvider;
  certificates: CertificateProvider;
}

/** Split the providers the core created (use_provider order) into their two roles. */
export function backends(providers: readonly PuppetCaProvider[]): PuppetCaBackends {
  const autosign = providers.filter((p): p is AutosignProvider => p.kind === 'autosign');
  const certificates = providers.find((p): p is CertificateProvider => p.kind === 'certificates');
  if (autosign.length !== 1) {
    throw new Error(
      "use_provider must name exactly one autosign provider ('puppetca_hostname_whitelisting' or 'puppetca_token_whitelisting')",
    );
  }
  if (!certificates) throw new Error("provider 'puppetca_http_api' is missing");
  return { autosign: autosign[0], certificates };
}

function certname(request: FastifyRequest): string {
  const value = (request.params as { certname?: unknown }).certname;
  const name = typeof value === 'string' ? value : '';
  const problem = certnameProblem(name);
  if (problem) throw badRequest(`Invalid certname ${quoted(name)}: ${problem}`, 'puppetca.invalid_certname');
  return name;
}

/** Autosign entries may be globs (`*.example.com`) with the hostname provider only. */
function autosignName(request: FastifyRequest, provider: AutosignProvider): string {
  if (provider.id !== 'puppetca_hostname_whitelisting') return certname(request);
  const value = (request.params as { certname?: unknown }).certname;
  const name = typeof value === 'string' ? value : '';
  const problem = autosignEntryProblem(name);
  if (problem) throw badRequest(`Invalid certname ${quoted(name)}: ${problem}`, 'puppetca.invalid_certname');
  return name;
}

/** Wrap a provider failure in the endpoint's 406 message; the core's own errors (503) pass. */
async function as406<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProxyError) throw err;
    throw new ProxyError(406, `${prefix}${errorText(err)}`, 'puppetca.failed');
  }
}

/** A Buffer, so the type goes out exactly as the reference labels it (fastify adds no charset). */
function json(reply: FastifyReply, body: unknown): FastifyReply {
  return reply.header('content-type', 'application/json').send(Buffer.from(body === undefined ? '' : JSON.stringify(body)));
}

/** A positive integer `token_ttl` param, else undefined (the provider's setting applies). */
function tokenTtl(request: FastifyRequest): number | undefined {
  const v = params(request).token_ttl;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export async function puppetcaRoutes(app: FastifyInstance, ctx: ModuleContext<PuppetCaProvider>): Promise<void> {
  const { autosign, certificates } = backends(ctx.providers);

  app.addHook('onRequest', async (_request, reply) => {
    reply.header('content-type', 'application/json');
  });

  app.get('/', async (_request, reply) =>
    json(reply, await as406('Failed to list certificates: ', () => certificates.list())),
  );

  app.get('/autosign', async (_request, reply) =>
    json(reply, await as406('Failed to list autosign entries: ', () => autosign.list())),
  );

  app.post('/autosign/:certname', async (request, reply) => {
    const name = autosignName(request, autosign);
    const ttl = tokenTtl(request);
    return json(reply, await as406(`Failed to enable autosign for ${name}: `, () => autosign.add(name, ttl)));
  });

  app.delete('/autosign/:certname', async (request, reply) => {
    const name = autosignName(request, autosign);
    try {
      await autosign.remove(name);
    } catch (err) {
      if (err instanceof NotPresentError) throw notFound(err.message, 'puppetca.autosign_not_found');
      if (err instanceof ProxyError) throw err;
      throw new ProxyError(406, `Failed to remove autosign for ${name}: ${errorText(err)}`, 'puppetca.failed');
    }
    return json(reply, undefined);
  });

  // Puppet's policy script posts the PEM without a content type of its own, which Net::HTTP then
  // labels as a form: this route reads every body raw, whatever its content type says.
  await app.register(async (raw) => {
    raw.removeContentTypeParser('application/x-www-form-urlencoded');
    raw.post('/validate', { bodyLimit: MAX_CSR_BYTES }, async (request, reply) => {
      const validate = autosign.validateCsr?.bind(autosign);
      if (!validate) throw notImplemented('Provider only supports trivial autosigning', 'puppetca.no_validation');
      const ok = await as406('Failed to validate CSR: ', () => validate(rawBody(request)));
      if (!ok) {
        request.proxyLog.info('CSR refused for autosigning');
        return reply.code(404).header('content-type', 'application/json').send(Buffer.alloc(0));
      }
      return json(reply, undefined);
    });
  });

  app.post('/:certname', async (request, reply) => {
    const name = certname(request);
    await as406(`Failed to sign certificate(s) for ${name}: `, () => certificates.sign(name));
    return json(reply, undefined);
  });

  app.delete('/:certname', async (request, reply) => {
    const name = certname(request);
    await as406(`Failed to remove certificate(s) for ${name}: `, () => certificates.clean(name));
    return json(reply, undefined);
  });
}
