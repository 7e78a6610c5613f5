// Puppet CA and Puppet modules against a real Puppet Server (Debian `puppetserver`, CA on), started
// once for this file: certificates signed, listed and cleaned through the proxy, autosigning by
// host name (Puppet reads the autosign.conf the proxy writes) and by token (Puppet runs our policy
// executable, which asks the proxy's /validate), environments and classes.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { httpsSettings, makePki } from '../lib/certs.ts';
import { fetchUrl } from '../lib/https-client.ts';
import { execFileP, removeDir, tempDir } from '../lib/procs.ts';
import { startPuppetServer, type PuppetServer } from './puppetserver.ts';

const NODE = process.execPath;
const POLICY_SCRIPT = fileURLToPath(new URL('../../src/modules/puppetca/autosign-policy.ts', import.meta.url));

const MANIFESTS: Record<string, string> = {
  'environments/production/modules/motd/manifests/init.pp':
    "class motd (String $message = 'hello', Integer $port = 80, Boolean $enabled = false, $ref = $::osfamily) { }\n",
  'environments/production/modules/motd/manifests/config.pp': 'class motd::config { }\n',
  'environments/production/modules/broken/manifests/init.pp': 'class broken ( { \n',
  'environments/development/modules/dev/manifests/init.pp': 'class dev { }\n',
  'environments/development/manifests/site.pp': '\n',
};

let dir = '';
let server: PuppetServer | undefined;
let caAgent: Agent | undefined;

before(
  async () => {
    dir = await tempDir('puppet');
    server = await startPuppetServer(dir, MANIFESTS);
    caAgent = new Agent({ connect: { ca: await readFile(server.caFile) } });
  },
  { timeout: 480_000 },
);

after(async () => {
  await caAgent?.close();
  await server?.stop();
  if (dir) await removeDir(dir);
});

function ps(): PuppetServer {
  if (!server) throw new Error('puppetserver did not start');
  return server;
}

function tlsFiles(s: PuppetServer): Record<string, string> {
  return { puppet_url: s.url, puppet_ssl_ca: s.caFile, puppet_ssl_cert: s.proxyCert, puppet_ssl_key: s.proxyKey };
}

let csrCount = 0;
/** A fresh key and CSR made by openssl, optionally carrying a challengePassword. */
async function makeCsr(cn: string, challengePassword?: string): Promise<string> {
  const n = ++csrCount;
  const conf = join(dir, `csr-${n}.cnf`);
  await writeFile(
    conf,
    [
      '[req]',
      'prompt = no',
      'distinguished_name = dn',
      'string_mask = utf8only',
      ...(challengePassword !== undefined ? ['attributes = attrs'] : []),
      '[dn]',
      `CN = ${cn}`,
      ...(challengePassword !== undefined ? ['[attrs]', `challengePassword = ${challengePassword}`] : []),
      '',
    ].join('\n'),
  );
  const out = join(dir, `csr-${n}.pem`);
  await execFileP('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `csr-${n}.key`), '-config', conf, '-out', out]);
  return readFile(out, 'utf8');
}

/** Submit a CSR to Puppet's CA the way an agent does (no client certificate). */
async function submitCsr(cn: string, pem: string): Promise<number> {
  const res = await request(`${ps().url}/puppet-ca/v1/certificate_request/${cn}`, {
    method: 'PUT',
    body: pem,
    headers: { 'content-type': 'text/plain' },
    dispatcher: caAgent,
  });
  await res.body.text();
  return res.statusCode;
}

interface CertEntry {
  state: string;
  fingerprint: string | null;
  serial: number | null;
  not_before: string | null;
  not_after: string | null;
}

async function certs(proxy: TestProxy): Promise<Record<string, CertEntry>> {
  const r = await proxy.request('GET', '/puppet/ca');
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/json/);
  return JSON.parse(r.body) as Record<string, CertEntry>;
}

const HOSTILE = ['a;b.example.test', '$(id)', '`id`', 'a\nb.example.test', '-o', '--help', '../etc/passwd', '..', 'a b', 'a/b', 'x|y', "a'b"];

test('puppetca (hostname autosign) and puppet modules against a real Puppet Server', async (t) => {
  const s = ps();
  const autosignFile = s.autosignPath;
  const proxy = await startTestProxy({
    files: {
      puppetca: { enabled: true, use_provider: 'puppetca_hostname_whitelisting' },
      puppetca_hostname_whitelisting: { autosignfile: autosignFile },
      puppetca_http_api: tlsFiles(s),
      puppet: { enabled: true },
      puppet_proxy_puppet_api: tlsFiles(s),
    },
  });
  t.after(() => proxy.close());

  await t.test('v2/features exposes puppet_url and the provider lists', async () => {
    const r = await proxy.request('GET', '/v2/features');
    assert.equal(r.status, 200, r.body);
    const f = JSON.parse(r.body) as Record<string, { state: string; settings: Record<string, unknown>; capabilities: string[] }>;
    assert.equal(f.puppetca.state, 'running');
    assert.deepEqual(f.puppetca.settings, { puppet_url: s.url, use_provider: ['puppetca_hostname_whitelisting', 'puppetca_http_api'] });
    assert.deepEqual(f.puppetca.capabilities, []);
    assert.equal(f.puppet.state, 'running');
    assert.deepEqual(f.puppet.settings, { puppet_url: s.url, use_provider: ['puppet_proxy_puppet_api'] });
  });

  await t.test('a CSR made by openssl is listed pending, signed, listed valid, cleaned', async () => {
    const cn = 'node1.example.test';
    assert.equal(await submitCsr(cn, await makeCsr(cn)), 200);
    let list = await certs(proxy);
    assert.equal(list[cn].state, 'pending');
    assert.equal(list[cn].serial, null);
    assert.match(String(list[cn].fingerprint), /^[0-9A-F]{2}(:[0-9A-F]{2})+$/);

    const signed = await proxy.request('POST', `/puppet/ca/${cn}`, { body: '' });
    assert.equal(signed.status, 200, signed.body);
    assert.equal(signed.body, '');
    assert.match(signed.headers['content-type'], /^application\/json/);

    list = await certs(proxy);
    assert.equal(list[cn].state, 'valid');
    assert.equal(typeof list[cn].serial, 'number');
    assert.match(String(list[cn].not_after), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dUTC$/);
    assert.equal(list['puppet.example.test'].state, 'valid');

    // Foreman's trailing-slash form lists too.
    assert.equal((await proxy.request('GET', '/puppet/ca/')).status, 200);

    const cleaned = await proxy.request('DELETE', `/puppet/ca/${cn}`);
    assert.equal(cleaned.status, 200, cleaned.body);
    assert.equal(cleaned.body, '');
    assert.equal((await certs(proxy))[cn], undefined);
  });

  await t.test('cleaning a certificate that does not exist, or is only a CSR, succeeds', async () => {
    const missing = await proxy.request('DELETE', '/puppet/ca/never-existed.example.test');
    assert.equal(missing.status, 200, missing.body);
    const cn = 'csr-only.example.test';
    assert.equal(await submitCsr(cn, await makeCsr(cn)), 200);
    assert.equal((await certs(proxy))[cn].state, 'pending');
    const r = await proxy.request('DELETE', `/puppet/ca/${cn}`);
    assert.equal(r.status, 200, r.body);
    assert.equal((await certs(proxy))[cn], undefined);
  });

  await t.test('signing a certificate with no request is a 406 carrying Puppet’s answer', async () => {
    const r = await proxy.request('POST', '/puppet/ca/nothing-pending.example.test', { body: '' });
    assert.equal(r.status, 406);
    assert.match(r.body, /^Failed to sign certificate\(s\) for nothing-pending\.example\.test: Failed to set Puppet CA certificate_status v1 API: 40\d /);
  });

  await t.test('autosign by host name: Puppet signs what the proxy put in autosign.conf', async () => {
    const cn = 'auto1.example.test';
    const add = await proxy.request('POST', `/puppet/ca/autosign/${cn}`, { body: '' });
    assert.equal(add.status, 200, add.body);
    assert.equal(add.body, '');
    const again = await proxy.request('POST', `/puppet/ca/autosign/${cn}`, { body: '' });
    assert.equal(again.status, 200);
    assert.equal(await readFile(autosignFile, 'utf8'), `${cn}\n`);
    const wildcard = await proxy.request('POST', '/puppet/ca/autosign/*.wild.example.test', { body: '' });
    assert.equal(wildcard.status, 200, wildcard.body);

    const list = await proxy.request('GET', '/puppet/ca/autosign');
    assert.equal(list.status, 200);
    assert.deepEqual(JSON.parse(list.body), [cn, '*.wild.example.test']);

    assert.equal(await submitCsr(cn, await makeCsr(cn)), 200);
    assert.equal((await certs(proxy))[cn].state, 'valid', 'Puppet autosigned the whitelisted name');
    const glob = 'host.wild.example.test';
    assert.equal(await submitCsr(glob, await makeCsr(glob)), 200);
    assert.equal((await certs(proxy))[glob].state, 'valid', 'Puppet autosigned through the glob');
    const other = 'not-listed.example.test';
    assert.equal(await submitCsr(other, await makeCsr(other)), 200);
    assert.equal((await certs(proxy))[other].state, 'pending');

    const del = await proxy.request('DELETE', `/puppet/ca/autosign/${cn}`);
    assert.equal(del.status, 200, del.body);
    const del2 = await proxy.request('DELETE', `/puppet/ca/autosign/${cn}`);
    assert.equal(del2.status, 404);
    assert.equal(del2.body, `Attempt to remove nonexistent client autosign for ${cn}`);
    assert.equal((await proxy.request('DELETE', '/puppet/ca/autosign/*.wild.example.test')).status, 200);
    assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), []);
    for (const name of [cn, glob, other]) assert.equal((await proxy.request('DELETE', `/puppet/ca/${name}`)).status, 200);
  });

  await t.test('concurrent autosign edits never lose an entry', async () => {
    const names = Array.from({ length: 40 }, (_, i) => `c${i}.example.test`);
    const adds = await Promise.all(names.map((n) => proxy.request('POST', `/puppet/ca/autosign/${n}`, { body: '' })));
    assert.ok(adds.every((r) => r.status === 200));
    assert.deepEqual([...(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body) as string[])].sort(), [...names].sort());
    // Removing half while adding others: the survivors are exactly the expected set.
    const extra = Array.from({ length: 20 }, (_, i) => `d${i}.example.test`);
    const mixed = await Promise.all([
      ...names.slice(0, 20).map((n) => proxy.request('DELETE', `/puppet/ca/autosign/${n}`)),
      ...extra.map((n) => proxy.request('POST', `/puppet/ca/autosign/${n}`, { body: '' })),
    ]);
    assert.ok(mixed.every((r) => r.status === 200));
    const expected = [...names.slice(20), ...extra].sort();
    assert.deepEqual([...(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body) as string[])].sort(), expected);
    await Promise.all(expected.map((n) => proxy.request('DELETE', `/puppet/ca/autosign/${n}`)));
    assert.equal((await readFile(autosignFile, 'utf8')).trim(), '');
  });

  await t.test('/validate needs a provider that can validate CSRs', async () => {
    const r = await proxy.request('POST', '/puppet/ca/validate', { body: await makeCsr('v.example.test'), headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 501);
    assert.equal(r.body, 'Provider only supports trivial autosigning');
  });

  await t.test('hostile certnames are refused with a clear error and reach neither Puppet nor autosign.conf', async () => {
    const before = await readFile(autosignFile, 'utf8');
    for (const name of HOSTILE) {
      const enc = encodeURIComponent(name);
      for (const [method, path] of [
        ['POST', `/puppet/ca/${enc}`],
        ['DELETE', `/puppet/ca/${enc}`],
        ['POST', `/puppet/ca/autosign/${enc}`],
        ['DELETE', `/puppet/ca/autosign/${enc}`],
      ] as const) {
        const r = await proxy.request(method, path, { body: '' });
        if (name === '..' && r.status === 404) continue; // `/puppet/ca/..` is normalised away before routing
        assert.equal(r.status, 400, `${method} ${JSON.stringify(name)} → ${r.status} ${r.body}`);
        assert.match(r.body, /^Invalid certname /);
        assert.ok(!r.body.includes('\n'), 'the name is quoted, never echoed raw');
      }
    }
    assert.equal(await readFile(autosignFile, 'utf8'), before);
    const names = Object.keys(await certs(proxy));
    for (const name of HOSTILE) assert.ok(!names.includes(name));
  });

  await t.test('puppet: environments in Puppet’s order, one environment, unknown ones', async () => {
    const envs = await proxy.request('GET', '/puppet/environments');
    assert.equal(envs.status, 200, envs.body);
    assert.deepEqual([...(JSON.parse(envs.body) as string[])].sort(), ['development', 'production']);
    const prod = await proxy.request('GET', '/puppet/environments/production');
    assert.equal(prod.status, 200, prod.body);
    const body = JSON.parse(prod.body) as { name: string; paths: string[] };
    assert.equal(body.name, 'production');
    assert.ok(body.paths.includes(join(s.codeDir, 'environments/production/modules')));
    const none = await proxy.request('GET', '/puppet/environments/nosuch');
    assert.equal(none.status, 404);
    assert.equal(none.body, "Could not find environment 'nosuch'");
    const bad = await proxy.request('GET', `/puppet/environments/${encodeURIComponent('x;rm -rf')}/classes`);
    assert.equal(bad.status, 400);
    assert.match(bad.body, /^Invalid environment name /);
  });

  await t.test('puppet: classes in the legacy format and with parse errors', async () => {
    const r = await proxy.request('GET', '/puppet/environments/production/classes');
    assert.equal(r.status, 200, r.body);
    const classes = JSON.parse(r.body) as Record<string, { name: string; module: string | null; params: Record<string, unknown> }>[];
    const byName = Object.fromEntries(classes.map((c) => Object.entries(c)[0]));
    assert.deepEqual(byName.motd, {
      name: 'motd',
      module: null,
      params: { message: 'hello', port: 80, enabled: 'false', ref: '${::osfamily}' },
    });
    assert.deepEqual(byName['motd::config'], { name: 'config', module: 'motd', params: {} });
    assert.equal(byName.broken, undefined, 'a manifest that fails to parse is skipped');

    const ce = await proxy.request('GET', '/puppet/environments/production/classes_and_errors');
    assert.equal(ce.status, 200, ce.body);
    const files = JSON.parse(ce.body) as { path: string; classes?: { name: string; params: { name: string; default_source?: string }[] }[]; error?: string }[];
    const broken = files.find((f) => f.path.endsWith('broken/manifests/init.pp'));
    assert.ok(broken?.error, 'the parse error is reported');
    const motd = files.find((f) => f.path.endsWith('motd/manifests/init.pp'));
    assert.equal(motd?.classes?.[0].params.find((p) => p.name === 'ref')?.default_source, '${::osfamily}');

    // Second call: Puppet answers 304 to the cached ETag and the cached body is served.
    const again = await proxy.request('GET', '/puppet/environments/production/classes');
    assert.equal(again.status, 200);
    assert.deepEqual(JSON.parse(again.body), classes);

    const missing = await proxy.request('GET', '/puppet/environments/nosuch/classes');
    assert.equal(missing.status, 404);
    assert.equal(missing.body, "Could not find environment 'nosuch'");
  });

  await t.test('puppet: /puppet/run is gone, /puppet/ca/* is not shadowed by /puppet', async () => {
    const run = await proxy.request('POST', '/puppet/run', { body: '' });
    assert.equal(run.status, 501);
    assert.equal(run.body, 'Puppetrun support has been removed in version 2.3');
    assert.equal((await proxy.request('GET', '/puppet/ca/autosign')).status, 200);
    assert.equal((await proxy.request('GET', '/puppet/nothing')).status, 404);
  });
});

test('puppetca (token autosign): Puppet runs the policy executable, which asks the proxy', async (t) => {
  const s = ps();
  const keyFile = join(dir, 'token-key', 'signing.pem');
  const tokensFile = join(dir, 'tokens', 'tokens.yml');
  const proxy = await startTestProxy({
    files: {
      puppetca: { enabled: true, use_provider: 'puppetca_token_whitelisting' },
      puppetca_token_whitelisting: { certificate: keyFile, tokens_file: tokensFile, token_ttl: 30 },
      puppetca_http_api: tlsFiles(s),
    },
  });
  t.after(() => proxy.close());

  // Puppet decides per request: an executable `autosign` path is a policy script.
  const script = `${s.autosignPath}.new`;
  await writeFile(script, `#!/bin/sh\nexec ${NODE} ${POLICY_SCRIPT} --url ${proxy.baseUrl} --timeout 20 "$@"\n`);
  await chmod(script, 0o755);
  await rename(script, s.autosignPath);

  await t.test('the signing key is generated with mode 0600 and the tokens file created', async () => {
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.match(await readFile(keyFile, 'utf8'), /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.equal(await readFile(tokensFile, 'utf8'), '--- []\n');
    const f = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, { settings: Record<string, unknown> }>;
    assert.deepEqual(f.puppetca.settings.use_provider, ['puppetca_token_whitelisting', 'puppetca_http_api']);
  });

  await t.test('a token in the CSR gets it signed by Puppet, once', async () => {
    const cn = 'tok1.example.test';
    const add = await proxy.request('POST', `/puppet/ca/autosign/${cn}`, { body: '' });
    assert.equal(add.status, 200, add.body);
    const { generated_token: token } = JSON.parse(add.body) as { generated_token: string };
    const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    assert.deepEqual(header, { alg: 'RS512' });
    assert.equal(payload.certname, cn);
    const ttl = (payload.exp as number) - Math.floor(Date.now() / 1000);
    assert.ok(ttl > 29 * 60 && ttl <= 30 * 60, `exp is token_ttl minutes ahead (${ttl} s)`);
    assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), [cn]);

    assert.equal(await submitCsr(cn, await makeCsr(cn, token)), 200);
    assert.equal((await certs(proxy))[cn].state, 'valid', 'Puppet signed it after the proxy accepted the token');
    assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), [], 'the token was used up');

    // The same token again, for a fresh request under the same name: refused.
    assert.equal((await proxy.request('DELETE', `/puppet/ca/${cn}`)).status, 200);
    assert.equal(await submitCsr(cn, await makeCsr(cn, token)), 200);
    assert.equal((await certs(proxy))[cn].state, 'pending');
    assert.equal((await proxy.request('DELETE', `/puppet/ca/${cn}`)).status, 200);
  });

  await t.test('Puppet keeps pending what the proxy refuses: no token, another host’s token, a forged token', async () => {
    const a = 'tok2.example.test';
    const b = 'tok3.example.test';
    const tokenA = (JSON.parse((await proxy.request('POST', `/puppet/ca/autosign/${a}`, { body: '' })).body) as { generated_token: string }).generated_token;
    assert.equal(await submitCsr(b, await makeCsr(b)), 200);
    assert.equal((await certs(proxy))[b].state, 'pending', 'no token');
    assert.equal((await proxy.request('DELETE', `/puppet/ca/${b}`)).status, 200);
    assert.equal(await submitCsr(b, await makeCsr(b, tokenA)), 200);
    assert.equal((await certs(proxy))[b].state, 'pending', 'a token issued for another certname');
    assert.equal((await proxy.request('DELETE', `/puppet/ca/${b}`)).status, 200);
    const [h, p] = tokenA.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), certname: b })).toString('base64url');
    const forged = `${h}.${forgedPayload}.${tokenA.split('.')[2]}`;
    assert.equal(await submitCsr(b, await makeCsr(b, forged)), 200);
    assert.equal((await certs(proxy))[b].state, 'pending', 'a token whose signature does not match');
    assert.equal((await proxy.request('DELETE', `/puppet/ca/${b}`)).status, 200);
    assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), [a], 'refusals use up no token');
    assert.equal((await proxy.request('DELETE', `/puppet/ca/autosign/${a}`)).status, 200);
    assert.deepEqual(JSON.parse((await proxy.request('GET', '/puppet/ca/autosign')).body), []);
  });

  await t.test('/validate directly: 200 for a good CSR, 404 otherwise, whatever the content type', async () => {
    const cn = 'tok4.example.test';
    const token = (JSON.parse((await proxy.request('POST', `/puppet/ca/autosign/${cn}`, { body: 'token_ttl=5', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).body) as { generated_token: string }).generated_token;
    const exp = (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { exp: number }).exp;
    const ttl = exp - Math.floor(Date.now() / 1000);
    assert.ok(ttl > 4 * 60 && ttl <= 5 * 60, `token_ttl param honoured (${ttl} s)`);
    const pem = await makeCsr(cn, token);
    const garbage = await proxy.request('POST', '/puppet/ca/validate', { body: 'not a csr', headers: { 'content-type': 'text/plain' } });
    assert.equal(garbage.status, 404);
    assert.equal(garbage.body, '');
    // Foreman's own policy script posts with Net::HTTP, which labels the PEM as a form.
    const ok = await proxy.request('POST', '/puppet/ca/validate', { body: pem, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.body, '');
    const reused = await proxy.request('POST', '/puppet/ca/validate', { body: pem, headers: { 'content-type': 'text/plain' } });
    assert.equal(reused.status, 404);
  });

  await t.test('hostile certnames are refused before a token is issued', async () => {
    const before = await readFile(tokensFile, 'utf8');
    for (const name of HOSTILE) {
      const r = await proxy.request('POST', `/puppet/ca/autosign/${encodeURIComponent(name)}`, { body: '' });
      if (name === '..' && r.status === 404) continue;
      assert.equal(r.status, 400, `${JSON.stringify(name)} → ${r.status}`);
      assert.match(r.body, /^Invalid certname /);
    }
    // Token certnames are exact names: no globs.
    assert.equal((await proxy.request('POST', '/puppet/ca/autosign/*.example.test', { body: '' })).status, 400);
    assert.equal(await readFile(tokensFile, 'utf8'), before);
  });
});

test('over HTTPS as Foreman calls it: client certificate and trusted_hosts in front of both modules', async (t) => {
  const s = ps();
  const pkiDir = join(dir, 'pki');
  await mkdir(pkiDir);
  const pki = await makePki(pkiDir);
  const foreman = await pki.client('foreman.example.com');
  const stranger = await pki.client('intruder.example.com');
  const proxy = await startTestProxy({
    global: {
      ...httpsSettings(pki),
      trusted_hosts: ['foreman.example.com'],
    },
    files: {
      puppetca: { enabled: 'https' },
      puppetca_hostname_whitelisting: { autosignfile: join(dir, 'https-autosign.conf') },
      puppetca_http_api: tlsFiles(s),
      puppet: { enabled: 'https' },
      puppet_proxy_puppet_api: tlsFiles(s),
    },
  });
  t.after(() => proxy.close());
  const https = proxy.proxy.listeners.find((l) => l.spec.scheme === 'https');
  assert.ok(https);
  const base = `https://127.0.0.1:${https.addresses[0].port}`;
  const tls = { ca: pki.caCert, ...foreman };

  const list = await fetchUrl(`${base}/puppet/ca`, { tls, headers: { accept: 'application/json' } });
  assert.equal(list.status, 200, list.body);
  assert.equal((JSON.parse(list.body) as Record<string, CertEntry>)['puppet.example.test'].state, 'valid');
  const add = await fetchUrl(`${base}/puppet/ca/autosign/tls.example.test`, { tls, method: 'POST', body: '' });
  assert.equal(add.status, 200, add.body);
  const envs = await fetchUrl(`${base}/puppet/environments`, { tls });
  assert.equal(envs.status, 200, envs.body);

  for (const path of ['/puppet/ca', '/puppet/ca/autosign', '/puppet/environments']) {
    const none = await fetchUrl(`${base}${path}`, { tls: { ca: pki.caCert } });
    assert.equal(none.status, 403, path);
    const other = await fetchUrl(`${base}${path}`, { tls: { ca: pki.caCert, ...stranger } });
    assert.equal(other.status, 403, path);
    assert.match(other.body, /^Untrusted client intruder\.example\.com/);
  }
  // Not mounted on plain HTTP when enabled for https only.
  assert.equal((await proxy.request('GET', '/puppet/ca')).status, 404);
});

test('Puppet Server refusals surface as 406 with Puppet’s reason', async (t) => {
  const s = ps();
  const wrongCa = join(dir, 'wrong-ca.pem');
  await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'wrong-ca.key'), '-subj', '/CN=not the puppet ca', '-days', '1', '-out', wrongCa]);
  const untrusting = await startTestProxy({
    files: {
      puppetca: { enabled: true },
      puppetca_hostname_whitelisting: { autosignfile: join(dir, 'x.conf') },
      puppetca_http_api: { ...tlsFiles(s), puppet_ssl_ca: wrongCa },
    },
  });
  t.after(() => untrusting.close());
  const tlsFail = await untrusting.request('GET', '/puppet/ca');
  assert.equal(tlsFail.status, 406);
  assert.match(tlsFail.body, /^Failed to list certificates: TLS error talking to 127\.0\.0\.1:\d+: /);

  const anonymous = await startTestProxy({
    files: {
      puppetca: { enabled: true },
      puppetca_hostname_whitelisting: { autosignfile: join(dir, 'x.conf') },
      puppetca_http_api: { puppet_url: s.url, puppet_ssl_ca: s.caFile },
      puppet: { enabled: true },
      puppet_proxy_puppet_api: { puppet_url: s.url, puppet_ssl_ca: s.caFile },
    },
  });
  t.after(() => anonymous.close());
  const forbidden = await anonymous.request('GET', '/puppet/ca');
  assert.equal(forbidden.status, 406);
  assert.match(forbidden.body, /^Failed to list certificates: Failed to query Puppet CA search v1 API: 403 Forbidden request/);
  const clean = await anonymous.request('DELETE', '/puppet/ca/x.example.test');
  assert.equal(clean.status, 406);
  assert.match(clean.body, /^Failed to remove certificate\(s\) for x\.example\.test: Failed to set Puppet CA certificate_status v1 API: 403 /);
  const envs = await anonymous.request('GET', '/puppet/environments');
  assert.equal(envs.status, 406);
  assert.match(envs.body, /^Failed to list puppet environments: Failed to query Puppet find environments v3 API: 403 /);
  const classes = await anonymous.request('GET', '/puppet/environments/production/classes');
  assert.equal(classes.status, 406);
  assert.match(classes.body, /^Failed to show puppet classes: 403 /);
});
