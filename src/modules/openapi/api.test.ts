// The openapi module in-process: the document of the running modules, rebuilt when a module's
// instance changes (a reload), `servers` from the request, and the module's own authorization.
// Over real sockets with every module and the linter: test/openapi/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountModule } from '../../core/inject.ts';
import type { ModuleRecord } from '../../core/lifecycle.ts';
import { LogBuffer } from '../../core/log-buffer.ts';
import { silentLogger } from '../../core/logging.ts';
import { ProxyMetrics } from '../../core/metrics.ts';
import type { ModuleDefinition, ModuleInstance, ProxyIntrospection } from '../../core/module.ts';
import dns from '../dns/module.ts';
import openapi from './module.ts';
import { openapiModule } from './api.ts';

function record(def: ModuleDefinition, instance: ModuleInstance): ModuleRecord {
  return { def, state: 'running', enabled: 'both', settings: {}, providerIds: [], providerSettings: [], instance, failure: undefined, problem: undefined };
}

function introspection(records: Map<string, ModuleRecord>): ProxyIntrospection {
  return { logBuffer: new LogBuffer(10, 10), failedModules: () => ({}), metrics: new ProxyMetrics(), modules: () => records, listeners: () => [] };
}

type Doc = { servers: { url: string }[]; paths: Record<string, Record<string, { summary: string }>> };

test('the document of the running modules, kept until a module instance changes', async (t) => {
  const dnsMount = await mountModule(dns, { providers: { dns_nsupdate: {} } }, t);
  let listed = 0;
  const counted: ModuleInstance = {
    routes: (scope, prefix) => {
      listed += 1;
      return dnsMount.instance.routes(scope, prefix);
    },
  };
  const records = new Map([['dns', record(dns as unknown as ModuleDefinition, counted)]]);
  const instance = openapiModule(introspection(records), silentLogger);
  records.set('openapi', record(openapi as unknown as ModuleDefinition, instance));
  const { app } = await mountModule({ ...openapi, create: () => instance }, {}, t);

  const first = await app.inject({ method: 'GET', url: '/apidoc/openapi.json', headers: { host: 'proxy.example.test:8000' } });
  assert.equal(first.statusCode, 200, first.body);
  assert.equal(first.headers['content-type'], 'application/json; charset=utf-8');
  const doc = JSON.parse(first.body) as Doc;
  assert.deepEqual(doc.servers.map((s) => s.url), ['http://proxy.example.test:8000']);
  assert.deepEqual(Object.keys(doc.paths).sort(), ['/apidoc/openapi.json', '/dns', '/dns/{value}', '/dns/{value}/{type}', '/features', '/v2/features', '/version']);

  const otherHost = JSON.parse((await app.inject({ method: 'GET', url: '/apidoc/openapi.json', headers: { host: '192.0.2.1:8000' } })).body) as Doc;
  assert.deepEqual(otherHost.servers.map((s) => s.url), ['http://192.0.2.1:8000']);
  assert.equal(listed, 1, 'the routes were listed once: later requests use the same build');

  // A reload restarted dns with a new instance that serves one more route: the document follows.
  const reloaded: ModuleInstance = {
    async routes(scope, prefix) {
      await dnsMount.instance.routes(scope, prefix);
      scope.get('/extra', async () => '');
    },
  };
  records.set('dns', record(dns as unknown as ModuleDefinition, reloaded));
  const after = JSON.parse((await app.inject({ method: 'GET', url: '/apidoc/openapi.json', headers: { host: 'proxy.example.test:8000' } })).body) as Doc;
  assert.match(after.paths['/dns/extra'].get.summary, /undocumented/);

  // A stopped module leaves the document.
  records.delete('dns');
  const stopped = JSON.parse((await app.inject({ method: 'GET', url: '/apidoc/openapi.json', headers: { host: 'proxy.example.test:8000' } })).body) as Doc;
  assert.equal(stopped.paths['/dns'], undefined);
});

test('an untrusted caller gets 403, as on every protected module', async (t) => {
  const { app } = await mountModule(openapi, { global: { trusted_hosts: [] } }, t);
  const res = await app.inject({ method: 'GET', url: '/apidoc/openapi.json' });
  assert.equal(res.statusCode, 403);
  assert.match(res.body, /^Untrusted client .* attempted to access \/openapi.json/);
});
