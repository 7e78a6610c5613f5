// realm_freeipa keytab login against a real MIT KDC (krb5kdc on 127.0.0.1): kinit from the keytab
// and curl's SPNEGO obtain the session from a stand-in FreeIPA server (FreeIPA cannot run here),
// which then serves the JSON-RPC calls.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { requireCommand, tempDir, removeDir } from '../lib/procs.ts';
import { startIpaStandIn, type IpaStandIn } from './ipa-standin.ts';
import { startKdc, type Kdc } from './kdc.ts';

let kdc: Kdc;
let ipa: IpaStandIn;
let dir: string;
let proxy: TestProxy;
const originalKrb5Config = process.env.KRB5_CONFIG;

before(async () => {
  requireCommand('kinit');
  requireCommand('curl');
  dir = await tempDir('realm-krb');
  kdc = await startKdc('EXAMPLE.TEST');
  const keytab = await kdc.addPrincipal('realm-proxy');
  await kdc.addPrincipal('HTTP/localhost'); // IPA's web service principal
  ipa = await startIpaStandIn({ user: 'unused', password: 'unused', realm: 'EXAMPLE.TEST' });
  await writeFile(join(dir, 'default.conf'), `[global]\nrealm = EXAMPLE.TEST\nxmlrpc_uri = https://localhost:${ipa.port}/ipa/xml\n`);
  process.env.KRB5_CONFIG = kdc.krb5Conf; // the proxy's Kerberos configuration
  proxy = await startTestProxy({
    files: {
      realm: { ':enabled': true },
      realm_freeipa: {
        ':principal': 'realm-proxy@EXAMPLE.TEST',
        ':keytab_path': keytab,
        ':ipa_config': join(dir, 'default.conf'),
        ':ipa_ca_file': ipa.certFile,
        ':ipa_timeout': 10,
      },
    },
  });
});

after(async () => {
  if (originalKrb5Config === undefined) delete process.env.KRB5_CONFIG;
  else process.env.KRB5_CONFIG = originalKrb5Config;
  await proxy?.close();
  await ipa?.close();
  await kdc?.stop();
  if (dir) await removeDir(dir);
});

test('keytab login through a real KDC, then host add over the session (stand-in FreeIPA)', async () => {
  const res = await proxy.request('POST', '/realm/EXAMPLE.TEST/', { body: { hostname: 'node9.example.test' } });
  assert.equal(res.status, 200, res.body);
  const host = JSON.parse(res.body) as { randompassword?: string };
  assert.equal(typeof host.randompassword, 'string');
  assert.equal(ipa.kerberosLogins(), 1);
  assert.equal(ipa.logins(), 0, 'no password login');
  const del = await proxy.request('DELETE', '/realm/EXAMPLE.TEST/node9.example.test');
  assert.equal(del.status, 200, del.body);
  assert.equal(ipa.kerberosLogins(), 1, 'the session is reused');
});

test('a keytab without the principal\'s keys fails with the reference message (stand-in FreeIPA)', async () => {
  const otherKeytab = await kdc.addPrincipal('someone-else');
  const p = await startTestProxy({
    files: {
      realm: { ':enabled': true },
      realm_freeipa: {
        ':principal': 'realm-proxy@EXAMPLE.TEST',
        ':keytab_path': otherKeytab,
        ':ipa_config': join(dir, 'default.conf'),
        ':verify_ca': false,
        ':ipa_timeout': 10,
      },
    },
  });
  try {
    const res = await p.request('POST', '/realm/EXAMPLE.TEST/', { body: { hostname: 'node8.example.test' } });
    assert.equal(res.status, 400);
    assert.match(res.body, /^Failed to initailize credentials cache from keytab: /);
    assert.equal(ipa.hosts.has('node8.example.test'), false);
  } finally {
    await p.close();
  }
});
