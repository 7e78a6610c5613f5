// The merged parameters of a request (spec README §6.1): query ∪ form body (body wins), then path
// parameters override both.

import type { FastifyRequest } from 'fastify';
import { parseRackQuery, type Params, type ParamValue } from '../params.ts';

function isForm(body: unknown): body is Params {
  return typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && !Array.isArray(body);
}

export function params(request: FastifyRequest): Params {
  const url = request.raw.url ?? '';
  const q = url.indexOf('?');
  const merged: Params = q >= 0 ? parseRackQuery(url.slice(q + 1)) : (Object.create(null) as Params);
  if (isForm(request.body)) Object.assign(merged, request.body);
  const pathParams = request.params as Record<string, ParamValue> | undefined;
  if (pathParams) {
    for (const [k, v] of Object.entries(pathParams)) if (v !== undefined) merged[k] = v;
  }
  return merged;
}

/** The raw request body (for content types other than form-urlencoded), or an empty buffer. */
export function rawBody(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}
