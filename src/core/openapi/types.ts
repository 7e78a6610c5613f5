// The OpenAPI 3.1 description a module gives of its own routes (ModuleDefinition.apiDocs). The
// core merges every running module's docs with the root routes into one document
// (core/openapi/generate.ts); components.ts has the shared building blocks.

/** An OpenAPI Response Object. */
export type OpenApiResponseObject = Record<string, unknown> & { description: string };

/** A Response Object, or a reference to one of components.responses. */
export type OpenApiResponse = OpenApiResponseObject | { $ref: string };

/** An OpenAPI Parameter Object. Path parameters the route has are added when not documented. */
export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  description?: string;
  required?: boolean;
  schema?: Record<string, unknown>;
  [extension: string]: unknown;
}

/** An OpenAPI 3.1 Operation Object (summary, parameters, requestBody, responses …). */
export type OpenApiOperation = Record<string, unknown> & {
  summary: string;
  description?: string;
  parameters?: readonly OpenApiParameter[];
  responses: Record<string, OpenApiResponse>;
};

/**
 * The module's routes: `'<METHOD> <path as mounted, fastify syntax>'` → operation, e.g.
 * `'GET /dns/:value/:type'`; a module's `'/'` route is keyed by its prefix (`'GET /logs'`), a
 * wildcard keeps its `*` (`'GET /httpboot/*'`). Every route the module registers must have an
 * entry and every entry must name a route (src/core/openapi/modules.test.ts and test/openapi check
 * both). The HEAD route fastify adds beside each GET is not listed; an explicit HEAD route is, when
 * it is registered in a method list (`method: ['GET', 'HEAD']`): a lone `app.head()` looks like
 * fastify's own.
 */
export type ModuleApiDocs = Readonly<Record<string, OpenApiOperation>>;
