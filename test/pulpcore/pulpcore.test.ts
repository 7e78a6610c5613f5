// The pulpcore module in a running proxy against a Pulp status stand-in over HTTPS (Pulp itself
// cannot run here): capabilities in /v2/features read from Pulp's status and cached (Pulp asked
// once per TTL, not per request), the password never published, /pulpcore/status relayed, and a
// hanging Pulp that does not hold /v2/features.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { makePki, type Pki } from '../lib/certs.ts';
import { freeTcpPort, removeDir, tempDir } from '../lib/procs.ts';
import { pulpStatusBody, startPulpStandIn, type PulpStandIn } from '../lib/pulp-standin.ts';

const COMPONENTS = ['core', 'rpm', 'file', 'container', 'deb', 'ansible', 'certguard', 'python', 'rpm'];
const PASSWORD = 'pulp-admin-password-7c1e';

function pulpcoreSettings(pki: Pki, pulpUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ':enabled': true,
    ':pulp_url': pulpUrl,
    ':mirror': true,
    ':content_app_url': 'https://capsule.example.com/pulp/content',
    ':rhsm_url': 'https://capsule.example.com:443/rhsm',
    ':client_authentication': ['client_certificate'],
    ':username': 'admin',
    ':password': PASSWORD,
    ':ssl_ca': pki.caCert,
    ...extra,
  };
}

interface Feature {
  settings: Record<string, unknown>;
  state: string;
  capabilities: string[];
  https_enabled: boolean;
}

describe('pulpcore with a Pulp status stand-in', () => {
  let dir: string;
  let pki: Pki;
  let pulp: PulpStandIn;
  let proxy: TestProxy;

  before(async () => {
    dir = await tempDir('pulpcore');
    pki = await makePki(dir);
    pulp = await startPulpStandIn({ kind: 'ok', components: COMPONENTS }, { cert: pki.serverCert, key: pki.serverKey });
    proxy = await startTestProxy({ files: { pulpcore: pulpcoreSettings(pki, pulp.origin) } });
  });
  after(async () => {
    await proxy?.close();
    await pulp?.close();
    await removeDir(dir);
  });

  test('/v2/features: capabilities from Pulp status, the settings in order, the password never published', async () => {
    const res = await proxy.request('GET', '/v2/features');
    assert.equal(res.status, 200);
    assert.ok(!res.body.includes(PASSWORD), 'the Pulp password must not be in /v2/features');
    const feature = (JSON.parse(res.body) as Record<string, Feature>)['pulpcore'];
    assert.equal(feature.state, 'running');
    assert.deepEqual(feature.capabilities, ['ansible', 'certguard', 'container', 'core', 'deb', 'file', 'python', 'rpm']);
    assert.deepEqual(feature.settings, {
      pulp_url: pulp.origin,
      mirror: true,
      content_app_url: 'https://capsule.example.com/pulp/content',
      username: 'admin',
      password: null,
      client_authentication: ['client_certificate'],
      rhsm_url: 'https://capsule.example.com:443/rhsm',
    });
    // plain TLS to Pulp, verified with ssl_ca, no client certificate, JSON asked for
    assert.ok(pulp.requests.length >= 1);
    assert.equal(pulp.requests[0].path, '/pulp/api/v3/status/');
    assert.equal(pulp.requests[0].accept, 'application/json');
    assert.equal(pulp.requests[0].clientCertificate, false);
  });

  test('capabilities are cached: many requests, one status call per TTL', async () => {
    const instance = proxy.proxy.records.get('pulpcore')?.instance;
    assert.ok(instance?.capabilities);
    await instance.capabilities();
    const before = pulp.requests.length;
    const answers = await Promise.all(Array.from({ length: 50 }, () => instance.capabilities?.()));
    for (const a of answers) assert.deepEqual(a, ['ansible', 'certguard', 'container', 'core', 'deb', 'file', 'python', 'rpm']);
    assert.equal(pulp.requests.length, before, 'Pulp must not be asked per request');
  });

  test('GET /pulpcore/status relays Pulp status verbatim as JSON', async () => {
    const res = await proxy.request('GET', '/pulpcore/status');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(res.body, pulpStatusBody(COMPONENTS));
  });

  test('GET /pulpcore/status with Pulp answering 500: the reference quirk, 200 with the code before the text', async () => {
    pulp.mode = { kind: 'error', status: 500 };
    try {
      const res = await proxy.request('GET', '/pulpcore/status');
      assert.equal(res.status, 200);
      assert.equal(res.body, `500Pulp server at ${pulp.origin} returned an error: 'Internal Server Error'`);
    } finally {
      pulp.mode = { kind: 'ok', components: COMPONENTS };
    }
  });
});

describe('pulpcore with Pulp down or hanging', () => {
  let dir: string;
  let pki: Pki;

  before(async () => {
    dir = await tempDir('pulpcore-down');
    pki = await makePki(dir);
  });
  after(async () => removeDir(dir));

  test('Pulp refusing connections: capabilities [] and /pulpcore/status 503 naming the host', async () => {
    const port = await freeTcpPort();
    const proxy = await startTestProxy({ files: { pulpcore: pulpcoreSettings(pki, `https://127.0.0.1:${port}`) } });
    try {
      const features = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, Feature>;
      assert.equal(features['pulpcore'].state, 'running');
      assert.deepEqual(features['pulpcore'].capabilities, []);
      const status = await proxy.request('GET', '/pulpcore/status', { headers: { accept: 'text/plain' } });
      assert.equal(status.status, 503);
      assert.match(status.body, /^Communication error with '127\.0\.0\.1': Failed to open TCP connection to 127\.0\.0\.1:\d+/);
    } finally {
      await proxy.close();
    }
  });

  test('a hanging Pulp does not hold /v2/features: it answers while Pulp still has the status call', async () => {
    const pulp = await startPulpStandIn({ kind: 'hang' }, { cert: pki.serverCert, key: pki.serverKey });
    const proxy = await startTestProxy({
      files: { pulpcore: pulpcoreSettings(pki, pulp.origin, { ':capabilities_wait': 0.2, ':status_timeout': 300 }) },
    });
    try {
      const res = await proxy.request('GET', '/v2/features');
      assert.equal(res.status, 200);
      const feature = (JSON.parse(res.body) as Record<string, Feature>)['pulpcore'];
      assert.deepEqual(feature.capabilities, []);
      assert.equal(feature.state, 'running');
      // answered although Pulp has not answered the status call yet: the call is still open
      assert.equal(pulp.hanging, 1);
      assert.equal(pulp.requests.length, 1, 'one refresh at a time');
    } finally {
      await proxy.close();
      await pulp.close();
    }
  });
});
