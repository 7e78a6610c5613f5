// Per-path exceptions to a module's authorization: public paths pass trusted_hosts; paths that
// identify hosts by their own certificate refuse callers without one (plain HTTP has none).

import { test } from 'node:test';
import { defineModule } from '../module.ts';
import { assertAnswer, mountModule } from '../inject.ts';
import * as setting from '../settings/schema.ts';

const guarded = defineModule({
  name: 'guarded',
  summary: 'test module',
  prefixes: ['/guarded'],
  audience: 'foreman',
  authorize: true,
  pathAuthorization: { '/guarded/public': 'none', '/guarded/hosts': 'client-certificate' },
  settings: setting.settings({}),
  create: () => ({
    routes(app) {
      app.get('/public', async () => 'public');
      app.get('/publicity', async () => 'not public');
      app.get('/hosts/:id', async (request) => `host ${request.clientCertificateCn ?? ''}`);
      app.get('/private', async () => 'private');
    },
  }),
});

test('public paths skip trusted_hosts; certificate paths need the caller’s certificate; the rest stays guarded', async (t) => {
  const { app } = await mountModule(guarded, { global: { trusted_hosts: ['foreman.example.com'] } }, t);
  assertAnswer(await app.inject({ method: 'GET', url: '/guarded/public' }), 200, 'public');
  // A sibling whose name starts alike is not exempt.
  assertAnswer(await app.inject({ method: 'GET', url: '/guarded/publicity' }), 403, /Untrusted client|unable to resolve/);
  assertAnswer(await app.inject({ method: 'GET', url: '/guarded/hosts/1' }), 403, /could not read client cert from environment/);
  assertAnswer(await app.inject({ method: 'GET', url: '/guarded/private' }), 403, /Untrusted client|unable to resolve/);
});
