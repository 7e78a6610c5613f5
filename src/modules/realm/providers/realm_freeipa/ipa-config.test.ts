import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpaConfig } from './ipa-config.ts';

test('reads xmlrpc_uri and realm from default.conf', () => {
  const c = parseIpaConfig(`[global]
basedn = dc=example,dc=com
realm = EXAMPLE.COM
domain = example.com
server = ipa.example.com
host = proxy.example.com
xmlrpc_uri = https://ipa.example.com/ipa/xml
enable_ra = True
`);
  assert.deepEqual(c, { xmlrpcUri: 'https://ipa.example.com/ipa/xml', origin: 'https://ipa.example.com', realm: 'EXAMPLE.COM' });
  assert.equal(parseIpaConfig('xmlrpc_uri=https://127.0.0.1:8443/ipa/xml\nrealm=X').origin, 'https://127.0.0.1:8443');
});

test('missing keys fail with the reference message', () => {
  assert.throws(() => parseIpaConfig('realm = X\n'), /^Error: unable to parse client configuration$/);
  assert.throws(() => parseIpaConfig('xmlrpc_uri = https://x/ipa/xml\n'), /unable to parse client configuration/);
  assert.throws(() => parseIpaConfig('xmlrpc_uri = not a url\nrealm = X'), /unable to parse client configuration/);
});
