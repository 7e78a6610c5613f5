// What a reload may apply in place and what waits for a restart, and one reload at a time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planListeners, restartOnlyChanges, SerialReloads, noModuleChanges, type ReloadResult } from './reload.ts';
import { parseGlobalSettings } from './settings/load-global.ts';
import type { ListenerSpec } from './settings/global.ts';

const spec = (over: Partial<ListenerSpec> = {}): ListenerSpec => ({
  name: 'main',
  bind: ['*'],
  port: 8443,
  scheme: 'https',
  audience: 'foreman',
  clientCert: 'request',
  ...over,
});

test('listeners: socket-level changes wait for a restart and keep their running values; modules and TLS files apply', () => {
  const running = [spec()];
  const plan = planListeners(running, [spec({ port: 9443, bind: ['127.0.0.1'], clientCert: 'require', modules: ['dns'], sslCertificate: '/new.pem' })], false);
  assert.deepEqual(plan.needsRestart.sort(), ['listeners.main.bind', 'listeners.main.client_cert', 'listeners.main.port']);
  assert.deepEqual(plan.effective.get('main'), spec({ modules: ['dns'], sslCertificate: '/new.pem' }));
});

test('listeners: added and removed ones need a restart; compatible mode names http_port, bind_host, ssl_certificate', () => {
  const named = planListeners([spec()], [spec({ name: 'other' })], false);
  assert.deepEqual(named.needsRestart, ['listeners']);
  assert.deepEqual(named.effective.get('main'), spec());

  const http = spec({ name: 'http', scheme: 'http', port: 8000, clientCert: 'none' });
  const https = spec({ name: 'https' });
  const compat = planListeners([http, https], [{ ...http, port: 8001, bind: ['127.0.0.1'] }], true);
  assert.deepEqual(compat.needsRestart.sort(), ['bind_host', 'http_port', 'ssl_certificate']);
});

test('global settings read once at start are reported, body_limit is not', () => {
  const file = '/etc/foreman-proxy/settings.yml';
  const before = parseGlobalSettings({ log_level: 'INFO', limits: { body_limit: 4096 } }, file, '/etc/foreman-proxy');
  const after = parseGlobalSettings({ log_level: 'DEBUG', trusted_hosts: ['a'], limits: { body_limit: 8192, max_connections: 10 } }, file, '/etc/foreman-proxy');
  assert.deepEqual(restartOnlyChanges(before, after), ['log_level', 'limits.max_connections', 'limits.reserved_connections']);
  assert.deepEqual(restartOnlyChanges(before, before), []);
});

test('SerialReloads: one at a time; requests during a reload share one more run after it', async () => {
  const releases: (() => void)[] = [];
  let running = 0;
  let most = 0;
  let runs = 0;
  const reloads = new SerialReloads(async () => {
    runs++;
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    return { ok: true, modules: noModuleChanges(), needsRestart: [] } satisfies ReloadResult;
  });
  const first = reloads.request();
  const second = reloads.request();
  const third = reloads.request();
  assert.notEqual(first, second);
  assert.equal(second, third);
  assert.equal(runs, 1);
  releases.shift()?.();
  await first;
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2);
  const idle = reloads.idle();
  releases.shift()?.();
  await Promise.all([second, idle]);
  assert.equal(most, 1);
  assert.equal(runs, 2);
  // Once idle, a new request runs at once.
  const fourth = reloads.request();
  assert.equal(runs, 3);
  releases.shift()?.();
  await fourth;
});
