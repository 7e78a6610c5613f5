// /realm routes (spec realm.md §1). Answers are pretty-printed JSON, as the reference's.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import type { ModuleInstance } from '../../core/module.ts';
import { str } from '../../core/params.ts';
import { RealmError } from './errors.ts';
import type { RealmProvider } from './provider.ts';

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

/** A host name IPA could hold; anything else is refused before it reaches IPA. */
export function checkHostname(value: string | undefined): string {
  if (value === undefined || value === '') throw RealmError.invalid_hostname("Missing required parameter 'hostname'");
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
    throw RealmError.invalid_hostname(`Invalid hostname ${JSON.stringify(value)}: expected a fully qualified host name`);
  }
  return name;
}

function checkUserclass(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/[\u0000-\u001f\u007f]/.test(value) || value.length > 1024) {
    throw RealmError.invalid_userclass('Invalid userclass: control characters are not allowed (max 1024 characters)');
  }
  return value;
}

function pretty(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(value ?? null, null, 2));
}

/** The running realm module: its provider behind one bulkhead shared by every listener. */
export function realmModule(provider: RealmProvider): ModuleInstance {
  // A slow IPA server queues realm requests only; past the queue, callers get 503 + Retry-After.
  const bulkhead = new Bulkhead({ name: 'realm', limit: 8, queue: 128, queueTimeoutMs: 30_000 });
  return {
    routes: (app) => realmRoutes(app, provider, bulkhead),
  };
}

function realmRoutes(app: FastifyInstance, provider: RealmProvider, bulkhead: Bulkhead): void {
  app.post<{ Params: { realm: string } }>('/:realm', async (request, reply) => {
    const p = params(request);
    const hostname = checkHostname(str(p, 'hostname'));
    const userclass = checkUserclass(str(p, 'userclass'));
    const rebuild = str(p, 'rebuild') === 'true';
    const result = await bulkhead.run(() => provider.create(request.params.realm, { hostname, userclass, rebuild }));
    return pretty(reply, result);
  });

  app.delete<{ Params: { realm: string; hostname: string } }>('/:realm/:hostname', async (request, reply) => {
    const hostname = checkHostname(request.params.hostname);
    const result = await bulkhead.run(() => provider.remove(request.params.realm, hostname));
    return pretty(reply, result);
  });
}
