// /container_gateway routes in-process (fastify inject) with fake Pulp and Katello clients and an
// in-memory node:sqlite store: every endpoint's statuses and bodies, and each fault of spec §6
// that shows at the HTTP edge, asserted so that the reference's behaviour would fail the test.

import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { mountModule } from '../../core/inject.ts';
import type { HttpClient, HttpRequestOptions, HttpResponse } from '../../lib/http/client.ts';
import containerGateway from './module.ts';
import { gatewayInstance, type GatewayOptions } from './api.ts';
import { HostCertificateVerifier } from './identity.ts';
import { openSqliteStore } from './store/sqlite.ts';
import type { GatewayStore } from './store/types.ts';

const execFileP = promisify(execFile);

interface FakeAnswer {
  status: number;
  headers?: Record<string, string | undefined>;
  body?: string;
}

/** A fake of lib/http/client.ts: records requests, answers with `handler`. */
class FakeUpstream implements HttpClient {
  readonly baseUrl: URL;
  readonly requests: HttpRequestOptions[] = [];
  handler: (req: HttpRequestOptions) => FakeAnswer = () => ({ status: 404, body: 'no handler' });
  constructor(base: string) {
    this.baseUrl = new URL(base);
  }
  async request(req: HttpRequestOptions): Promise<HttpResponse> {
    this.requests.push(req);
    const a = this.handler(req);
    const body = Buffer.from(a.body ?? '');
    const stream = Readable.from(body.length ? [body] : []);
    return {
      status: a.status,
      headers: Object.fromEntries(Object.entries(a.headers ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => [k.toLowerCase(), v])),
      url: new URL(req.path, this.baseUrl),
      body: stream,
      text: async () => body.toString('utf8'),
      dump: async () => {
        stream.resume();
      },
    };
  }
  async close(): Promise<void> {}
}

// A test PKI made with the openssl CLI (no sockets): a host CA, a host certificate, and one from
// another CA.
let pkiDir: string;
let caPem: string;
let hostPem: string;
let otherPem: string;
const HOST_UUID = '1b2c3d4e-0000-4000-8000-00000000000a';

async function openssl(args: string[]): Promise<void> {
  await execFileP('openssl', args, { cwd: pkiDir });
}

before(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), 'cg-pki-'));
  for (const ca of ['ca', 'other']) await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca} Test CA`]);
  await writeFile(join(pkiDir, 'ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, ca] of [['host', 'ca'], ['forged', 'other']]) {
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/O=Org/CN=${HOST_UUID}`]);
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-set_serial', '7', '-out', `${name}.pem`, '-days', '2', '-extfile', 'ext']);
  }
  caPem = await readFile(join(pkiDir, 'ca.pem'), 'utf8');
  hostPem = await readFile(join(pkiDir, 'host.pem'), 'utf8');
  otherPem = await readFile(join(pkiDir, 'forged.pem'), 'utf8');
});
after(() => rm(pkiDir, { recursive: true, force: true }));

const PUBLIC = 'org/prod/busybox';
const PRIVATE = 'org/prod/fedora';
const HIDDEN = 'org/prod/secret';
const MANIFEST = '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}';
const DIGEST = `sha256:${'a'.repeat(64)}`;

interface Mounted {
  app: Awaited<ReturnType<typeof mountModule>>['app'];
  store: GatewayStore;
  pulp: FakeUpstream;
  katello: FakeUpstream;
}

async function mounted(t: TestContext, options: Partial<GatewayOptions> = {}): Promise<Mounted> {
  const store = await openSqliteStore({ path: ':memory:', busyTimeoutMs: 1000 });
  const pulp = new FakeUpstream('https://pulp.example.test/pulpcore_registry/');
  const katello = new FakeUpstream('https://katello.example.test');
  const def = {
    ...containerGateway,
    create: () =>
      gatewayInstance({
        options: {
          clientEndpointHost: 'capsule-lb.example.test',
          katelloRegistryPath: '/v2/',
          trustedFrontEnds: ['127.0.0.1'],
          managementBodyLimit: 64 * 1024 * 1024,
          blobTimeoutMs: 60_000,
          ...options,
        },
        store,
        pulp,
        katello,
        verifier: new HostCertificateVerifier(caPem),
        log: { debug() {}, info() {}, warn() {}, error() {} } as never,
      }),
  };
  const m = await mountModule(def, { settings: { sqlite_db_path: '/nonexistent/unused.db', pulp_endpoint: 'https://pulp.example.test' } }, t);
  await store.replaceRepositories([
    { name: PUBLIC, authRequired: false },
    { name: PRIVATE, authRequired: true },
    { name: HIDDEN, authRequired: true },
  ]);
  return { app: m.app, store, pulp, katello };
}

const CHALLENGE = 'Bearer realm="https://capsule.example.test/v2/token",service="capsule.example.test",scope="repository:registry:pull,push"';
const H = { host: 'capsule.example.test' };
const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

/** Katello stand-in (fake client): jdoe/secret gets a token and may read PRIVATE. */
function katelloStandIn(k: FakeUpstream, token = 'tok-jdoe-1'): void {
  k.handler = (req) => {
    const auth = req.headers?.authorization;
    if (req.path.startsWith('/v2/token')) {
      if (!auth) return { status: 200, body: JSON.stringify({ token: 'unauthenticated', expires_in: 180, issued_at: new Date().toISOString() }) };
      if (auth !== basic('jdoe', 'secret')) return { status: 401, headers: { 'content-type': 'application/json' }, body: '{"error":"invalid credentials"}' };
      return { status: 200, body: JSON.stringify({ token, expires_in: 3600, issued_at: new Date().toISOString() }) };
    }
    if (req.path.startsWith('/v2/_catalog')) {
      if (req.headers?.hostuuid) return { status: 200, body: JSON.stringify({ repositories: [PRIVATE] }) };
      return { status: 200, body: JSON.stringify({ repositories: [PRIVATE, PUBLIC] }) };
    }
    return { status: 404 };
  };
}

async function login(m: Mounted): Promise<string> {
  katelloStandIn(m.katello);
  const res = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/token?account=jdoe&scope=repository:${PRIVATE}:pull`, headers: { ...H, authorization: basic('jdoe', 'secret') } });
  assert.equal(res.statusCode, 200, res.body);
  return (JSON.parse(res.body) as { token: string }).token;
}

test('/v2/: anonymous 401 with the challenge; Bearer unauthenticated and unauthorized are 200; other schemes with those words are not', async (t) => {
  const { app } = await mounted(t);
  const anon = await app.inject({ method: 'GET', url: '/container_gateway/v2/', headers: H });
  assert.equal(anon.statusCode, 401);
  assert.equal(anon.headers['www-authenticate'], CHALLENGE);
  assert.equal(anon.headers['docker-distribution-api-version'], 'registry/2.0');
  assert.deepEqual(JSON.parse(anon.body), { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] });
  // The reference accepts only `unauthorized` (fault §6.5), whatever the scheme.
  for (const word of ['unauthenticated', 'unauthorized']) {
    const ok = await app.inject({ method: 'GET', url: '/container_gateway/v2', headers: { ...H, authorization: `Bearer ${word}` } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.body, '{}');
    const basicWord = await app.inject({ method: 'GET', url: '/container_gateway/v2/', headers: { ...H, authorization: `Basic ${word}` } });
    assert.equal(basicWord.statusCode, 401);
  }
  const forwardedHost = await app.inject({ method: 'GET', url: '/container_gateway/v2/', headers: { host: 'x:9090', 'x-forwarded-host': 'capsule.example.test:8443' } });
  assert.match(String(forwardedHost.headers['www-authenticate']), /realm="https:\/\/capsule\.example\.test:8443\/v2\/token",service="capsule\.example\.test"/);
});

test('token: stored as a SHA-256 checksum with its expiry; the user mapping comes from Katello; Katello gets only scope, account, Authorization', async (t) => {
  const m = await mounted(t);
  const token = await login(m);
  assert.equal(await m.store.tokenUser(token, Date.now()), undefined, 'the token itself is not stored');
  assert.equal(await m.store.tokenUser(createHash('sha256').update(token).digest('hex'), Date.now()), 'jdoe');
  assert.equal(await m.store.tokenUser(createHash('sha256').update(token).digest('hex'), Date.now() + 3601_000), undefined);
  assert.equal(await m.store.isMapped({ user: 'jdoe' }, PRIVATE), true);
  const tokenCall = m.katello.requests[0];
  assert.equal(tokenCall.path, `/v2/token?scope=repository%3A${encodeURIComponent(PRIVATE).replace(/%2F/g, '%2F')}%3Apull&account=jdoe`);
  assert.deepEqual(Object.keys(tokenCall.headers ?? {}).sort(), ['accept', 'authorization', 'content-type']);
  const users = await m.app.inject({ method: 'GET', url: '/container_gateway/users' });
  assert.deepEqual(JSON.parse(users.body), { users: ['jdoe'] });
});

test('token: a wrong password is Katello’s 401 with the challenge; unauthenticated passes through unstored; bad Katello answers are 502, never 500', async (t) => {
  const m = await mounted(t);
  katelloStandIn(m.katello);
  const wrong = await m.app.inject({ method: 'GET', url: '/container_gateway/v2/token?account=jdoe', headers: { ...H, authorization: basic('jdoe', 'nope') } });
  assert.equal(wrong.statusCode, 401);
  assert.equal(wrong.headers['www-authenticate'], CHALLENGE);
  assert.equal(wrong.body, '{"error":"invalid credentials"}');
  const anon = await m.app.inject({ method: 'GET', url: '/container_gateway/v2/token?scope=repository:org/prod/busybox:pull', headers: H });
  assert.equal(anon.statusCode, 200);
  assert.equal((JSON.parse(anon.body) as { token: string }).token, 'unauthenticated');
  assert.deepEqual(await m.store.listUsers(), []);
  // A real token without `account`: the reference creates a user with a null name → 500.
  const noAccount = await m.app.inject({ method: 'GET', url: '/container_gateway/v2/token', headers: { ...H, authorization: basic('jdoe', 'secret') } });
  assert.equal(noAccount.statusCode, 200);
  assert.deepEqual(await m.store.listUsers(), ['jdoe']);
  // jdoe asking with account=admin: the token and mapping stay jdoe's, admin's mapping untouched.
  await m.store.setUserRepositories('admin', [HIDDEN]);
  const other = await m.app.inject({ method: 'GET', url: '/container_gateway/v2/token?account=admin', headers: { ...H, authorization: basic('jdoe', 'secret') } });
  assert.equal(other.statusCode, 200);
  const otherToken = (JSON.parse(other.body) as { token: string }).token;
  assert.equal(await m.store.tokenUser(createHash('sha256').update(otherToken).digest('hex'), Date.now()), 'jdoe');
  assert.deepEqual(await m.store.catalog({ user: 'admin' }), [PUBLIC, HIDDEN].sort());
  m.katello.handler = () => ({ status: 200, body: '<html>login</html>' });
  const html = await m.app.inject({ method: 'GET', url: '/container_gateway/v2/token?account=jdoe', headers: { ...H, authorization: basic('jdoe', 'secret') } });
  assert.equal(html.statusCode, 502);
  m.katello.handler = () => ({ status: 200, body: '{"token":"unauthorized"}' });
  assert.equal((await m.app.inject({ method: 'GET', url: '/container_gateway/v2/token?account=jdoe', headers: H })).statusCode, 401);
});

test('manifests: Pulp ≥ 2.28 answers 200 and it is passed through with type and digest; a redirect gets the client_endpoint host, 302 for GET and HEAD', async (t) => {
  const m = await mounted(t);
  const token = await login(m);
  m.pulp.handler = (req) =>
    req.path.includes('/manifests/')
      ? { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': DIGEST, 'content-length': String(MANIFEST.length), 'set-cookie': 'x=1' }, body: MANIFEST }
      : { status: 302, headers: { location: `https://pulp.example.test:8443/pulp/container/${PRIVATE}/blobs/${DIGEST}?validate_token=abc` } };
  const headers = { ...H, authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json', cookie: 'session=1', 'user-agent': 'podman' };
  const manifest = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/${PRIVATE}/manifests/latest`, headers });
  // The reference answers 500 here (it expects every non-error reply to be a redirect).
  assert.equal(manifest.statusCode, 200, manifest.body);
  assert.equal(manifest.body, MANIFEST);
  assert.equal(manifest.headers['content-type'], 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(manifest.headers['docker-content-digest'], DIGEST);
  assert.equal(manifest.headers['set-cookie'], undefined);
  // Only what Pulp needs is forwarded (the reference copies every header, Authorization and Host included).
  assert.deepEqual(m.pulp.requests[0].headers, { accept: 'application/vnd.oci.image.manifest.v1+json' });
  assert.equal(m.pulp.requests[0].path, `v2/${PRIVATE}/manifests/latest`);
  for (const method of ['GET', 'HEAD'] as const) {
    const blob = await m.app.inject({ method, url: `/container_gateway/v2/${PRIVATE}/blobs/${DIGEST}`, headers });
    assert.equal(blob.statusCode, 302, `${method}: the reference answers 303 to HEAD`);
    assert.equal(blob.headers.location, `https://capsule-lb.example.test:8443/pulp/container/${PRIVATE}/blobs/${DIGEST}?validate_token=abc`);
  }
  const head = await m.app.inject({ method: 'HEAD', url: `/container_gateway/v2/${PRIVATE}/manifests/latest`, headers });
  assert.equal(head.statusCode, 200);
  assert.equal(head.headers['docker-content-digest'], DIGEST);
  assert.equal(m.pulp.requests.at(-1)?.method, 'HEAD');
  m.pulp.handler = () => ({ status: 404, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}' });
  const missing = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/${PRIVATE}/manifests/nope`, headers });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.headers['content-type'], 'application/json');
  assert.equal(missing.body, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
});

test('pull decision: public for all; private only when mapped; unknown and unmapped look the same (404), anonymous is asked to log in (401)', async (t) => {
  const m = await mounted(t);
  const token = await login(m);
  m.pulp.handler = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: MANIFEST });
  const get = (name: string, headers: Record<string, string>) => m.app.inject({ method: 'GET', url: `/container_gateway/v2/${name}/manifests/1.0`, headers: { ...H, ...headers } });
  assert.equal((await get(PUBLIC, {})).statusCode, 200);
  assert.equal((await get(PRIVATE, { authorization: `Bearer ${token}` })).statusCode, 200);
  for (const name of [HIDDEN, 'org/prod/unknown']) {
    const denied = await get(name, { authorization: `Bearer ${token}` });
    assert.equal(denied.statusCode, 404);
    assert.deepEqual(JSON.parse(denied.body), { errors: [{ code: 'NAME_UNKNOWN', message: 'Repository name unknown' }] });
    const anon = await get(name, { authorization: 'Bearer unauthenticated' });
    assert.equal(anon.statusCode, 401);
    assert.equal(anon.headers['www-authenticate'], CHALLENGE);
  }
  // An expired or unknown token is anonymous.
  assert.equal((await get(PRIVATE, { authorization: 'Bearer not-a-token' })).statusCode, 401);
  // `account` never grants anything without a token.
  const account = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/${PRIVATE}/manifests/1.0?account=jdoe`, headers: H });
  assert.equal(account.statusCode, 401);
});

test('host certificate: only from a trusted front end, only when it verifies against the host CA; unknown hosts are looked up once', async (t) => {
  const m = await mounted(t);
  katelloStandIn(m.katello);
  m.pulp.handler = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: MANIFEST });
  const url = `/container_gateway/v2/${PRIVATE}/manifests/1.0`;
  const fromFrontEnd = (cert: string, remoteAddress = '127.0.0.1') => m.app.inject({ method: 'GET', url, headers: { ...H, 'x-rhsm-ssl-client-cert': cert }, remoteAddress });
  // The reference believes the header from anyone (fault §6.2): here a direct caller is anonymous.
  const direct = await fromFrontEnd(hostPem, '192.0.2.50');
  assert.equal(direct.statusCode, 401);
  assert.equal(m.katello.requests.length, 0);
  // A certificate the host CA did not sign is refused (the reference never verifies the chain).
  const forged = await fromFrontEnd(otherPem);
  assert.equal(forged.statusCode, 401);
  assert.match(forged.body, /not signed by the host CA/);
  // Garbage is a 401 with a reason, not the reference's 500.
  for (const junk of ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'not base64 !!']) assert.equal((await fromFrontEnd(junk)).statusCode, 401);
  assert.equal((await fromFrontEnd('(null)')).statusCode, 401);
  // Apache sends the PEM with spaces for newlines; both forms work.
  const ok = await Promise.all([fromFrontEnd(hostPem), fromFrontEnd(hostPem.replace(/\n/g, ' '))]);
  assert.deepEqual(ok.map((r) => r.statusCode), [200, 200]);
  const lookups = m.katello.requests.filter((r) => r.headers?.hostuuid === HOST_UUID);
  assert.equal(lookups.length, 1, 'two concurrent first pulls share one Katello lookup');
  assert.equal(await m.store.hostExists(HOST_UUID), true);
  assert.equal((await fromFrontEnd(hostPem.replace(PRIVATE, ''))).statusCode, 200);
  const hidden = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/${HIDDEN}/manifests/1.0`, headers: { ...H, 'x-rhsm-ssl-client-cert': hostPem } });
  assert.equal(hidden.statusCode, 404);
  const catalog = await m.app.inject({ method: 'GET', url: '/container_gateway/v2/_catalog', headers: { ...H, 'x-rhsm-ssl-client-cert': hostPem } });
  assert.deepEqual(JSON.parse(catalog.body), { repositories: [PUBLIC, PRIVATE] });
});

test('host certificate verifier: validity period is checked on every use', () => {
  const v = new HostCertificateVerifier(caPem);
  assert.deepEqual(v.check(hostPem), { uuid: HOST_UUID });
  assert.deepEqual(v.check(hostPem, Date.now() + 3 * 86400_000), { invalid: 'client certificate has expired' });
  assert.deepEqual(v.check(hostPem, Date.now() - 86400_000), { invalid: 'client certificate is not yet valid' });
  assert.match(JSON.stringify(new HostCertificateVerifier(undefined).check(hostPem)), /no host CA is configured/);
});

test('unknown host: a Katello lookup that fails or is not JSON gives public access only, not a 500', async (t) => {
  const m = await mounted(t);
  m.katello.handler = () => ({ status: 200, body: 'not json' });
  m.pulp.handler = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: MANIFEST });
  const get = (name: string) => m.app.inject({ method: 'GET', url: `/container_gateway/v2/${name}/manifests/1.0`, headers: { ...H, 'x-rhsm-ssl-client-cert': hostPem } });
  assert.equal((await get(PRIVATE)).statusCode, 404);
  assert.equal((await get(PUBLIC)).statusCode, 200);
  assert.equal(m.katello.requests.length, 1, 'a failed lookup is not repeated on every request');
});

test('catalog: 401 without identity; public for unauthenticated; the user’s; n/last pagination with Link', async (t) => {
  const m = await mounted(t);
  const token = await login(m);
  const cat = (headers: Record<string, string>, q = '') => m.app.inject({ method: 'GET', url: `/container_gateway/v2/_catalog${q}`, headers: { ...H, ...headers } });
  const none = await cat({});
  assert.equal(none.statusCode, 401);
  assert.equal(none.headers['www-authenticate'], CHALLENGE);
  assert.deepEqual(JSON.parse((await cat({ authorization: 'Bearer unauthenticated' })).body), { repositories: [PUBLIC] });
  assert.deepEqual(JSON.parse((await cat({ authorization: `Bearer ${token}` })).body), { repositories: [PUBLIC, PRIVATE] });
  const page = await cat({ authorization: `Bearer ${token}` }, '?n=1');
  assert.deepEqual(JSON.parse(page.body), { repositories: [PUBLIC] });
  assert.equal(page.headers.link, `</v2/_catalog?last=${encodeURIComponent(PUBLIC)}&n=1>; rel="next"`);
  assert.deepEqual(JSON.parse((await cat({ authorization: `Bearer ${token}` }, `?n=1&last=${PUBLIC}`)).body), { repositories: [PRIVATE] });
  assert.equal((await cat({ authorization: `Bearer ${token}` }, '?n=x')).statusCode, 400);
});

test('tags list: Pulp’s Link rewritten to our path, no empty Link when Pulp sent none', async (t) => {
  const m = await mounted(t);
  m.pulp.handler = (req) =>
    req.path.includes('last=')
      ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{"tags":["b"]}' }
      : { status: 200, headers: { 'content-type': 'application/json', link: `</pulpcore_registry/v2/${PUBLIC}/tags/list?n=1&last=a>; rel="next"` }, body: '{"tags":["a"]}' };
  const first = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/${PUBLIC}/tags/list?n=1&evil=1`, headers: H });
  assert.equal(first.statusCode, 200);
  assert.equal(first.headers.link, `</container_gateway/v2/${PUBLIC}/tags/list?n=1&last=a>; rel="next"`);
  assert.equal(m.pulp.requests[0].path, `v2/${PUBLIC}/tags/list?n=1`);
  const second = await m.app.inject({ method: 'GET', url: `/container_gateway/v2/${PUBLIC}/tags/list?n=1&last=a`, headers: H });
  assert.equal(second.headers.link, undefined);
});

test('bad names, tags and digests are 400 with the registry error code; push is 404 UNSUPPORTED; DELETE is the generic 404', async (t) => {
  const { app, pulp } = await mounted(t);
  const cases: [string, string][] = [
    ['/container_gateway/v2/Org/UPPER/manifests/latest', 'NAME_INVALID'],
    [`/container_gateway/v2/${PUBLIC}/manifests/bad%20tag`, 'TAG_INVALID'],
    [`/container_gateway/v2/${PUBLIC}/blobs/sha256:short`, 'DIGEST_INVALID'],
  ];
  for (const [url, code] of cases) {
    const res = await app.inject({ method: 'GET', url, headers: H });
    assert.equal(res.statusCode, 400, url);
    assert.equal((JSON.parse(res.body) as { errors: { code: string }[] }).errors[0].code, code);
  }
  assert.equal((await app.inject({ method: 'GET', url: `/container_gateway/v2/${PUBLIC}/whatever`, headers: H })).statusCode, 404);
  for (const [method, url] of [['PUT', `/container_gateway/v2/${PUBLIC}/manifests/latest`], ['POST', `/container_gateway/v2/${PUBLIC}/blobs/uploads/`], ['PATCH', `/container_gateway/v2/${PUBLIC}/blobs/uploads/123`]] as const) {
    const res = await app.inject({ method, url, headers: { ...H, 'content-type': 'application/octet-stream' }, payload: 'layer bytes' });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(JSON.parse(res.body), { errors: [{ code: 'UNSUPPORTED', message: 'Pushing content is unsupported' }] });
  }
  const del = await app.inject({ method: 'DELETE', url: `/container_gateway/v2/${PUBLIC}/manifests/latest`, headers: H });
  assert.equal(del.statusCode, 404);
  assert.equal(del.body, 'Requested url was not found');
  assert.equal(pulp.requests.length, 0);
});

test('v1 search: the user= parameter lists nothing private (leak §6.3); Basic credentials are checked by Katello; v2 clients get 404', async (t) => {
  const m = await mounted(t);
  await login(m);
  const search = (q: string, headers: Record<string, string> = {}) => m.app.inject({ method: 'GET', url: `/container_gateway/v1/search${q}`, headers: { ...H, ...headers } });
  const leak = await search('?user=jdoe&q=org');
  assert.deepEqual(JSON.parse(leak.body), { num_results: 1, query: 'org', results: [{ description: '', name: PUBLIC }] });
  // Known user with a query: the reference's ambiguous column is a 500.
  const mine = await search('?q=fed', { authorization: basic('jdoe', 'secret') });
  assert.deepEqual(JSON.parse(mine.body), { num_results: 1, query: 'fed', results: [{ description: '', name: PRIVATE }] });
  assert.equal((await search('?q=fed', { authorization: basic('jdoe', 'wrong') })).statusCode, 401);
  assert.equal((await search('?n=0')).body, '{"num_results":0,"query":"","results":[]}');
  assert.equal((await search('?n=abc')).statusCode, 400);
  const v2 = await search('', { 'docker-distribution-api-version': 'registry/2.0' });
  assert.equal(v2.statusCode, 404);
  assert.equal(v2.body, 'not found');
});

test('flatpak index: filtered for every caller (anonymous sees public only, §6.3); a malformed Pulp index is 502', async (t) => {
  const m = await mounted(t);
  const index = { Registry: 'https://capsule.example.test', Results: [{ Name: PUBLIC, Images: [] }, { Name: PRIVATE, Images: [] }, { Name: HIDDEN, Images: [] }] };
  m.pulp.handler = (req) => (req.path.startsWith('index/static') ? { status: 200, body: JSON.stringify(index) } : { status: 404 });
  katelloStandIn(m.katello);
  const anon = await m.app.inject({ method: 'GET', url: '/container_gateway/index/static?label:org.flatpak.ref:exists=1&tag=latest', headers: H });
  assert.deepEqual((JSON.parse(anon.body) as typeof index).Results.map((r) => r.Name), [PUBLIC]);
  assert.equal(m.pulp.requests[0].path, 'index/static?label%3Aorg.flatpak.ref%3Aexists=1&tag=latest');
  const host = await m.app.inject({ method: 'GET', url: '/container_gateway/index/static', headers: { ...H, 'x-rhsm-ssl-client-cert': hostPem } });
  assert.deepEqual((JSON.parse(host.body) as typeof index).Results.map((r) => r.Name), [PUBLIC, PRIVATE]);
  m.pulp.handler = () => ({ status: 200, body: '{"Registry":"x"}' });
  assert.equal((await m.app.inject({ method: 'GET', url: '/container_gateway/index/static', headers: H })).statusCode, 502);
});

const form = (body: string) => ({ headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: body });
const asJson = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

test('refresh calls: Rack form and JSON give the same state; empty lists as bare keys; 200 with an empty body', async (t) => {
  const m = await mounted(t);
  await m.store.ensureUser('jdoe');
  const put = (url: string, body: { headers: Record<string, string>; payload: string }) => m.app.inject({ method: 'PUT', url: `/container_gateway/${url}`, ...body });
  const repoForm = `repositories[][repository]=${PUBLIC}&repositories[][auth_required]=false&repositories[][repository]=${PRIVATE}&repositories[][auth_required]=TRUE`;
  const r1 = await put('repository_list', form(repoForm));
  assert.equal(r1.statusCode, 200);
  assert.equal(r1.body, '');
  assert.equal(r1.headers['content-type'], 'text/html;charset=utf-8');
  assert.equal(await m.store.getRepository(HIDDEN), undefined);
  assert.deepEqual(await m.store.getRepository(PRIVATE), { name: PRIVATE, authRequired: true });
  assert.equal((await put('user_repository_mapping', form(`users[][jdoe][][repository]=${PRIVATE}&users[][jdoe][][auth_required]=true`))).statusCode, 200);
  assert.equal(await m.store.isMapped({ user: 'jdoe' }, PRIVATE), true);
  assert.equal((await put('update_hosts', form('hosts[][uuid]=h1&hosts[][uuid]=&hosts[][uuid]=h2'))).statusCode, 200);
  assert.equal((await put('host_repository_mapping', asJson({ hosts: [{ h1: [{ repository: PRIVATE, auth_required: true }] }, { h2: [] }] }))).statusCode, 200);
  assert.equal(await m.store.isMapped({ host: 'h1' }, PRIVATE), true);
  // JSON, including the plainer map form.
  assert.equal((await put('repository_list', asJson({ repositories: [{ repository: PRIVATE, auth_required: 'true' }, { repository: PUBLIC, auth_required: false }] }))).statusCode, 200);
  assert.equal(await m.store.isMapped({ host: 'h1' }, PRIVATE), true, 'the repository list does not drop mappings (§6.1)');
  assert.equal((await put('host_repository_mapping', asJson({ hosts: { h2: [PRIVATE] } }))).statusCode, 200);
  assert.equal(await m.store.isMapped({ host: 'h2' }, PRIVATE), true);
  assert.equal(await m.store.isMapped({ host: 'h1' }, PRIVATE), false);
  // Bare keys: empty lists.
  assert.equal((await put('host_repository_mapping', form('hosts'))).statusCode, 200);
  assert.equal(await m.store.isMapped({ host: 'h2' }, PRIVATE), false);
  assert.equal((await put('update_hosts', form('hosts'))).statusCode, 200);
  assert.equal(await m.store.hostExists('h1'), false);
});

test('refresh calls: the reference’s 500s are 200s or 400s naming the field', async (t) => {
  const m = await mounted(t);
  const put = (url: string, body: { headers: Record<string, string>; payload: string }) => m.app.inject({ method: 'PUT', url: `/container_gateway/${url}`, ...body });
  // Unknown user, missing users, a user with an empty list: the reference's 500s.
  assert.equal((await put('user_repository_mapping', form(`users[][ghost][][repository]=${PRIVATE}&users[][ghost][][auth_required]=true`))).statusCode, 200);
  assert.equal((await put('user_repository_mapping', form(''))).statusCode, 200);
  assert.equal((await put('user_repository_mapping', form('users[][admin]'))).statusCode, 200);
  const missing = await put('update_host_repositories', form(''));
  assert.equal(missing.statusCode, 400);
  assert.equal(missing.body, 'hosts: missing');
  const noName = await put('repository_list', form('repositories[][auth_required]=true'));
  assert.equal(noName.statusCode, 400);
  assert.match(noName.body, /repositories\[\]\[repository\]: missing in element 1/);
  const badJson = await put('repository_list', { headers: { 'content-type': 'application/json' }, payload: '{"repositories": [' });
  assert.equal(badJson.statusCode, 400);
  assert.match(badJson.body, /^JSON body: /);
  assert.equal((await put('repository_list', asJson({ repositories: 'x' }))).statusCode, 400);
  assert.equal((await put('repository_list', { headers: { 'content-type': 'text/xml' }, payload: '<x/>' })).statusCode, 400);
  assert.equal((await put('repository_list', form('repositories[][repository]=%E0%A4%A'))).statusCode, 400);
  assert.equal((await put('update_host_repositories', form(`hosts[][h9][][repository]=${PRIVATE}&hosts[][h9][][auth_required]=true`))).statusCode, 200);
  assert.equal(await m.store.isMapped({ host: 'h9' }, PRIVATE), true);
});

test('a host mapping far over Rack’s 4096 parameters is read as it streams and applied', async (t) => {
  const m = await mounted(t);
  const hosts = Array.from({ length: 5000 }, (_, i) => `host-${i}`);
  assert.equal((await m.app.inject({ method: 'PUT', url: '/container_gateway/update_hosts', ...form(hosts.map((h) => `hosts[][uuid]=${h}`).join('&')) })).statusCode, 200);
  const body = hosts.map((h) => `hosts[][${h}][][repository]=${encodeURIComponent(PRIVATE)}&hosts[][${h}][][auth_required]=true&hosts[][${h}][][repository]=${encodeURIComponent(HIDDEN)}&hosts[][${h}][][auth_required]=true`).join('&');
  const res = await m.app.inject({ method: 'PUT', url: '/container_gateway/host_repository_mapping', ...form(body) });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(await m.store.isMapped({ host: 'host-4999' }, HIDDEN), true);
  assert.equal(await m.store.isMapped({ host: 'host-0' }, PRIVATE), true);
});

test('settings: no database is a clear error naming the key; a bad URL too', async () => {
  await assert.rejects(mountModule(containerGateway, { settings: { pulp_endpoint: 'https://pulp.example.test' } }), /Missing db_connection_string or sqlite_db_path option/);
  await assert.rejects(mountModule(containerGateway, { settings: { db_connection_string: 'mysql://x', pulp_endpoint: 'https://pulp.example.test' } }), /must start with postgres:\/\/, postgresql:\/\/ or sqlite:\/\//);
});

test('exports.registryRoutes serves the registry API at /v1, /v2, /index of another scope (a host-facing listener), without management routes', async (t) => {
  const { default: Fastify } = await import('fastify');
  const store = await openSqliteStore({ path: ':memory:', busyTimeoutMs: 1000 });
  const pulp = new FakeUpstream('https://pulp.example.test/pulpcore_registry/');
  const instance = gatewayInstance({
    options: { clientEndpointHost: undefined, katelloRegistryPath: '/v2/', trustedFrontEnds: [], managementBodyLimit: 1024 * 1024, blobTimeoutMs: 60_000 },
    store,
    pulp,
    katello: new FakeUpstream('https://katello.example.test'),
    verifier: new HostCertificateVerifier(caPem),
    log: { debug() {}, info() {}, warn() {}, error() {} } as never,
  });
  // As every app of the core: `/v2` and `/v2/` are one route.
  const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } });
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  app.decorateRequest('proxyLog', null as never);
  app.addHook('onRequest', (request, _reply, done) => {
    (request as unknown as { proxyLog: typeof quiet }).proxyLog = quiet;
    done();
  });
  await app.register(async (scope) => (instance.exports as { registryRoutes(a: typeof scope): void }).registryRoutes(scope));
  t.after(async () => {
    await app.close();
    await instance.close?.();
  });
  await store.replaceRepositories([{ name: PUBLIC, authRequired: false }]);
  pulp.handler = () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: MANIFEST });
  const v2 = await app.inject({ method: 'GET', url: '/v2/', headers: H });
  assert.equal(v2.statusCode, 401);
  assert.equal(v2.headers['www-authenticate'], CHALLENGE);
  assert.equal((await app.inject({ method: 'GET', url: `/v2/${PUBLIC}/manifests/latest`, headers: H })).statusCode, 200);
  assert.equal((await app.inject({ method: 'PUT', url: '/repository_list', headers: H })).statusCode, 404);
});

test('/v2/features: the spec’s entry (no settings exposed, no capabilities)', async (t) => {
  const { app } = await mounted(t);
  const res = await app.inject({ method: 'GET', url: '/v2/features' });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual((JSON.parse(res.body) as Record<string, unknown>).container_gateway, { http_enabled: true, https_enabled: true, settings: {}, state: 'running', capabilities: [] });
});
