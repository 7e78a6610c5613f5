// What a relayed request carries: its Rack-style params and its body exactly as received. The
// core parses form bodies into params and drops the bytes, but a relay must forward the body
// verbatim (a host posting a log with curl -d sends it labelled as a form, `POST /register` relays
// a form body as is), so the relaying module's own scope keeps both. Also used by registration,
// which requires templates.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseRackQuery, type Params } from '../../core/params.ts';

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
