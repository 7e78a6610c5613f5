// The pulpcore module in-process: its settings and /v2/features entry (the password is never
// published), and the capabilities cache with a fake Pulp (TTL, one refresh at a time, a hanging
// Pulp not holding /v2/features). Against a Pulp status stand-in over real sockets: test/pulpcore/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountModule } from '../../core/inject.ts';
import type { Logger } from '../../core/logging-types.ts';
import { silentLogger } from '../../core/logging.ts';
import pulpcore from './module.ts';
import { statusUrl } from './api.ts';
import { CapabilitiesCache, componentsOf } from './capabilities.ts';

const SETTINGS = {
  pulp_url: 'https://127.0.0.1:1',
  mirror: true,
  content_app_url: 'https://capsule.example.com/pulp/content',
  rhsm_url: 'https://capsule.example.com:443/rhsm',
  client_authentication: ['client_certificate'],
};

function recordingLog(lines: string[]): Logger {
  return { ...silentLogger, error: (msg: string) => lines.push(msg) } as Logger;
}

test('/v2/features: the settings in the reference order, the password never published', async (t) => {
  const { app } = await mountModule(pulpcore, { settings: { ...SETTINGS, username: 'katello', password: 's3cr3t-pulp-password', capabilities_wait: 0 } }, t);
  const res = await app.inject({ method: 'GET', url: '/v2/features' });
  assert.equal(res.statusCode, 200);
  assert.ok(!res.body.includes('s3cr3t'), 'the password must not appear anywhere in /v2/features');
  const feature = (JSON.parse(res.body) as Record<string, { settings: Record<string, unknown>; state: string; capabilities: string[] }>)['pulpcore'];
  assert.deepEqual(Object.keys(feature.settings), ['pulp_url', 'mirror', 'content_app_url', 'username', 'password', 'client_authentication', 'rhsm_url']);
  assert.deepEqual(feature.settings, {
    pulp_url: 'https://127.0.0.1:1',
    mirror: true,
    content_app_url: 'https://capsule.example.com/pulp/content',
    username: 'katello',
    password: null,
    client_authentication: ['client_certificate'],
    rhsm_url: 'https://capsule.example.com:443/rhsm',
  });
  assert.equal(feature.state, 'running');
  assert.ok(Array.isArray(feature.capabilities));
});

test('settings are checked with the reference messages', async () => {
  const { pulp_url: _omitted, ...withoutPulpUrl } = SETTINGS;
  await assert.rejects(mountModule(pulpcore, { settings: withoutPulpUrl }), /Setting 'pulp_url' is expected to contain a url/);
  await assert.rejects(mountModule(pulpcore, { settings: { ...SETTINGS, rhsm_url: 'not a url' } }), /Setting 'rhsm_url' is missing a scheme/);
  const rule = pulpcore.validate?.({ ...SETTINGS, client_authentication: ['password', 'kerberos'] } as never);
  assert.deepEqual(rule, {
    key: 'client_authentication',
    message: `Parameter 'client_authentication' is expected to be one or more of ["password", "client_certificate"]`,
  });
  assert.equal(pulpcore.validate?.(SETTINGS as never), undefined);
  assert.equal(statusUrl('https://capsule.example.com'), 'https://capsule.example.com/pulp/api/v3/status/');
  assert.equal(statusUrl('https://capsule.example.com/'), 'https://capsule.example.com/pulp/api/v3/status/');
});

test('capabilities: the components of Pulp status, de-duplicated and sorted', () => {
  const status = { versions: [{ component: 'rpm' }, { component: 'core' }, { component: 'rpm' }, { component: 'certguard' }, { component: 'file' }, {}] };
  assert.deepEqual(componentsOf(status), ['certguard', 'core', 'file', 'rpm']);
  assert.throws(() => componentsOf({ detail: 'nope' }), /no 'versions' list/);
});

test('capabilities are reused for the TTL, then refreshed once; failures give [] and are logged', async () => {
  let now = 1000;
  let calls = 0;
  let answer: () => Promise<string[]> = async () => ['core', 'rpm'];
  const errors: string[] = [];
  const cache = new CapabilitiesCache({ fetch: () => (calls++, answer()), ttlMs: 60_000, waitMs: 1000, log: recordingLog(errors), now: () => now });
  assert.deepEqual(await cache.get(), ['core', 'rpm']);
  assert.deepEqual(await Promise.all([cache.get(), cache.get(), cache.get()]), [['core', 'rpm'], ['core', 'rpm'], ['core', 'rpm']]);
  assert.equal(calls, 1, 'Pulp is asked once per TTL, not per request');
  now += 60_000;
  answer = async () => {
    throw new Error('Failed to open TCP connection to pulp:443');
  };
  assert.deepEqual(await cache.get(), []);
  assert.equal(calls, 2);
  assert.deepEqual(errors, ['Could not fetch capabilities: Failed to open TCP connection to pulp:443']);
});

test('a hanging Pulp does not hold /v2/features: the last known capabilities after the short wait', async () => {
  let now = 0;
  let calls = 0;
  let release: (v: string[]) => void = () => undefined;
  const hanging = new Promise<string[]>((r) => (release = r));
  const cache = new CapabilitiesCache({ fetch: () => (calls++, calls === 1 ? Promise.resolve(['core']) : hanging), ttlMs: 10, waitMs: 20, log: silentLogger, now: () => now });
  assert.deepEqual(await cache.get(), ['core']);
  now += 100;
  // Pulp does not answer: the callers get the last known list, and share the one refresh
  assert.deepEqual(await Promise.all([cache.get(), cache.get()]), [['core'], ['core']]);
  assert.equal(calls, 2);
  release(['core', 'rpm']);
  await cache.refresh();
  assert.deepEqual(await cache.get(), ['core', 'rpm']);
});
