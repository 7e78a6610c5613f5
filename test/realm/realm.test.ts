// Realm module with realm_freeipa against a stand-in FreeIPA JSON-RPC server (FreeIPA cannot run
// here; every test name says so): password login, host add with a one-time password, update,
// rebuild, delete, session renewal, TLS verification, bad input.

import { test as baseTest, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { tempDir, removeDir } from '../lib/procs.ts';
import { startIpaStandIn, type IpaStandIn } from './ipa-standin.ts';

const test = (name: string, fn: () => Promise<void>): void => void baseTest(`${name} (stand-in FreeIPA)`, fn);

let ipa: IpaStandIn;
let proxy: TestProxy;
let dir: string;

async function realmProxy(extra: Record<string, unknown> = {}): Promise<TestProxy> {
  return startTestProxy({
    files: {
      realm: { ':enabled': true },
      realm_freeipa: {
        ':principal': 'realm-proxy',
        ':password': 'Secret 123!',
        ':ipa_config': join(dir, 'default.conf'),
        ':verify_ca': false,
        ':ipa_timeout': 5,
        ...extra,
      },
    },
  });
}

before(async () => {
  dir = await tempDir('realm');
  ipa = await startIpaStandIn({ user: 'realm-proxy', password: 'Secret 123!', realm: 'EXAMPLE.COM' });
  await writeFile(
    join(dir, 'default.conf'),
    `[global]\nbasedn = dc=example,dc=com\nrealm = EXAMPLE.COM\ndomain = example.com\nserver = ipa.example.com\nxmlrpc_uri = ${ipa.origin}/ipa/xml\n`,
  );
  proxy = await realmProxy();
});

after(async () => {
  await proxy?.close();
  await ipa?.close();
  if (dir) await removeDir(dir);
});

function parsePretty(body: string): Record<string, unknown> {
  const v = JSON.parse(body) as Record<string, unknown>;
  assert.equal(body, JSON.stringify(v, null, 2), 'pretty-printed with 2 spaces');
  return v;
}

test('a new host is added with a one-time password and its userclass', async () => {
  const res = await proxy.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node1.example.com', userclass: 'web/prod' } });
  assert.equal(res.status, 200, res.body);
  assert.match(res.headers['content-type'], /^application\/json/);
  const host = parsePretty(res.body);
  assert.equal(typeof host.randompassword, 'string');
  assert.ok((host.randompassword as string).length >= 8);
  assert.deepEqual(host.fqdn, ['node1.example.com']);
  assert.deepEqual(ipa.hosts.get('node1.example.com')?.userclass, ['web/prod']);
  const v2 = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, unknown>;
  assert.deepEqual(v2.realm, { http_enabled: true, https_enabled: true, settings: { use_provider: 'realm_freeipa' }, state: 'running', capabilities: [] });
  const add = ipa.calls.find((c) => c.method === 'host_add')!;
  assert.deepEqual(add.args, ['node1.example.com']);
  assert.deepEqual(add.options, { random: true, force: true, setattr: ['userclass=web/prod'] });
});

test('an existing host is updated without a new password; nothing to change says so', async () => {
  const same = await proxy.request('POST', '/realm/example.com', { body: { hostname: 'node1.example.com', userclass: 'web/prod', update: 'true' } });
  assert.equal(same.status, 200, same.body);
  assert.equal(same.body, '{\n  "message": "nothing to do"\n}');
  const changed = await proxy.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node1.example.com', userclass: 'db' } });
  assert.equal(changed.status, 200, changed.body);
  const host = parsePretty(changed.body);
  assert.equal(host.randompassword, undefined);
  assert.deepEqual(host.userclass, ['db']);
});

test('rebuild disables an enrolled host and issues a new one-time password', async () => {
  ipa.hosts.get('node1.example.com')!.has_keytab = true; // the host enrolled meanwhile
  const from = ipa.calls.length;
  const res = await proxy.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node1.example.com', rebuild: 'true' } });
  assert.equal(res.status, 200, res.body);
  const host = parsePretty(res.body);
  assert.equal(typeof host.randompassword, 'string');
  assert.deepEqual(ipa.calls.slice(from).map((c) => c.method), ['host_show', 'host_disable', 'host_mod']);
  assert.deepEqual(ipa.calls[ipa.calls.length - 1].options, { random: true, setattr: [] });
  assert.equal(ipa.hosts.get('node1.example.com')!.has_keytab, false);
});

test('an unknown realm is refused', async () => {
  const res = await proxy.request('POST', '/realm/OTHER.ORG/', { body: { hostname: 'node2.example.com' } });
  assert.equal(res.status, 400);
  assert.equal(res.body, 'Unknown realm OTHER.ORG');
  assert.equal(ipa.hosts.has('node2.example.com'), false);
});

test('delete removes the host (retrying without DNS), a missing host is 404', async () => {
  const from = ipa.calls.length;
  const res = await proxy.request('DELETE', '/realm/EXAMPLE.COM/node1.example.com');
  assert.equal(res.status, 200, res.body);
  assert.deepEqual(parsePretty(res.body), { result: { failed: [] }, value: ['node1.example.com'], summary: 'Deleted host "node1.example.com"' });
  assert.deepEqual(ipa.calls.slice(from).map((c) => [c.method, c.options.updatedns]), [['host_show', undefined], ['host_del', true], ['host_del', false]]);
  assert.equal(ipa.hosts.has('node1.example.com'), false);
  const missing = await proxy.request('DELETE', '/realm/EXAMPLE.COM/node1.example.com/');
  assert.equal(missing.status, 404);
  assert.equal(missing.body, 'Host node1.example.com not found in realm');
});

test('an expired session is renewed once with a new login', async () => {
  const before = ipa.logins();
  ipa.expireSessions();
  const res = await proxy.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node3.example.com' } });
  assert.equal(res.status, 200, res.body);
  assert.equal(ipa.logins(), before + 1);
  // the session is kept across requests
  await proxy.request('DELETE', '/realm/EXAMPLE.COM/node3.example.com');
  assert.equal(ipa.logins(), before + 1);
});

test('hostile or missing hostnames never reach IPA', async () => {
  const from = ipa.calls.length;
  for (const hostname of ['-o', 'a;b.example.com', '$(id).example.com', 'a b', 'x\ny.example.com', '']) {
    const res = await proxy.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname } });
    assert.equal(res.status, 400, JSON.stringify(hostname));
    assert.match(res.body, /hostname/);
  }
  assert.equal((await proxy.request('POST', '/realm/EXAMPLE.COM/')).status, 400);
  const del = await proxy.request('DELETE', `/realm/EXAMPLE.COM/${encodeURIComponent('a;b')}`);
  assert.equal(del.status, 400);
  assert.equal(ipa.calls.length, from);
});

test('a wrong password, an unverifiable certificate and a trusted CA file', async () => {
  const wrong = await realmProxy({ ':password': 'nope' });
  try {
    const res = await wrong.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node4.example.com' } });
    assert.equal(res.status, 400);
    assert.match(res.body, /^FreeIPA password login as realm-proxy failed: HTTP 401 \(invalid-password\)$/);
  } finally {
    await wrong.close();
  }
  const strict = await realmProxy({ ':verify_ca': true });
  try {
    const res = await strict.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node4.example.com' } });
    assert.equal(res.status, 400);
    assert.match(res.body, /TLS error|certificate/i);
  } finally {
    await strict.close();
  }
  const trusted = await realmProxy({ ':verify_ca': true, ':ipa_ca_file': ipa.certFile });
  try {
    const res = await trusted.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'node4.example.com' } });
    assert.equal(res.status, 200, res.body);
  } finally {
    await trusted.close();
  }
});

test('a hung IPA call fails the request at the ipa_timeout deadline', async () => {
  const quick = await realmProxy({ ':ipa_timeout': 2 });
  ipa.hang.add('host_show');
  try {
    const res = await quick.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'slow.example.com' } });
    assert.equal(res.status, 400);
    assert.match(res.body, /^FreeIPA host_show: /);
  } finally {
    ipa.hang.delete('host_show');
    await quick.close();
  }
});

test('without keytab_path or password the module fails with the reference message', async () => {
  const p = await startTestProxy({
    files: { realm: { ':enabled': true }, realm_freeipa: { ':principal': 'realm-proxy', ':ipa_config': join(dir, 'default.conf') } },
  });
  try {
    const features = JSON.parse((await p.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
    assert.equal(features.realm.state, 'failed');
    const logs = (await p.request('GET', '/logs')).body;
    assert.match(logs, /Parameter 'keytab_path' is expected to have a non-empty value/);
    assert.equal((await p.request('POST', '/realm/EXAMPLE.COM/', { body: { hostname: 'x.example.com' } })).status, 404);
  } finally {
    await p.close();
  }
});
