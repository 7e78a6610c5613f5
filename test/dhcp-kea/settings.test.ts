// Bad dhcp_kea settings fail the DHCP module's group at start-up with the key named, visible in
// /logs failed_modules, while the rest of the proxy runs on. No Kea needed: nothing is contacted.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestProxy } from '../../src/core/testing.ts';

async function failure(kea: Record<string, unknown>): Promise<string> {
  const p = await startTestProxy({
    global: { log_level: 'ERROR' },
    files: { dhcp: { ':enabled': true, ':use_provider': 'dhcp_kea' }, dhcp_kea: kea },
  });
  try {
    const features = JSON.parse((await p.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
    assert.equal(features.dhcp.state, 'failed');
    const logs = JSON.parse((await p.request('GET', '/logs')).body) as { info: { failed_modules: Record<string, string> } };
    return logs.info.failed_modules.dhcp;
  } finally {
    await p.close();
  }
}

test('a timeout Foreman would not wait for is refused, naming the key', async () => {
  assert.match(await failure({ ':timeout': 90 }), /dhcp_kea: timeout must be a number of seconds above 0 and at most 55, got 90/);
});

test('an unreadable password_file is refused, naming the key and the file', async () => {
  assert.match(
    await failure({ ':user': 'foreman', ':password_file': '/nonexistent/kea-pass' }),
    /dhcp_kea: password_file \/nonexistent\/kea-pass cannot be read: ENOENT/,
  );
});

test('credentials in the url are refused', async () => {
  assert.match(await failure({ ':url': 'http://u:p@127.0.0.1:8000/' }), /dhcp_kea: url must not carry credentials/);
});

test('a proxy with valid settings starts even while Kea is unreachable', async () => {
  const p = await startTestProxy({
    global: { log_level: 'ERROR' },
    files: { dhcp: { ':enabled': true, ':use_provider': 'dhcp_kea', ':ping_free_ip': false }, dhcp_kea: { ':url': 'http://127.0.0.1:1/', ':timeout': 2 } },
  });
  try {
    const features = JSON.parse((await p.request('GET', '/v2/features')).body) as Record<string, { state: string }>;
    assert.equal(features.dhcp.state, 'running');
    const r = await p.request('GET', '/dhcp');
    assert.equal(r.status, 400);
    assert.match(r.body, /^dhcp\/kea: cannot read the configuration: Kea Control Agent unreachable/);
  } finally {
    await p.close();
  }
});
