// The one place where an error becomes an HTTP response (spec README §6.3, §6.5). The root app
// and every module scope install a handler made here; a module's ErrorPolicy says how its own
// errors map, so routes never wrap their calls in try/catch to pick a status.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ProxyError, errorText } from '../errors.ts';
import type { Logger } from '../logging-types.ts';
import type { ErrorPolicy } from '../module.ts';

/** `application/json` when the client accepts JSON (spec README §6.3), else the framework default. */
export function errorContentType(accept: string | undefined): string {
  if (!accept || accept.trim() === '') return 'application/json';
  const types = accept.split(',').map((t) => t.split(';')[0].trim().toLowerCase());
  return types.some((t) => t === 'application/json' || t === '*/*' || t === 'application/*')
    ? 'application/json'
    : 'text/html;charset=utf-8';
}

/** The reference's plain-text error: status, message as the body, content type from Accept. */
export function sendError(reply: FastifyReply, request: FastifyRequest, status: number, message: string, headers: Record<string, string> = {}): FastifyReply {
  return (
    reply
      .code(status)
      .headers(headers)
      .header('content-type', errorContentType(request.headers.accept))
      // A Buffer keeps fastify from appending `; charset=utf-8` to the reference's content type.
      .send(Buffer.from(message))
  );
}

function prefixOf(request: FastifyRequest): string {
  const prefix = request.routeOptions.config?.errorPrefix;
  if (prefix === undefined) return '';
  return typeof prefix === 'function' ? prefix(request) : prefix;
}

/** Framework-level rejections (body too large, bad content type, malformed URL …) keep their 4xx. */
function frameworkStatus(err: unknown): number | undefined {
  const status = (err as Partial<FastifyError> | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/**
 * What an error means as a response, or undefined for an unhandled error (500). `untyped` errors
 * get the module's status with the route's prefix before their message.
 */
export function classify(err: unknown, request: FastifyRequest, policy: ErrorPolicy = {}): ProxyError | undefined {
  if (err instanceof ProxyError) return err;
  const translated = err instanceof Error ? policy.translate?.(err) : undefined;
  if (translated) return translated;
  const framework = frameworkStatus(err);
  if (framework !== undefined) return new ProxyError(framework, errorText(err), 'http.rejected');
  if (policy.untypedStatus !== undefined) {
    return new ProxyError(policy.untypedStatus, `${prefixOf(request)}${errorText(err)}`, 'backend.failed');
  }
  return undefined;
}

/** A fastify error handler: logs once, at the edge, and answers per the policy. */
export function errorHandler(log: Logger, policy: ErrorPolicy = {}) {
  return (err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply | void => {
    const rlog = request.proxyLog ?? log;
    const error = classify(err, request, policy);
    if (error === undefined) {
      rlog.error(`Unhandled error: ${errorText(err)}`, err);
      if (reply.sent) return;
      return reply.code(500).header('content-type', 'text/html').send('<h1>Internal Server Error</h1>');
    }
    rlog.error(error.message, error.status >= 500 ? err : undefined);
    if (reply.sent) return;
    if (policy.send) return policy.send(reply, request, error);
    return sendError(reply, request, error.status, error.message, error.headers);
  };
}
