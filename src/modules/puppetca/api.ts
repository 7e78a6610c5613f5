// Routes of /puppet/ca (spec puppetca.md §1). Every route answers with Content-Type
// application/json, empty bodies included, as the reference sets it before doing any work.
// A provider's plain failure becomes 406 with the route's `errorPrefix` (the module's error policy).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ModuleInstance } from '../../core/module.ts';
import { params, rawBody } from '../../core/http/request-params.ts';
import { autosignEntryProblem, certnameProblem, quoted } from '../../lib/puppet/certname.ts';
import { MAX_CSR_BYTES } from '../../lib/puppet/csr.ts';
import { PuppetCaError } from './errors.ts';
import type { AutosignProvider, CertificateProvider, PuppetCaProvider } from './provider.ts';

function asAutosign(p: PuppetCaProvider): AutosignProvider {
  if (p.kind !== 'autosign') throw new Error(`provider '${p.id}' is not an autosign provider`);
  return p;
}

function asCertificates(p: PuppetCaProvider): CertificateProvider {
  if (p.kind !== 'certificates') throw new Error(`provider '${p.id}' does not manage certificates`);
  return p;
}

/** The running puppetca module: the autosign provider use_provider names and the CA's provider. */
export function puppetcaModule(autosign: PuppetCaProvider, certificates: PuppetCaProvider): ModuleInstance {
  const autosignProvider = asAutosign(autosign);
  const certificateProvider = asCertificates(certificates);
  return {
    routes: (app) => puppetcaRoutes(app, autosignProvider, certificateProvider),
  };
}

/** The certname path parameter as sent; validated names only reach a provider. */
function rawCertname(request: FastifyRequest): string {
  const value = (request.params as { certname?: unknown }).certname;
  return typeof value === 'string' ? value : '';
}

function certname(request: FastifyRequest): string {
  const name = rawCertname(request);
  const problem = certnameProblem(name);
  if (problem) throw PuppetCaError.invalid_certname(`Invalid certname ${quoted(name)}: ${problem}`);
  return name;
}

/** Autosign entries may be globs (`*.example.com`) with the hostname provider only. */
function autosignName(request: FastifyRequest, provider: AutosignProvider): string {
  if (provider.id !== 'puppetca_hostname_whitelisting') return certname(request);
  const name = rawCertname(request);
  const problem = autosignEntryProblem(name);
  if (problem) throw PuppetCaError.invalid_certname(`Invalid certname ${quoted(name)}: ${problem}`);
  return name;
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

/** The reference's message prefix of a route about one certname. */
const certnamePrefix = (text: string) => ({ config: { errorPrefix: (request: FastifyRequest) => `${text} ${rawCertname(request)}: ` } });

async function puppetcaRoutes(app: FastifyInstance, autosign: AutosignProvider, certificates: CertificateProvider): Promise<void> {
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('content-type', 'application/json');
  });

  // Routes 2–5 are registered before 6–7: a certname `autosign` or `validate` cannot be signed.
  app.get('/', { config: { errorPrefix: 'Failed to list certificates: ' } }, async (_request, reply) => json(reply, await certificates.list()));

  app.get('/autosign', { config: { errorPrefix: 'Failed to list autosign entries: ' } }, async (_request, reply) =>
    json(reply, await autosign.list()),
  );

  app.post('/autosign/:certname', certnamePrefix('Failed to enable autosign for'), async (request, reply) => {
    const name = autosignName(request, autosign);
    return json(reply, await autosign.add(name, tokenTtl(request)));
  });

  app.delete('/autosign/:certname', certnamePrefix('Failed to remove autosign for'), async (request, reply) => {
    await autosign.remove(autosignName(request, autosign));
    return json(reply, undefined);
  });

  // Puppet's policy script posts the PEM without a content type of its own, which Net::HTTP then
  // labels as a form: this route reads every body raw, whatever its content type says.
  await app.register(async (raw) => {
    raw.removeContentTypeParser('application/x-www-form-urlencoded');
    raw.post('/validate', { bodyLimit: MAX_CSR_BYTES, config: { errorPrefix: 'Failed to validate CSR: ' } }, async (request, reply) => {
      if (!autosign.validateCsr) throw PuppetCaError.no_validation('Provider only supports trivial autosigning');
      if (!(await autosign.validateCsr(rawBody(request)))) {
        request.proxyLog.info('CSR refused for autosigning');
        return reply.code(404).header('content-type', 'application/json').send(Buffer.alloc(0));
      }
      return json(reply, undefined);
    });
  });

  app.post('/:certname', certnamePrefix('Failed to sign certificate(s) for'), async (request, reply) => {
    await certificates.sign(certname(request));
    return json(reply, undefined);
  });

  app.delete('/:certname', certnamePrefix('Failed to remove certificate(s) for'), async (request, reply) => {
    await certificates.clean(certname(request));
    return json(reply, undefined);
  });
}
