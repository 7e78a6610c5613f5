// Relay plumbing shared by the templates routes and the registration module (which requires
// templates): both pass a host's request on to Foreman and stream Foreman's answer back.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { finished } from 'node:stream/promises';
import type { HttpResponse } from '../../lib/http/client.ts';

/** Aborts when the host hangs up before its answer is sent, so the Foreman call is dropped too. */
export function abortOnClientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new Error('client went away'));
  });
  request.raw.once('aborted', () => ac.abort(new Error('client went away')));
  return ac.signal;
}

/**
 * Stream Foreman's successful answer to the host as a 200 HTML page, keeping its encoding (or its
 * length when not encoded). Resolves once the body is through, so that the caller's bulkhead slot
 * is held for the real upstream work.
 */
export async function streamSuccess(reply: FastifyReply, res: HttpResponse): Promise<FastifyReply> {
  reply.code(200).header('content-type', 'text/html;charset=utf-8');
  const length = res.headers['content-length'];
  const encoding = res.headers['content-encoding'];
  if (typeof encoding === 'string') reply.header('content-encoding', encoding);
  else if (typeof length === 'string') reply.header('content-length', length);
  reply.send(res.body);
  await finished(res.body).catch(() => undefined);
  return reply;
}
