// Reload under load: a steady stream of /features and DHCP reads (dhcp_isc against a real ISC
// dhcpd in a network namespace, test/dhcp/isc-env.ts) over keep-alive connections, while a reload
// changes the tftp module's settings. Every request is answered (counted), none fails; tftp shows
// its new settings in /v2/features; the DHCP module and its provider are not recreated.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startTestProxy, type TestProxy } from '../../src/core/testing.ts';
import { envProxyFiles, startIscEnv, type IscEnv } from '../dhcp/isc-env.ts';
import { waitFor } from '../lib/procs.ts';

const NET = '192.168.122.0';
let env: IscEnv;
let proxy: TestProxy;

before(async () => {
  env = await startIscEnv({ extraConf: ['host static1 {', '  hardware ethernet 52:54:00:00:00:01;', '  fixed-address 192.168.122.5;', '}'].join('\n') });
  await env.startDhcpd();
  await mkdir(join(env.dir, 'tftproot'));
  proxy = await startTestProxy({
    files: {
      ...envProxyFiles(env, 3),
      tftp: { ':enabled': true, ':tftproot': join(env.dir, 'tftproot'), ':tftp_servername': '192.168.122.1' },
    },
  });
});

after(async () => {
  await proxy?.close();
  await env?.close();
});

test('a reload that changes tftp under a steady load of /features and DHCP reads loses no request', async () => {
  const paths = ['/features', '/dhcp', `/dhcp/${NET}`, `/dhcp/${NET}/mac/52:54:00:00:00:01`, '/features', '/tftp/serverName'];
  const dhcpBefore = proxy.proxy.records.get('dhcp')?.instance;
  assert.ok(dhcpBefore);
  const agent = new Agent({ connections: 4, keepAliveTimeout: 30_000 });
  const statuses = new Map<number, number>();
  const errors: string[] = [];
  let sent = 0;
  let answered = 0;
  let stop = false;
  const serverNames = new Set<string>();
  const worker = async (offset: number): Promise<void> => {
    for (let i = offset; !stop; i++) {
      const path = paths[i % paths.length];
      sent++;
      try {
        const res = await request(`${proxy.baseUrl}${path}`, { dispatcher: agent, headers: { accept: 'application/json' } });
        const body = await res.body.text();
        answered++;
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode !== 200) errors.push(`${path}: ${res.statusCode} ${body}`);
        if (path === '/tftp/serverName' && res.statusCode === 200) serverNames.add((JSON.parse(body) as { serverName: string }).serverName);
      } catch (err) {
        errors.push(`${path}: ${(err as Error).message}`);
      }
    }
  };
  const workers = Array.from({ length: 8 }, (_, i) => worker(i));
  try {
    await waitFor('some load before the reload', () => answered >= 300, 30_000, 20);
    await writeFile(
      join(proxy.settingsDir, 'settings.d', 'tftp.yml'),
      `---\n:enabled: true\n:tftproot: ${join(env.dir, 'tftproot')}\n:tftp_servername: 192.168.122.2\n`,
    );
    const atReload = answered;
    const result = await proxy.proxy.reload();
    assert.equal(result.ok, true, result.error);
    assert.deepEqual(result.modules.recreated, ['tftp']);
    assert.ok(result.modules.kept.includes('dhcp'));
    await waitFor('load after the reload', () => answered >= atReload + 600, 30_000, 20);
  } finally {
    stop = true;
    await Promise.all(workers);
    await agent.close();
  }
  assert.deepEqual(errors, []);
  assert.equal(answered, sent, 'every request sent was answered');
  assert.deepEqual([...statuses.keys()], [200]);
  // Both settings were served during the run, the new one last.
  assert.deepEqual([...serverNames], ['192.168.122.1', '192.168.122.2']);
  assert.equal(proxy.proxy.records.get('dhcp')?.instance, dhcpBefore, 'the DHCP module (and its dhcp_isc provider) kept its instance');
  const v2 = JSON.parse((await proxy.request('GET', '/v2/features')).body) as Record<string, { settings: Record<string, unknown>; state: string }>;
  assert.equal(v2.tftp.settings.tftp_servername, '192.168.122.2');
  assert.equal(v2.dhcp.state, 'running');
  const r = await proxy.request('GET', `/dhcp/${NET}/mac/52:54:00:00:00:01`);
  assert.equal(JSON.parse(r.body).ip, '192.168.122.5');
});
