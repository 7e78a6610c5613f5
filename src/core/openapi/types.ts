// The OpenAPI 3.1 description a module gives of its own routes (ModuleDefinition.apiDocs). The
// core merges every running module's docs with the root routes into one document.
//
// Skeleton written by the lead; the OpenAPI work (issue 13) refines it.

/** An OpenAPI 3.1 Operation Object (summary, parameters, requestBody, responses …). */
export type OpenApiOperation = Record<string, unknown> & {
  summary: string;
  responses: Record<string, Record<string, unknown> & { description: string }>;
};

/**
 * The module's routes: `'<METHOD> <path as mounted, fastify syntax>'` → operation, e.g.
 * `'GET /dns/:value/:type'`. Every route the module registers must have an entry (a test checks).
 */
export type ModuleApiDocs = Readonly<Record<string, OpenApiOperation>>;
