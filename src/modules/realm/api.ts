// /realm routes (spec realm.md §1). Answers are pretty-printed JSON, as the reference's.

import type { FastifyInstance, FastifyReply } from 'fastify';
import { ProxyError } from '../../core/errors.ts';
import type { Bulkhead } from '../../core/bulkhead.ts';
import { params } from '../../core/http/request-params.ts';
import { str } from '../../core/params.ts';
import type { RealmProvider } from './provider.ts';

export interface RealmRuntime {
  readonly provider: RealmProvider;
  readonly bulkhead: Bulkhead;
}

const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/;

/** A host name IPA could hold; anything else is refused before it reaches IPA. */
export function checkHostname(value: string | undefined): string {
  if (value === undefined || value === '') throw new ProxyError(400, "Missing required parameter 'hostname'", 'realm.hostname');
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length > 253 || !name.split('.').every((l) => LABEL.test(l))) {
    throw new ProxyError(400, `Invalid hostname ${JSON.stringify(value)}: expected a fully qualified host name`, 'realm.hostname');
  }
  return name;
}

function checkUserclass(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (/[\u0000-\u001f\u007f]/.test(value) || value.length > 1024) {
    throw new ProxyError(400, 'Invalid userclass: control characters are not allowed (max 1024 characters)', 'realm.userclass');
  }
  return value;
}

function pretty(reply: FastifyReply, value: unknown): FastifyReply {
  return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(value ?? null, null, 2));
}

export function realmRoutes(app: FastifyInstance, rt: RealmRuntime): void {
  app.post<{ Params: { realm: string } }>('/:realm', async (request, reply) => {
    const p = params(request);
    const hostname = checkHostname(str(p, 'hostname'));
    const userclass = checkUserclass(str(p, 'userclass'));
    const rebuild = str(p, 'rebuild') === 'true';
    const result = await rt.bulkhead.run(() => rt.provider.create(request.params.realm, { hostname, userclass, rebuild }));
    return pretty(reply, result);
  });

  app.delete<{ Params: { realm: string; hostname: string } }>('/:realm/:hostname', async (request, reply) => {
    const hostname = checkHostname(request.params.hostname);
    const result = await rt.bulkhead.run(() => rt.provider.remove(request.params.realm, hostname));
    return pretty(reply, result);
  });
}
