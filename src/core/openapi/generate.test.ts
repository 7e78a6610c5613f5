// The OpenAPI generator: paths and operations from the routes fastify registers, docs merged from
// each module's openapi.ts, authorization per route, and the drift check between routes and docs.
// test/openapi/ checks a whole proxy over real sockets and lints the document.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountModule } from '../inject.ts';
import { defineModule, type ModuleDefinition } from '../module.ts';
import * as setting from '../settings/schema.ts';
import dns from '../../modules/dns/module.ts';
import httpboot from '../../modules/httpboot/module.ts';
import { buildApiDocument, routeKey } from './generate.ts';

type Operation = Record<string, unknown> & { parameters?: Array<Record<string, unknown>>; responses: Record<string, Record<string, unknown>> };
type Paths = Record<string, Record<string, Operation>>;

test('dns and httpboot: paths from the registered routes, docs merged, authorization per module, root routes', async (t) => {
  const d = await mountModule(dns, { providers: { dns_nsupdate: {} } }, t);
  const h = await mountModule(httpboot, { settings: { root_dir: '/nonexistent' } }, t);
  const result = await buildApiDocument({
    modules: [
      { def: dns as unknown as ModuleDefinition, instance: d.instance },
      { def: httpboot as unknown as ModuleDefinition, instance: h.instance },
    ],
    version: '9.9.9',
  });
  assert.deepEqual(result.undocumented, []);
  assert.deepEqual(result.unmatched, []);
  assert.deepEqual(result.failures, {});
  const doc = result.document as { openapi: string; info: { version: string }; paths: Paths; components: Record<string, Record<string, unknown>>; security: unknown };
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(doc.info.version, '9.9.9');
  assert.deepEqual(doc.security, [{ mutualTLS: [] }]);
  assert.deepEqual(Object.keys(doc.components.securitySchemes), ['mutualTLS']);
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/EFI',
    '/EFI/{path}',
    '/dns',
    '/dns/{value}',
    '/dns/{value}/{type}',
    '/features',
    '/httpboot',
    '/httpboot/{path}',
    '/v2/features',
    '/version',
  ]);

  const create = doc.paths['/dns'].post;
  assert.equal(create.summary, 'Create a DNS record');
  assert.equal(create.operationId, 'dns_POST_dns');
  assert.deepEqual(create.tags, ['dns']);
  assert.equal(create['x-audience'], 'foreman');
  assert.equal(create.security, undefined, 'protected routes inherit the document security');
  assert.deepEqual(create.responses['403'], { $ref: '#/components/responses/Forbidden' }, 'the generator adds 403 to protected routes');
  const conflict = create.responses['409'].content as Record<string, { example: string }>;
  assert.equal(conflict['application/json'].example, "'host.example.com 'is already in use");

  // Path parameters: the documented ones replace the generated ones, in the route's order.
  const remove = doc.paths['/dns/{value}/{type}'].delete;
  assert.deepEqual(
    remove.parameters?.map((p) => [p.name, p.in, p.required]),
    [
      ['value', 'path', true],
      ['type', 'path', true],
    ],
  );
  assert.match(String(remove.parameters?.[1].description), /case-sensitive/);

  // Explicit HEAD routes are documented; the wildcard is a named parameter; public routes say so.
  const file = doc.paths['/httpboot/{path}'];
  assert.deepEqual(Object.keys(file).sort(), ['get', 'head']);
  assert.deepEqual(file.get.security, []);
  assert.equal(file.get['x-audience'], 'client');
  assert.equal(file.get.responses['403'] !== undefined, true, 'its own 403 (a directory), not the Forbidden reference');
  assert.deepEqual(file.get.parameters?.[0].name, 'path');

  assert.deepEqual(doc.paths['/features'].get.security, []);
  assert.equal(doc.paths['/features'].get['x-audience'], 'both');
  assert.equal(doc.paths['/v2/features'].get.security, undefined);
  assert.ok(doc.paths['/v2/features'].get.responses['403']);
  // GET routes are documented once: the HEAD fastify adds beside them is not an operation.
  assert.equal(doc.paths['/features'].head, undefined);
});

test('routes without docs and docs without routes are both reported; the document still lists the route', async () => {
  const def = defineModule({
    name: 'demo',
    summary: 'Demo.',
    prefixes: ['/demo'],
    audience: 'foreman',
    authorize: true,
    pathAuthorization: { '/demo/open': 'none', '/demo/mine': 'client-certificate' },
    settings: setting.EMPTY_SETTINGS,
    apiDocs: async () => ({
      'GET /demo': { summary: 'Root', responses: { '200': { description: 'ok' } } },
      'GET /demo/open': { summary: 'Open', responses: { '200': { description: 'ok' } } },
      'GET /demo/mine/:id': { summary: 'Mine', responses: { '200': { description: 'ok' } } },
      'DELETE /demo/gone': { summary: 'Stale', responses: { '200': { description: 'ok' } } },
    }),
    create: () => ({ routes: () => undefined }),
  });
  const instance = {
    routes(app: import('fastify').FastifyInstance) {
      app.get('/', async () => '');
      app.get('/open', async () => '');
      app.get('/mine/:id', async () => '');
      app.post('/new', async () => '');
    },
  };
  const result = await buildApiDocument({ modules: [{ def: def as unknown as ModuleDefinition, instance }], version: '1', root: false });
  assert.deepEqual(result.undocumented, [{ module: 'demo', key: 'POST /demo/new' }]);
  assert.deepEqual(result.unmatched, [{ module: 'demo', key: 'DELETE /demo/gone' }]);
  const paths = (result.document as { paths: Paths }).paths;
  assert.match(String(paths['/demo/new'].post.summary), /undocumented/);
  assert.deepEqual(paths['/demo/open'].get.security, []);
  assert.equal(paths['/demo/mine/{id}'].get.security, undefined);
  assert.match(String(paths['/demo/mine/{id}'].get.description), /own client certificate/);
  assert.deepEqual(paths['/demo'].get.responses['403'], { $ref: '#/components/responses/Forbidden' });
});

test('a module whose routes throw on the throwaway app is reported, the others are still documented', async (t) => {
  const broken = defineModule({
    name: 'broken',
    summary: 'Broken.',
    prefixes: ['/broken'],
    audience: 'foreman',
    authorize: true,
    settings: setting.EMPTY_SETTINGS,
    create: () => ({ routes: () => undefined }),
  });
  const d = await mountModule(dns, { providers: { dns_nsupdate: {} } }, t);
  const result = await buildApiDocument({
    modules: [
      {
        def: broken as unknown as ModuleDefinition,
        instance: {
          routes() {
            throw new Error('no backend');
          },
        },
      },
      { def: dns as unknown as ModuleDefinition, instance: d.instance },
    ],
    version: '1',
    root: false,
  });
  assert.deepEqual(result.failures, { broken: 'its routes could not be listed: no backend' });
  assert.ok((result.document as { paths: Paths }).paths['/dns'].post);
});

test('routeKey: upper-case method, no trailing slash except the root', () => {
  assert.equal(routeKey('get', '/dns/'), 'GET /dns');
  assert.equal(routeKey('GET', '/'), 'GET /');
  assert.equal(routeKey('delete', '/dns/:value'), 'DELETE /dns/:value');
});
