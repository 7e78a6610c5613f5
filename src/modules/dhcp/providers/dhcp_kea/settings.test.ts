// dhcp_kea's settings as the core checks them: its schema (defaults, ranges, pairs of keys), then
// its validate() for the rules across keys. Every bad value fails naming the key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDeclared, readDeclared, typed } from '../../../../core/settings/schema.ts';
import { DHCP_SETTINGS } from '../../module.ts';
import kea from './provider.ts';

/** The merged, checked settings the provider would get, or the message failing its group. */
async function settle(values: Record<string, unknown>): Promise<Record<string, unknown> | string> {
  const merged = { ...readDeclared('dhcp.yml', DHCP_SETTINGS, {}), ...readDeclared('dhcp_kea.yml', kea.settings, values) };
  const problem = await checkDeclared('dhcp_kea', 'dhcp_kea.yml', kea.settings, merged);
  if (problem) return problem.message;
  const view = { ...typed(DHCP_SETTINGS, merged), ...typed(kea.settings, merged) };
  const rule = kea.validate?.(view);
  return rule ? rule.message : view;
}

test('settings: defaults', async () => {
  const s = await settle({});
  assert.deepEqual(s, {
    use_provider: 'dhcp_isc',
    server: '127.0.0.1',
    subnets: [],
    ping_free_ip: true,
    url: 'http://127.0.0.1:8000/',
    timeout: 10,
    config_write: false,
    service: 'dhcp4',
    blacklist_duration_minutes: 1800,
    config_cache_seconds: 5,
  });
  assert.equal(((await settle({ url: 'https://kea:8001/', ssl_ca: '/ca' })) as { ssl_ca: string }).ssl_ca, '/ca');
  assert.equal(((await settle({ config_cache_seconds: 0 })) as { config_cache_seconds: number }).config_cache_seconds, 0);
  assert.equal(((await settle({ timeout: 2.5 })) as { timeout: number }).timeout, 2.5);
});

test('settings: every bad value is refused naming the key', async () => {
  assert.equal(await settle({ ssl_cert: '/c' }), 'dhcp_kea: ssl_cert needs ssl_key to be set too');
  assert.equal(await settle({ ssl_key: '/k' }), 'dhcp_kea: ssl_key needs ssl_cert to be set too');
  assert.equal(await settle({ ssl_ca: '/ca' }), 'dhcp_kea: ssl_ca/ssl_cert/ssl_key need an https:// url');
  assert.equal(await settle({ config_cache_seconds: -1 }), 'dhcp_kea: config_cache_seconds must be a number of seconds between 0 and 3600, got -1');
  assert.equal(await settle({ url: 'nope' }), "Setting 'url' is missing a scheme");
  assert.equal(await settle({ url: 'ftp://h/' }), 'dhcp_kea: url must be http:// or https://: ftp://h/');
  assert.equal(await settle({ url: 'http://u:p@h/' }), 'dhcp_kea: url must not carry credentials; use user and password_file');
  assert.equal(await settle({ timeout: 0 }), 'dhcp_kea: timeout must be a number of seconds above 0 and at most 55, got 0');
  assert.equal(await settle({ timeout: 90 }), 'dhcp_kea: timeout must be a number of seconds above 0 and at most 55, got 90');
  assert.equal(await settle({ user: 'u' }), 'dhcp_kea: user needs password_file to be set too');
  assert.equal(await settle({ password_file: '/x' }), 'dhcp_kea: password_file needs user to be set too');
  assert.equal(await settle({ service: 'dhcp6' }), "Parameter 'service' must be one of dhcp4");
  assert.equal(await settle({ config_write: 'yes' }), "Setting 'config_write' is expected to be true/false");
  assert.equal(await settle({ blacklist_duration_minutes: -1 }), 'dhcp_kea: blacklist_duration_minutes must be a whole number of seconds of at least 0, got -1');
});
