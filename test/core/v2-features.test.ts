// /v2/features for running, disabled and failed modules, field by field against spec README §4.3,
// and /logs failed_modules for the failed group.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy } from '../../src/core/testing.ts';

test('/v2/features shapes for running, disabled and failed modules', async () => {
  const p = await startTestProxy({
    files: {
      dns: ':enabled: true\n:use_provider: dns_nope\n',
      dhcp: ':enabled: false\n',
      httpboot: ':enabled: http\n:root_dir: /tmp\n',
    },
  });
  try {
    const r = await p.request('GET', '/v2/features');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/json/);
    const v2 = JSON.parse(r.body);
    assert.deepEqual(v2.logs, { http_enabled: true, https_enabled: true, settings: {}, state: 'running', capabilities: [] });
    assert.deepEqual(v2.dns, { http_enabled: false, https_enabled: false, settings: { use_provider: 'dns_nope' }, state: 'failed', capabilities: [] });
    assert.deepEqual(v2.dhcp, { http_enabled: false, https_enabled: false, settings: { use_provider: null }, state: 'disabled', capabilities: [] });
    assert.deepEqual(v2.bmc, { http_enabled: false, https_enabled: false, settings: {}, state: 'disabled', capabilities: ['redfish', 'shell', 'ssh'] });
    const port = p.proxy.listeners[0].addresses[0].port;
    assert.deepEqual(v2.httpboot, { http_enabled: true, https_enabled: false, settings: { http_port: p.proxy.global.httpPort, https_port: null }, state: 'running', capabilities: [] });
    assert.equal(typeof port, 'number');
    for (const [name, f] of Object.entries<Record<string, unknown>>(v2)) {
      assert.deepEqual(Object.keys(f), ['http_enabled', 'https_enabled', 'settings', 'state', 'capabilities'], name);
    }

    const features = JSON.parse((await p.request('GET', '/features')).body);
    assert.deepEqual(features, ['httpboot', 'logs']);

    const logs = JSON.parse((await p.request('GET', '/logs/?from_timestamp=0')).body);
    const msg = "Disabling all modules in the group ['dns_nope', 'dns'] due to a failure in one of them: following providers are not available ['dns_nope']";
    assert.equal(logs.info.failed_modules.dns, msg);
    assert.equal(logs.info.failed_modules.dns_nope, msg);
    assert.ok(logs.logs.some((e: { level: string; message: string }) => e.level === 'ERROR' && e.message === msg));
  } finally {
    await p.close();
  }
});

test('a dhcp_isc module reports its provider capabilities when it fails validation', async () => {
  const p = await startTestProxy({ files: { dhcp: ':enabled: true\n', dhcp_isc: ':config: /nonexistent/dhcpd.conf\n:leases: /nonexistent/leases\n' } });
  try {
    const v2 = JSON.parse((await p.request('GET', '/v2/features')).body);
    assert.equal(v2.dhcp.state, 'failed');
    assert.deepEqual(v2.dhcp.capabilities, ['dhcp_filename_hostname', 'dhcp_filename_ipv4']);
  } finally {
    await p.close();
  }
});
