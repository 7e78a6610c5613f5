// Building blocks of the modules' openapi.ts files: the spec's recurring bodies (plain-text errors
// labelled as JSON, the JSON 404, 503 with Retry-After) and short forms of parameters and bodies.

import type { OpenApiParameter, OpenApiResponse, OpenApiResponseObject } from './types.ts';

type Schema = Record<string, unknown>;

/** A response whose body is plain text (`text/plain`), with an optional example. */
export function text(description: string, example?: string, mediaType = 'text/plain'): OpenApiResponseObject {
  return { description, content: { [mediaType]: { schema: { type: 'string' }, ...(example === undefined ? {} : { example }) } } };
}

/** A JSON response with its schema and an optional example. */
export function json(description: string, schema: Schema, example?: unknown): OpenApiResponseObject {
  return { description, content: { 'application/json': { schema, ...(example === undefined ? {} : { example }) } } };
}

/** A response with no body described (an empty body or a body the route passes through as is). */
export function empty(description: string): OpenApiResponseObject {
  return { description };
}

/**
 * The reference's error response (spec README §6.3): the message as a plain-text body, labelled
 * `application/json` when the client accepts JSON (Foreman does) and `text/html;charset=utf-8`
 * otherwise. `example` is the message.
 */
export function error(description: string, example?: string): OpenApiResponseObject {
  const media = { schema: { type: 'string', description: 'The error message as plain text (not JSON).' }, ...(example === undefined ? {} : { example }) };
  return { description, content: { 'application/json': media, 'text/html': media } };
}

/** A reference to one of the shared responses below. */
export const ref = {
  /** 403 from trusted_hosts or the client-certificate check. */
  forbidden: { $ref: '#/components/responses/Forbidden' },
  /** 404 `Requested url was not found` (no such route, or a disabled module). */
  notFound: { $ref: '#/components/responses/NotFound' },
  /** 503 with Retry-After: a bulkhead's queue is full. */
  busy: { $ref: '#/components/responses/Busy' },
  /** 500 `<h1>Internal Server Error</h1>`. */
  internal: { $ref: '#/components/responses/InternalError' },
} as const satisfies Record<string, OpenApiResponse>;

/** components.responses of the document (the targets of `ref`). */
export const sharedResponses: Record<string, OpenApiResponseObject> = {
  Forbidden: {
    description:
      'The caller is not authorized (spec README §5): over HTTPS its client certificate is missing or its CN is not in `trusted_hosts`; ' +
      'over HTTP the reverse (and forward-verified) DNS name of the peer is not in `trusted_hosts`. Checked before routing, so ' +
      'unknown paths below a protected prefix get 403 too.',
    content: {
      'application/json': {
        schema: { type: 'string', description: 'The reason as plain text (not JSON).' },
        examples: {
          untrusted: { value: 'Untrusted client foreman.example.org attempted to access /example.org/A. Check :trusted_hosts: in settings.yml' },
          noCertificate: { value: 'No client SSL certificate supplied' },
        },
      },
    },
  },
  NotFound: {
    description: 'No such route (also a wrong method, or a module that is not running). The body is plain text, labelled JSON.',
    content: { 'application/json': { schema: { type: 'string' }, example: 'Requested url was not found' } },
  },
  Busy: {
    description:
      'The backend is saturated (its bulkhead queue is full) or unreachable for now, or the proxy is shutting down. Retry after the given seconds.',
    headers: { 'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } } },
    content: { 'application/json': { schema: { type: 'string' }, example: 'dns backend busy, retry later' } },
  },
  InternalError: {
    description: 'An unhandled error (logged with its stack).',
    content: { 'text/html': { schema: { type: 'string' }, example: '<h1>Internal Server Error</h1>' } },
  },
};

/** A path parameter. */
export function path(name: string, description: string, schema: Schema = { type: 'string' }): OpenApiParameter {
  return { name, in: 'path', required: true, description, schema };
}

/** A query parameter (optional unless `required`). */
export function query(name: string, description: string, schema: Schema = { type: 'string' }, required = false): OpenApiParameter {
  return { name, in: 'query', required, description, schema };
}

/** A request header parameter. */
export function header(name: string, description: string, required = false, schema: Schema = { type: 'string' }): OpenApiParameter {
  return { name, in: 'header', required, description, schema };
}

/**
 * A form body (spec README §6.1): `application/x-www-form-urlencoded` fields, which the proxy also
 * accepts in the query string (query ∪ form, path parameters win).
 */
export function form(properties: Record<string, Schema>, required: readonly string[] = [], description?: string): Record<string, unknown> {
  const schema: Schema = { type: 'object', properties, ...(required.length > 0 ? { required: [...required] } : {}) };
  return {
    ...(description === undefined ? {} : { description }),
    required: required.length > 0,
    content: { 'application/x-www-form-urlencoded': { schema } },
  };
}

/** A JSON request body. */
export function jsonBody(schema: Schema, description?: string, required = true): Record<string, unknown> {
  return { ...(description === undefined ? {} : { description }), required, content: { 'application/json': { schema } } };
}

/** `{ type: 'string', description }` and friends, for short property lists. */
export const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
export const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', description, ...extra });
export const bool = (description: string): Schema => ({ type: 'boolean', description });
export const arrayOf = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description === undefined ? {} : { description }) });
export const obj = (properties: Record<string, Schema>, description?: string, extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  ...(description === undefined ? {} : { description }),
  ...extra,
});
