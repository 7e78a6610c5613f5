// The capsule front end in-process (fastify inject, undici's MockAgent for Katello and the content
// app): the URL map, the identity headers a host may not set, the error bodies and statuses of
// timeouts and full queues, refused paths, /pub. Real sockets, TLS and client certificates are in
// test/capsule/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockAgent, errors as undiciErrors } from 'undici';
import { mountModule } from '../../core/inject.ts';
import { defineModule } from '../../core/module.ts';
import { silentLogger } from '../../core/logging.ts';
import capsule from './module.ts';
import { capsuleModule, type CapsuleDispatchers } from './api.ts';
import { certificateForms, upstreamRequestHeaders } from './headers.ts';
import { contentTarget, CONTENT_ROUTES, hasDotSegment, parseContentOrigin } from './routes.ts';
import { listingHtml, pubSegments } from './pub.ts';

const KATELLO = 'https://katello.example.com';
const CONTENT = 'http://localhost';

interface Seen {
  path: string;
  method: string;
  headers: Record<string, string>;
}

function headersOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) for (let i = 0; i < raw.length; i += 2) out[String(raw[i]).toLowerCase()] = String(raw[i + 1]);
  else for (const [k, v] of Object.entries((raw ?? {}) as Record<string, string>)) out[k.toLowerCase()] = String(v);
  return out;
}

/** A MockAgent answering every request to Katello and the content app, recording what it got. */
function mockUpstreams(answer: (seen: Seen) => { status: number; body: string; headers?: Record<string, string> } = () => ({ status: 200, body: 'ok' })) {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const seen: Seen[] = [];
  for (const origin of [KATELLO, CONTENT]) {
    agent
      .get(origin)
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const s = { path: opts.path, method: opts.method, headers: headersOf(opts.headers) };
        seen.push(s);
        const a = answer(s);
        return { statusCode: a.status, data: a.body, responseOptions: { headers: a.headers ?? { 'content-type': 'text/plain' } } };
      })
      .persist();
  }
  return { agent, seen };
}

async function mount(settings: Record<string, unknown>, dispatchers: CapsuleDispatchers, global: Record<string, unknown> = { foreman_url: KATELLO }) {
  const def = defineModule({ ...capsule, create: (ctx) => capsuleModule(ctx.settings, ctx.global, silentLogger, dispatchers) });
  return mountModule(def, { settings: { pub_dir: '/nonexistent', ...settings }, global });
}

test('every Katello prefix is relayed to the same path on foreman_url, query and method kept', async (t) => {
  const { agent, seen } = mockUpstreams();
  const { app, close } = await mount({}, { katello: agent, content: agent });
  t.after(close);
  for (const [method, url] of [
    ['GET', '/rhsm'],
    ['GET', '/rhsm/status'],
    ['PUT', '/rhsm/consumers/1f0e-uuid/checkin'],
    ['GET', '/rhsm/users/admin/owners?include=a,b'],
    ['POST', '/redhat_access/r/insights/platform/ingress/v1/upload'],
    ['GET', '/api/lightspeed/api/inventory/v1/hosts'],
    ['GET', '/api/registration_commands'],
    ['GET', '/katello/api/v2/repositories/7/gpg_key_content'],
  ] as const) {
    const res = await app.inject({ method, url });
    assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
    assert.equal(res.body, 'ok');
    const last = seen[seen.length - 1];
    assert.equal(last.path, url);
    assert.equal(last.method, method);
  }
});

test('the content prefixes map onto the content app: legacy paths to /pulp/content, /pulp/container to itself', async (t) => {
  const { agent, seen } = mockUpstreams();
  const { app, close } = await mount({ pulp_content_url: 'unix:/run/pulpcore-content.sock' }, { katello: agent, content: agent });
  t.after(close);
  const cases = [
    ['/pulp/content/ACME/Library/content/dist/rhel9/repodata/repomd.xml', '/pulp/content/ACME/Library/content/dist/rhel9/repodata/repomd.xml'],
    ['/pulp/repos/ACME/Library/custom/p/r/Packages/a.rpm', '/pulp/content/ACME/Library/custom/p/r/Packages/a.rpm'],
    ['/pulp/isos/ACME/Library/custom/p/iso/disk.iso', '/pulp/content/ACME/Library/custom/p/iso/disk.iso'],
    ['/pulp/deb/ACME/Library/custom/p/deb/dists/stable/Release', '/pulp/content/ACME/Library/custom/p/deb/dists/stable/Release'],
    ['/pulp/container/acme/prod/repo/blobs/sha256:abc?validate_token=t0k3n', '/pulp/container/acme/prod/repo/blobs/sha256:abc?validate_token=t0k3n'],
  ];
  for (const [url, upstream] of cases) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(seen[seen.length - 1].path, upstream);
  }
  assert.equal(contentTarget(CONTENT_ROUTES[1], '/pulp/repos'), '/pulp/content');
});

test('identity headers a host sends never reach Katello; without a certificate Katello is told (null)', async (t) => {
  const { agent, seen } = mockUpstreams();
  const { app, close } = await mount({}, { katello: agent, content: agent });
  t.after(close);
  const forged = '-----BEGIN CERTIFICATE----- FORGED -----END CERTIFICATE-----';
  const res = await app.inject({
    method: 'GET',
    url: '/rhsm/consumers/victim-uuid/certificates',
    headers: {
      'X-RHSM-SSL-Client-Cert': forged,
      X_RHSM_SSL_CLIENT_CERT: forged,
      'SSL-Client-Cert': forged,
      SSL_CLIENT_CERT: forged,
      'X-Client-Cert': forged,
      'Remote-User': 'admin',
      REMOTE_USER: 'admin',
      authorization: 'Basic YWRtaW46Y2hhbmdlbWU=',
      'x-forwarded-for': '10.9.9.9',
      'x-forwarded-proto': 'https',
      connection: 'close, x-hop',
      'x-hop': 'connection-scoped',
    },
  });
  assert.equal(res.statusCode, 200);
  const h = seen[seen.length - 1].headers;
  assert.equal(h['x-rhsm-ssl-client-cert'], '(null)');
  for (const name of ['x_rhsm_ssl_client_cert', 'ssl-client-cert', 'ssl_client_cert', 'x-client-cert', 'remote-user', 'remote_user', 'x-hop']) {
    assert.equal(h[name], undefined, `${name} must not be relayed`);
  }
  // Basic auth (registration with a user, activation keys) passes unchanged
  assert.equal(h['authorization'], 'Basic YWRtaW46Y2hhbmdlbWU=');
  assert.equal(h['x-forwarded-for'], '10.9.9.9, 127.0.0.1');
  assert.equal(h['x-forwarded-proto'], 'http');
});

test('content paths drop a host-supplied X-CLIENT-CERT; /pulp/container never carries one', async (t) => {
  const { agent, seen } = mockUpstreams();
  const { app, close } = await mount({}, { katello: agent, content: agent });
  t.after(close);
  for (const url of ['/pulp/content/ACME/Library/x.rpm', '/pulp/container/a/b/manifests/latest']) {
    const res = await app.inject({ method: 'GET', url, headers: { 'x-client-cert': 'forged', range: 'bytes=0-9' } });
    assert.equal(res.statusCode, 200);
    const h = seen[seen.length - 1].headers;
    assert.equal(h['x-client-cert'], undefined);
    assert.equal(h['range'], 'bytes=0-9', 'Range requests are relayed');
  }
});

test('the verified certificate goes to Katello as Apache writes it and to Pulp URL-encoded', () => {
  const der = Buffer.from('0123456789'.repeat(20));
  const forms = certificateForms(der);
  assert.match(forms.apacheForm, /^-----BEGIN CERTIFICATE-----( [A-Za-z0-9+/]{64})+ [A-Za-z0-9+/=]{1,64} -----END CERTIFICATE-----$/);
  assert.ok(!forms.apacheForm.includes('\n'));
  assert.equal(decodeURIComponent(forms.urlEncoded), `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`);
  // what the relay sets wins over anything the host sent under any spelling
  const h = upstreamRequestHeaders(
    { 'x-rhsm-ssl-client-cert': 'forged', 'x_rhsm_ssl_client_cert': 'forged' },
    { fromTrustedFrontend: false, peer: '192.0.2.7', set: { 'x-rhsm-ssl-client-cert': forms.apacheForm } },
  );
  assert.deepEqual(Object.keys(h).filter((k) => k.includes('rhsm')), ['x-rhsm-ssl-client-cert']);
  assert.equal(h['x-rhsm-ssl-client-cert'], forms.apacheForm);
  // a trusted front end's header passes as it verified it
  const fe = upstreamRequestHeaders({ 'x-rhsm-ssl-client-cert': 'from-frontend' }, { fromTrustedFrontend: true, peer: '127.0.0.1', set: {} });
  assert.equal(fe['x-rhsm-ssl-client-cert'], 'from-frontend');
});

test('from a trusted front end the certificate headers pass as it verified them', async (t) => {
  const { agent, seen } = mockUpstreams();
  // inject's peer is 127.0.0.1
  const { app, close } = await mount({ trusted_frontends: ['127.0.0.1'] }, { katello: agent, content: agent });
  t.after(close);
  const cert = '-----BEGIN CERTIFICATE----- MIIB -----END CERTIFICATE-----';
  await app.inject({ method: 'GET', url: '/rhsm/consumers/u', headers: { 'x-rhsm-ssl-client-cert': cert, 'ssl-client-cert': 'not this one' } });
  assert.equal(seen[seen.length - 1].headers['x-rhsm-ssl-client-cert'], cert);
  assert.equal(seen[seen.length - 1].headers['ssl-client-cert'], undefined);
  await app.inject({ method: 'GET', url: '/pulp/content/x', headers: { 'x-client-cert': 'urlencoded%20pem' } });
  assert.equal(seen[seen.length - 1].headers['x-client-cert'], 'urlencoded%20pem');
  // without the header, Katello is still told there is no certificate
  await app.inject({ method: 'GET', url: '/rhsm/status' });
  assert.equal(seen[seen.length - 1].headers['x-rhsm-ssl-client-cert'], '(null)');
});

test('paths with dot segments are refused, not relayed (they would reach any Katello API as the proxy)', async (t) => {
  const { agent, seen } = mockUpstreams();
  const { app, close } = await mount({}, { katello: agent, content: agent });
  t.after(close);
  for (const url of ['/rhsm/../api/v2/hosts', '/rhsm/%2e%2e/api/v2/hosts', '/rhsm/x/..%2F..%2Fapi', '/pulp/content/%2E%2E/%2E%2E/api/v3/']) {
    const res = await app.inject({ method: 'GET', url });
    // inject resolves literal dot segments itself, and the router may refuse a spelling: what
    // matters is that nothing is relayed (test/capsule sends them raw over a socket)
    assert.ok(res.statusCode === 400 || res.statusCode === 404, `${url}: ${res.statusCode}`);
  }
  assert.equal(seen.length, 0);
  assert.equal(hasDotSegment('/rhsm/consumers/abc'), false);
  assert.equal(hasDotSegment('/rhsm/a..b/c'), false);
  assert.equal(hasDotSegment('/rhsm/%E0%A4%A'), true);
});

test('a Katello timeout is a 504 in the JSON shape subscription-manager shows, not a 502', async (t) => {
  const agent = new MockAgent();
  agent.disableNetConnect();
  agent.get(KATELLO).intercept({ path: () => true, method: () => true }).replyWithError(new undiciErrors.HeadersTimeoutError()).persist();
  const { app, close } = await mount({}, { katello: agent, content: agent });
  t.after(close);
  const res = await app.inject({ method: 'GET', url: '/rhsm/status' });
  assert.equal(res.statusCode, 504);
  assert.equal(res.headers['content-type'], 'application/json');
  const body = JSON.parse(res.body) as { displayMessage: string; errors: string[]; status: string };
  assert.equal(body.status, '504');
  assert.match(body.displayMessage, /Timed out after \d+ ms waiting for the response headers/);
  assert.deepEqual(body.errors, [body.displayMessage]);
});

test('Katello unreachable is a 503 with Apache\'s text; content errors stay plain text', async (t) => {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' });
  agent.get(KATELLO).intercept({ path: () => true, method: () => true }).replyWithError(refused).persist();
  agent.get(CONTENT).intercept({ path: () => true, method: () => true }).replyWithError(refused).persist();
  const { app, close } = await mount({}, { katello: agent, content: agent });
  t.after(close);
  const rhsm = await app.inject({ method: 'GET', url: '/rhsm' });
  assert.equal(rhsm.statusCode, 503);
  assert.equal(rhsm.headers['retry-after'], '5');
  assert.match((JSON.parse(rhsm.body) as { displayMessage: string }).displayMessage, /^Service unavailable or restarting, try later \(Failed to open TCP connection/);
  const content = await app.inject({ method: 'GET', url: '/pulp/content/x', headers: { accept: 'text/plain' } });
  assert.equal(content.statusCode, 503);
  assert.match(content.body, /^Service unavailable or restarting, try later/);
});

test('a full /rhsm queue answers 503 with Retry-After at once; the slot holder is still served', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const agent = new MockAgent();
  agent.disableNetConnect();
  agent
    .get(KATELLO)
    .intercept({ path: () => true, method: () => true })
    .reply(200, async () => {
      await gate;
      return 'late but fine';
    })
    .persist();
  const { app, close } = await mount({ rhsm_concurrency: 1, rhsm_queue: 0 }, { katello: agent, content: agent });
  t.after(close);
  const first = app.inject({ method: 'GET', url: '/rhsm/status' });
  await new Promise((r) => setTimeout(r, 50));
  const second = await app.inject({ method: 'GET', url: '/rhsm/status' });
  assert.equal(second.statusCode, 503);
  assert.equal(second.headers['retry-after'], '5');
  assert.equal((JSON.parse(second.body) as { status: string }).status, '503');
  release();
  const firstRes = await first;
  assert.equal(firstRes.statusCode, 200);
  assert.equal(firstRes.body, 'late but fine');
});

test('settings: pulp_content_url must be unix:<path> or an origin; the Katello URL is required', async () => {
  assert.deepEqual(parseContentOrigin('unix:/run/pulpcore-content.sock'), { kind: 'unix', socketPath: '/run/pulpcore-content.sock' });
  assert.deepEqual(parseContentOrigin('http://127.0.0.1:24816'), { kind: 'tcp', origin: 'http://127.0.0.1:24816', https: false });
  assert.match(String(parseContentOrigin('unix:relative.sock')), /absolute socket path/);
  assert.match(String(parseContentOrigin('http://127.0.0.1:24816/pulp/content')), /without a path/);
  assert.match(String(parseContentOrigin('ftp://x')), /http\(s\) URL/);
  await assert.rejects(mountModule(capsule, { settings: { pulp_content_url: 'tcp://x' }, global: { foreman_url: KATELLO } }), /pulp_content_url must be/);
  await assert.rejects(mountModule(capsule, { settings: {} }), /katello_url in capsule.yml or foreman_url/);
});

test('/pub: files with Range, a listing that escapes names, a redirect to the directory, no climbing out', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'capsule-pub-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'katello-server-ca.crt'), '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n');
  await writeFile(join(dir, 'katello-ca-consumer-capsule.example.com-1.0-1.noarch.rpm'), 'RPMDATA');
  await symlink('katello-ca-consumer-capsule.example.com-1.0-1.noarch.rpm', join(dir, 'katello-ca-consumer-latest.noarch.rpm'));
  await writeFile(join(dir, '<b>odd&name.txt'), 'x');
  await writeFile(join(dir, '.hidden'), 'secret');
  await mkdir(join(dir, 'sub'));
  await symlink('/etc', join(dir, 'escape'));
  const { app, close } = await mount({ pub_dir: dir }, {});
  t.after(close);

  const ca = await app.inject({ method: 'GET', url: '/pub/katello-server-ca.crt' });
  assert.equal(ca.statusCode, 200);
  assert.equal(ca.headers['content-type'], 'application/x-x509-ca-cert');
  assert.match(ca.body, /BEGIN CERTIFICATE/);
  const latest = await app.inject({ method: 'GET', url: '/pub/katello-ca-consumer-latest.noarch.rpm', headers: { range: 'bytes=3-' } });
  assert.equal(latest.statusCode, 206);
  assert.equal(latest.body, 'DATA');
  assert.equal(latest.headers['content-range'], 'bytes 3-6/7');
  assert.equal(latest.headers['content-type'], 'application/x-rpm');

  const listing = await app.inject({ method: 'GET', url: '/pub/' });
  assert.equal(listing.statusCode, 200);
  assert.match(listing.body, /href="katello-ca-consumer-latest.noarch.rpm"/);
  assert.match(listing.body, /href="sub\/"/);
  assert.match(listing.body, /&#60;b&#62;odd&#38;name.txt/);
  assert.ok(!listing.body.includes('.hidden'));
  assert.ok(!listing.body.includes('<b>odd'));
  const redirect = await app.inject({ method: 'GET', url: '/pub/sub' });
  assert.equal(redirect.statusCode, 301);
  assert.equal(redirect.headers['location'], '/pub/sub/');

  for (const url of ['/pub/escape/passwd', '/pub/escape/', '/pub/..%2Fetc/passwd', '/pub/%2e%2e/%2e%2e/etc/passwd', '/pub/nothing-here']) {
    const res = await app.inject({ method: 'GET', url });
    assert.ok(res.statusCode === 404 || res.statusCode === 400, `${url}: ${res.statusCode}`);
    assert.ok(!res.body.includes('root:'), url);
  }
  const post = await app.inject({ method: 'POST', url: '/pub/katello-server-ca.crt', payload: 'x', headers: { 'content-type': 'text/plain' } });
  assert.equal(post.statusCode, 405);
  assert.deepEqual(pubSegments('/pub/a/%2e/b'), ['a', 'b']);
  assert.equal(pubSegments('/pub/a/..'), undefined);
  assert.match(listingHtml('/pub/sub/', [], false), /Parent Directory/);
});

test('the module is not a Foreman feature and is mounted on client listeners', () => {
  assert.equal(capsule.published, false);
  assert.equal(capsule.audience, 'client');
  assert.equal(capsule.authorize, false);
});
