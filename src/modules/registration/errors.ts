// How registration answers a failure (spec registration.md §1.5): the host pipes the answer into a
// shell (`curl … | bash`), so a failed relay is a shell snippet that says what happened and exits 1,
// whatever went wrong (Foreman unreachable, a TLS failure, the deadline, a param that cannot be
// relayed, no foreman_url): 500, or 503 with Retry-After when too many hosts register at once.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ProxyError } from '../../core/errors.ts';
import { sendError } from '../../core/http/error-handler.ts';
import type { ErrorPolicy } from '../../core/module.ts';

export const HTML = 'text/html;charset=utf-8';
export const FAILURE_SNIPPET = 'echo "Internal Server Error"\nexit 1\n';
export const BUSY_SNIPPET = 'echo "Too many hosts are registering right now, please try again later"\nexit 1\n';

function sendSnippet(reply: FastifyReply, request: FastifyRequest, error: ProxyError): FastifyReply {
  // Framework rejections (a body over the limit …) come before the relay and keep the core's
  // plain-text error, as they always had.
  if (error.code === 'http.rejected') return sendError(reply, request, error.status, error.message, error.headers);
  const snippet = error.status === 503 ? BUSY_SNIPPET : FAILURE_SNIPPET;
  return reply.code(error.status).headers(error.headers).header('content-type', HTML).send(snippet);
}

/** Any failure is a 500 logged as `Error when rendering <route's template>: <reason>`. */
export const REGISTRATION_ERRORS: ErrorPolicy = { untypedStatus: 500, send: sendSnippet };
