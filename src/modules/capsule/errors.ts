// Every error of the capsule front end, and how it is answered: on the Katello routes in the JSON
// shape of the capsule's Apache error pages (spec content.md §4.1), which subscription-manager
// shows (`displayMessage`); elsewhere as the core's plain text.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorTable, type ProxyError } from '../../core/errors.ts';
import { sendError } from '../../core/http/error-handler.ts';
import type { ErrorPolicy } from '../../core/module.ts';
import { HttpClientError } from '../../lib/http/client.ts';

export const CapsuleError = errorTable('capsule', {
  /** A path that climbs out of its prefix (`..`), or cannot be decoded. */
  bad_path: 400,
  not_found: 404,
  method_not_allowed: 405,
  range_not_satisfiable: 416,
  /** The upstream answered something that is not HTTP, or broke off. */
  bad_gateway: 502,
  /** The upstream cannot be reached (refused, TLS failure, no katello_url). */
  unavailable: { status: 503, retryAfter: 5 },
  /** The upstream did not answer within the route's timeout. */
  timeout: 504,
});

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `json`: errors in the shape of the capsule's Apache error pages (Katello routes). */
    capsuleErrorBody?: 'json' | 'text';
  }
}

/** Apache's text for the 503 page the installer replaces. */
export const UNAVAILABLE_TEXT = 'Service unavailable or restarting, try later';

function send(reply: FastifyReply, request: FastifyRequest, error: ProxyError): FastifyReply {
  if (request.routeOptions.config?.capsuleErrorBody !== 'json') return sendError(reply, request, error.status, error.message, error.headers);
  const body = { displayMessage: error.message, errors: [error.message], status: String(error.status) };
  return reply.code(error.status).headers(error.headers).header('content-type', 'application/json').send(Buffer.from(JSON.stringify(body)));
}

/** A failure to reach an upstream, by kind (lib/http/client.ts names it). */
function translate(err: Error): ProxyError | undefined {
  if (!(err instanceof HttpClientError)) return undefined;
  switch (err.kind) {
    case 'timeout':
      return CapsuleError.timeout(err.message);
    case 'connect':
    case 'tls':
      return CapsuleError.unavailable(`${UNAVAILABLE_TEXT} (${err.message})`);
    default:
      return CapsuleError.bad_gateway(err.message);
  }
}

export const CAPSULE_ERRORS: ErrorPolicy = { translate, send };
