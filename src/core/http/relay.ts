// Relay plumbing for modules that pass a host's request on to Foreman and stream Foreman's answer
// back (templates, registration): what a relayed request carries, and how the answer goes back.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { HttpResponse } from '../../lib/http/client.ts';
import { parseRackQuery, type Params } from '../params.ts';

/** Aborts when the host hangs up before its answer is sent, so the Foreman call is dropped too. */
export function abortOnClientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ac = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) ac.abort(new Error('client went away'));
  });
  request.raw.once('aborted', () => ac.abort(new Error('client went away')));
  return ac.signal;
}

/** The answer headers of Foreman that travel to the host with its body. */
export interface BodyHeaders {
  readonly 'content-length'?: string | string[] | undefined;
  readonly 'content-encoding'?: string | string[] | undefined;
}

/**
 * Stream a body to the host as a 200 HTML page, keeping Foreman's encoding (or its length when not
 * encoded). Resolves once the body is through, so that the caller's bulkhead slot is held for the
 * real upstream work.
 */
export async function streamBody(reply: FastifyReply, body: Readable, headers: BodyHeaders): Promise<FastifyReply> {
  reply.code(200).header('content-type', 'text/html;charset=utf-8');
  const length = headers['content-length'];
  const encoding = headers['content-encoding'];
  if (typeof encoding === 'string') reply.header('content-encoding', encoding);
  else if (typeof length === 'string') reply.header('content-length', length);
  reply.send(body);
  await finished(body).catch(() => undefined);
  return reply;
}

/** Stream Foreman's successful answer to the host as a 200 HTML page (see streamBody). */
export async function streamSuccess(reply: FastifyReply, res: HttpResponse): Promise<FastifyReply> {
  return streamBody(reply, res.body, res.headers);
}

/** Send a body held in memory (an answer shared by several hosts) as a 200 HTML page. */
export function sendBody(reply: FastifyReply, body: Buffer, contentEncoding: string | undefined): FastifyReply {
  reply.code(200).header('content-type', 'text/html;charset=utf-8');
  if (contentEncoding !== undefined) reply.header('content-encoding', contentEncoding);
  return reply.send(body);
}

// What a relayed request carries: its Rack-style params and its body exactly as received. The
// core parses form bodies into params and drops the bytes, but a relay must forward the body
// verbatim (a host posting a log with curl -d sends it labelled as a form, `POST /register` relays
// a form body as is), so the relaying module's own scope keeps both.

const FORM = 'application/x-www-form-urlencoded';

interface FormBody {
  readonly kind: 'form';
  readonly raw: Buffer;
  readonly fields: Params;
}

function isFormBody(body: unknown): body is FormBody {
  return typeof body === 'object' && body !== null && (body as FormBody).kind === 'form' && Buffer.isBuffer((body as FormBody).raw);
}

/** Keep the raw bytes of form bodies in this scope (parsers are encapsulated per fastify scope). */
export function keepRawFormBodies(app: FastifyInstance): void {
  app.removeContentTypeParser(FORM);
  app.addContentTypeParser(FORM, { parseAs: 'buffer' }, (_req, body, done) => {
    const raw = body as Buffer;
    const form: FormBody = { kind: 'form', raw, fields: parseRackQuery(raw.toString('utf8')) };
    done(null, form);
  });
}

/** The body bytes as received (empty for GET). */
export function bodyBytes(request: FastifyRequest): Buffer {
  const body = request.body;
  if (Buffer.isBuffer(body)) return body;
  if (isFormBody(body)) return body.raw;
  return Buffer.alloc(0);
}

/**
 * Query params, then form fields (a field wins over a query param of the same name), then path
 * params, in the order Rack and Sinatra build them.
 */
export function requestParams(request: FastifyRequest, withPath = true): Params {
  const url = request.raw.url ?? '';
  const q = url.indexOf('?');
  const merged: Params = q >= 0 ? parseRackQuery(url.slice(q + 1)) : (Object.create(null) as Params);
  if (isFormBody(request.body)) Object.assign(merged, request.body.fields);
  if (withPath) {
    const path = request.params as Record<string, string | undefined> | undefined;
    for (const [k, v] of Object.entries(path ?? {})) if (v !== undefined) merged[k] = v;
  }
  return merged;
}
