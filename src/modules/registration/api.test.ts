// /register in-process (fastify inject), for what needs no Foreman: the shell snippets a failed
// relay answers (no foreman_url, a param that cannot be relayed, a refused connection, a full
// queue), framework rejections keeping the core's plain text, and the settings. The relay itself
// is tested against a stand-in Foreman in test/registration/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { Bulkhead } from '../../core/bulkhead.ts';
import { errorHandler } from '../../core/http/error-handler.ts';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import { silentLogger } from '../../core/logging.ts';
import type { Logger } from '../../core/logging-types.ts';
import registration from './module.ts';
import { BUSY_SNIPPET, FAILURE_SNIPPET, REGISTRATION_ERRORS } from './errors.ts';

const HTML = 'text/html;charset=utf-8';
// Nothing listens on port 1: the connection is refused at once.
const REFUSING_FOREMAN = { foreman_url: 'http://127.0.0.1:1' };
const json = { payload: '{"host":{}}', headers: { 'content-type': 'application/json' } };

test('without foreman_url every registration is a 500 failure snippet', async () => {
  const { app, instance, close } = await mountModule(registration);
  try {
    assert.equal(instance.softFailure, undefined);
    for (const res of [await app.inject({ method: 'GET', url: '/register?x=1' }), await app.inject({ method: 'POST', url: '/register', ...json })]) {
      assert.equal(res.statusCode, 500);
      assert.equal(res.headers['content-type'], HTML);
      assert.equal(res.body, FAILURE_SNIPPET);
    }
  } finally {
    await close();
  }
});

test('a refused connection and a list param are 500 failure snippets', async () => {
  const { app, close } = await mountModule(registration, { global: REFUSING_FOREMAN });
  try {
    const refused = await app.inject({ method: 'POST', url: '/register/', ...json });
    assert.equal(refused.statusCode, 500);
    assert.equal(refused.headers['content-type'], HTML);
    assert.equal(refused.body, FAILURE_SNIPPET);
    const list = await app.inject({ method: 'GET', url: '/register?a[]=1' });
    assertAnswer(list, 500, FAILURE_SNIPPET);
  } finally {
    await close();
  }
});

test('a body over the limit is refused before the relay with the plain 413, as before', async () => {
  const { app, close } = await mountModule(registration, { global: { ...REFUSING_FOREMAN, limits: { body_limit: 1024 } } });
  try {
    const res = await app.inject({ method: 'POST', url: '/register', payload: 'x'.repeat(2048), headers: { 'content-type': 'application/json', accept: 'text/plain' } });
    assert.equal(res.statusCode, 413);
    assert.equal(res.headers['content-type'], HTML);
    assert.equal(res.body, 'Request body is too large');
  } finally {
    await close();
  }
});

test('the error policy: a full queue is 503 with Retry-After and the busy snippet; a failure is a 500 logged with the route prefix', async () => {
  const logged: string[] = [];
  const log: Logger = { ...silentLogger, error: (message: string) => void logged.push(message) };
  // The module's own routes on a bare app, whose error handler logs to the capturing logger.
  const { instance, close } = await mountModule(registration);
  const app = Fastify();
  app.setErrorHandler(errorHandler(log, REGISTRATION_ERRORS));
  await app.register(async (scope) => instance.routes(scope, '/register'), { prefix: '/register' });
  const bulkhead = new Bulkhead({ name: 'registration', limit: 1, queue: 0 });
  let release = (): void => undefined;
  const held = bulkhead.run(() => new Promise<void>((resolve) => (release = resolve)));
  app.get('/busy', async () => bulkhead.run(async () => 'never'));
  try {
    const busy = await app.inject({ method: 'GET', url: '/busy' });
    assert.equal(busy.statusCode, 503);
    assert.equal(busy.headers['retry-after'], '5');
    assert.equal(busy.headers['content-type'], HTML);
    assert.equal(busy.body, BUSY_SNIPPET);
    for (const method of ['GET', 'POST'] as const) {
      const res = await app.inject({ method, url: '/register', ...(method === 'POST' ? json : {}) });
      assert.equal(res.statusCode, 500);
      assert.equal(res.headers['content-type'], HTML);
      assert.equal(res.body, FAILURE_SNIPPET);
    }
    assert.deepEqual(logged, [
      'registration: too many concurrent requests, try again later',
      'Error when rendering Global Registration Template: missing :foreman_url: from configuration.',
      'Error when rendering Host Registration Template: missing :foreman_url: from configuration.',
    ]);
  } finally {
    release();
    await held;
    await app.close();
    await close();
  }
});

test('settings: registration_url loses its trailing / and is exposed; one without a scheme fails the module', async () => {
  const { app, close } = await mountModule(registration, { settings: { registration_url: 'https://lb.example.com/' }, global: REFUSING_FOREMAN });
  try {
    const features = JSON.parse((await app.inject({ method: 'GET', url: '/v2/features' })).body) as Record<string, { settings: unknown }>;
    assert.deepEqual(features['registration'].settings, { registration_url: 'https://lb.example.com' });
  } finally {
    await close();
  }
  await assert.rejects(mountModule(registration, { settings: { registration_url: 'lb.example.com' } }), /Setting 'registration_url' is missing a scheme/);
  await assert.rejects(mountModule(registration, { settings: { upstream_queue: -1 } }), /^Error: registration: upstream_queue must be a whole number between 0 and 1000000, got -1$/);
});
