// /unattended and /userdata in-process (fastify inject), for what needs no Foreman: templateServer,
// the legacy failure without foreman_url, requests refused before Foreman is called, a refused
// connection (no listening socket needed) and the settings checks. The relay itself is tested
// against a stand-in Foreman in test/templates/.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { assertAnswer, mountModule } from '../../core/inject.ts';
import templates from './module.ts';
import { TemplatesError } from './errors.ts';
import type { TemplatesExports } from './api.ts';

const TEMPLATE_URL = 'http://proxy.example.com:8000';
// Nothing listens on port 1: the connection is refused at once.
const REFUSING_FOREMAN = { foreman_url: 'http://127.0.0.1:1' };

/**
 * GET `path` byte for byte through the app's request handler: inject() resolves `%2E%2E` as a URL
 * does before routing, while a host's request line reaches the router as sent.
 */
async function getRawPath(app: FastifyInstance, path: string): Promise<{ status: number; body: string }> {
  const written: Buffer[] = [];
  const socket = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, callback) => {
      written.push(chunk);
      callback();
    },
  });
  const req = new IncomingMessage(socket as never);
  req.method = 'GET';
  req.url = path;
  req.headers = { host: 'localhost' };
  req.push(null);
  const res = new ServerResponse(req);
  res.assignSocket(socket as never);
  const finished = new Promise((resolve) => res.once('finish', resolve));
  app.server.emit('request', req, res);
  await finished;
  const raw = Buffer.concat(written).toString();
  const split = raw.indexOf('\r\n\r\n');
  return { status: Number(raw.split(' ')[1]), body: raw.slice(split + 4) };
}

const mounted = (t: TestContext, global: Record<string, unknown> = REFUSING_FOREMAN) =>
  mountModule(templates, { settings: { template_url: TEMPLATE_URL }, global }, t);

test('templateServer answers template_url as application/json without calling Foreman', async (t) => {
  const { app, instance } = await mounted(t);
  assert.equal(instance.softFailure, undefined);
  const res = await app.inject({ method: 'GET', url: '/unattended/templateServer' });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.body, `{"templateServer":"${TEMPLATE_URL}"}`);
});

test('without foreman_url the instance reports the legacy failure and every relay fails (400, userdata 500)', async (t) => {
  const { app, instance } = await mounted(t, {});
  assert.equal(instance.softFailure, 'missing :foreman_url: from configuration.');
  assert.equal((await app.inject({ method: 'GET', url: '/unattended/templateServer' })).statusCode, 200);
  const res = await app.inject({ method: 'GET', url: '/unattended/provision' });
  assert.equal(res.statusCode, 400);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.body, 'Failed to proxy /provision for {"kind"=>"provision"}: missing :foreman_url: from configuration.');
  const hg = await app.inject({ method: 'GET', url: '/unattended/a/b/c', headers: { accept: 'text/plain' } });
  assert.equal(hg.statusCode, 400);
  assert.equal(hg.headers['content-type'], 'text/html;charset=utf-8');
  assert.equal(hg.body, 'Failed to retrieve a hostgroup template for {"kind"=>"a", "template"=>"b", "hostgroup"=>"c"}: missing :foreman_url: from configuration.');
  const post = await app.inject({ method: 'POST', url: '/unattended/failed?token=t', payload: 'log', headers: { 'content-type': 'text/plain' } });
  assertAnswer(post, 400, 'Failed to proxy /failed for {"token"=>"t", "kind"=>"failed"}: missing :foreman_url: from configuration.');
  const ud = await app.inject({ method: 'GET', url: '/userdata/user-data' });
  assertAnswer(ud, 500, 'Failed to retrieve user-data userdata template for {"kind"=>"user-data"}: missing :foreman_url: from configuration.');
});

test('dot segments are refused before Foreman is called (400, userdata 500)', async (t) => {
  const { app } = await mounted(t);
  const up = await getRawPath(app, '/unattended/%2E%2E');
  assert.equal(up.status, 400);
  assert.equal(up.body, `Failed to proxy /.. for {"kind"=>".."}: '..' is not a valid path segment`);
  const hg = await getRawPath(app, '/unattended/x/%2e%2e/%2e');
  assert.equal(hg.status, 400);
  assert.match(hg.body, /: '\.\.' is not a valid path segment$/);
  const ud = await getRawPath(app, '/userdata/%2e');
  assert.equal(ud.status, 500);
  assert.match(ud.body, /^Failed to retrieve \. userdata template for \{"kind"=>"\."\}: '\.' is not a valid path segment$/);
});

test('list or map params are refused naming the parameter (400, userdata 500)', async (t) => {
  const { app } = await mounted(t);
  const list = await app.inject({ method: 'GET', url: '/unattended/provision?a[]=1&a[]=2' });
  assertAnswer(list, 400, /^Failed to proxy \/provision for .*: parameter 'a' must be a single value, not a list$/);
  const map = await app.inject({ method: 'GET', url: '/userdata/meta-data?h[k]=v' });
  assertAnswer(map, 500, /: parameter 'h' must be a single value, not a map$/);
});

test('a refused connection is 400 (userdata 500) with the route prefix', async (t) => {
  const { app } = await mounted(t);
  const res = await app.inject({ method: 'GET', url: '/unattended/provision?token=abc' });
  assert.equal(res.statusCode, 400);
  assert.ok(res.body.startsWith('Failed to proxy /provision for {"token"=>"abc", "kind"=>"provision"}: Failed to open TCP connection to 127.0.0.1:1'), res.body);
  const ud = await app.inject({ method: 'GET', url: '/userdata/user-data' });
  assert.equal(ud.statusCode, 500);
  assert.ok(ud.body.startsWith('Failed to retrieve user-data userdata template for {"kind"=>"user-data"}: Failed to open TCP connection'), ud.body);
});

test("Foreman's own status is passed on only through the foreman_error row", () => {
  assert.equal(TemplatesError.foreman_error('x', 404).status, 404);
  assert.equal(TemplatesError.foreman_error('x', 404).code, 'templates.foreman_error');
  assert.equal(TemplatesError.unreachable('x').status, 400);
  assert.equal(TemplatesError.userdata_failed('x').status, 500);
});

test('settings: template_url is checked as the reference does; upstream limits come from the schema', async () => {
  await assert.rejects(mountModule(templates, { global: REFUSING_FOREMAN }), /Setting 'template_url' is expected to contain a url/);
  await assert.rejects(mountModule(templates, { settings: { template_url: 'proxy.example.com' } }), /Setting 'template_url' is missing a scheme/);
  await assert.rejects(
    mountModule(templates, { settings: { template_url: TEMPLATE_URL, upstream_concurrency: 0 } }),
    /^Error: templates: upstream_concurrency must be a whole number between 1 and 10000, got 0$/,
  );
  await assert.rejects(
    mountModule(templates, { settings: { template_url: TEMPLATE_URL, upstream_timeout: 0 } }),
    /upstream_timeout must be a number of seconds above 0/,
  );
});

test('a refused connection reaches every host waiting for a shared answer, from one attempt per flight', async (t) => {
  const { app, instance } = await mounted(t);
  const stats = (instance.exports as TemplatesExports).sharedStats;
  const answers = await Promise.all(Array.from({ length: 20 }, () => app.inject({ method: 'GET', url: '/unattended/iPXE?bootstrap=1' })));
  for (const res of answers) {
    assert.equal(res.statusCode, 400);
    assert.ok(res.body.startsWith('Failed to proxy /iPXE for {"bootstrap"=>"1", "kind"=>"iPXE"}: Failed to open TCP connection to 127.0.0.1:1'), res.body);
  }
  const s = stats();
  assert.equal(s.upstream + s.coalesced, 20);
  assert.equal(s.inFlight, 0);
  assert.equal(s.cached, 0);
});

test('shared_requests entries are checked when the module loads, naming the entry', async () => {
  await assert.rejects(
    mountModule(templates, { settings: { template_url: TEMPLATE_URL, shared_requests: ['iPXE?bootstrap', 'provision?token'] } }),
    /shared_requests: entry 'provision\?token': 'token' identifies a host/,
  );
});
