// Unit tests of the router's pure parts: the route table from the real module catalogue, the
// merged documents and instance choice, the headers sent each way, and router.yml checking.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { Pool } from 'undici';
import { discoverCatalogue } from '../core/registry.ts';
import { parseGlobalSettings } from '../core/settings/load-global.ts';
import type { HttpClient } from '../lib/http/client.ts';
import { SettingsError } from '../core/errors.ts';
import { guardFor, matchPath, routeFor, routeTable } from './routes.ts';
import { Directory } from './directory.ts';
import { Instance, type FeatureEntry } from './fleet.ts';
import { downstreamHeaders, hasBody, upstreamHeaders } from './forward.ts';
import { parseRouterSettings } from './settings.ts';

test('routes and guards come from the module definitions, longest prefix first', async () => {
  const table = routeTable(await discoverCatalogue());
  assert.equal(routeFor(table, '/puppet/ca/foo')?.feature, 'puppetca');
  assert.equal(routeFor(table, '/puppet/environments')?.feature, 'puppet');
  assert.equal(routeFor(table, '/EFI/grub2/grubx64.efi')?.feature, 'httpboot');
  assert.equal(routeFor(table, '/userdata/meta-data')?.feature, 'templates');
  assert.equal(routeFor(table, '/dhcp')?.feature, 'dhcp');
  assert.equal(routeFor(table, '/dhcpx'), undefined);
  assert.equal(routeFor(table, '/features'), undefined);
  // the capsule front end is not a Foreman feature: nothing to learn, nothing routed
  assert.equal(routeFor(table, '/rhsm/consumers'), undefined);
  assert.deepEqual(guardFor(table, '/v2/features'), { prefix: '/v2', authorize: true, exempt: false });
  assert.equal(guardFor(table, '/unattended/provision')?.authorize, false);
  assert.equal(guardFor(table, '/dns/example.com')?.authorize, true);
  assert.deepEqual(guardFor(table, '/ssh/jobs/1'), { prefix: '/ssh/jobs', authorize: 'client-certificate', exempt: true });
  assert.equal(matchPath('/%6cogs'), '/logs');
});

function entry(state: string, settings: Record<string, unknown> = {}): FeatureEntry {
  return { http_enabled: state === 'running', https_enabled: state === 'running', settings, state, capabilities: [] };
}

function instance(port: number, health: Instance['health'], features: Record<string, FeatureEntry>, version = '3.13.0'): Instance {
  const i = new Instance(new URL(`https://127.0.0.1:${port}`), {} as Pool, {} as HttpClient);
  i.health = health;
  i.features = features;
  i.running = new Set(Object.entries(features).filter(([, f]) => f.state === 'running').map(([n]) => n));
  i.version = version;
  i.modules = Object.fromEntries([...i.running].map((n) => [n, version]));
  return i;
}

test('merged documents: union of running features, failed when every instance is down, the router’s ports', () => {
  const a = instance(1, 'up', { tftp: entry('running'), httpboot: entry('running', { http_port: 8000, https_port: 8443 }), dhcp: entry('disabled'), logs: entry('running') });
  const b = instance(2, 'down', { registration: entry('running', { registration_url: 'https://p' }), httpboot: entry('running'), logs: entry('running') });
  const c = instance(3, 'up', { dhcp: entry('failed'), logs: entry('running') });
  const d = new Directory([a, b, c], '9.9.9');
  d.setPorts({ http: null, https: 9443 });
  const docs = d.documents;
  assert.deepEqual(JSON.parse(docs.features.toString()), ['httpboot', 'logs', 'tftp']);
  const v2 = JSON.parse(docs.v2Features.toString()) as Record<string, FeatureEntry>;
  assert.deepEqual(Object.keys(v2), ['dhcp', 'httpboot', 'logs', 'registration', 'tftp']);
  assert.deepEqual(v2.httpboot.settings, { http_port: null, https_port: 9443 });
  assert.deepEqual(v2.registration, { http_enabled: false, https_enabled: false, settings: { registration_url: 'https://p' }, state: 'failed', capabilities: [] });
  assert.equal(v2.dhcp.state, 'failed');
  assert.deepEqual(JSON.parse(docs.version.toString()), { version: '3.13.0', modules: { httpboot: '3.13.0', logs: '3.13.0', tftp: '3.13.0' } });
  assert.equal(d.isDown('registration'), true);
  assert.equal(d.isDown('tftp'), false);
  assert.deepEqual(d.candidates('logs').map((i) => i.name), [a.name, c.name]);
});

test('instance choice: in turn, the least busy, logs pinned to the first, tried ones skipped', () => {
  const a = instance(1, 'up', { tftp: entry('running'), logs: entry('running') });
  const b = instance(2, 'up', { tftp: entry('running'), logs: entry('running') });
  const d = new Directory([a, b], '9.9.9');
  const none = new Set<Instance>();
  const turns = Array.from({ length: 4 }, () => d.pick('tftp', 'round-robin', none)?.name);
  assert.deepEqual(turns, [a.name, b.name, a.name, b.name]);
  a.inFlight = 5;
  assert.deepEqual(Array.from({ length: 3 }, () => d.pick('tftp', 'least-busy', none)?.name), [b.name, b.name, b.name]);
  assert.equal(d.pick('logs', 'round-robin', none), a);
  assert.equal(d.pick('logs', 'round-robin', new Set([a])), b);
  assert.equal(d.pick('tftp', 'least-busy', new Set([a, b])), undefined);
  assert.equal(d.pick('dns', 'least-busy', none), undefined);
});

test('headers: hop-by-hop ones removed both ways, X-Forwarded-* set by the router', () => {
  const req = {
    headers: {
      host: 'router.example.com:8443',
      connection: 'keep-alive, x-secret-hop',
      'x-secret-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-forwarded-for': '10.0.0.9',
      'x-forwarded-proto': 'gopher',
      'content-type': 'text/plain',
      accept: 'application/json',
      'x-client-certificate-cn': 'someone-else.example.com',
      'x-rhsm-ssl-client-cert': 'forged',
    },
    socket: { remoteAddress: '::ffff:192.0.2.7' },
  } as unknown as IncomingMessage;
  assert.deepEqual(upstreamHeaders(req, { proto: 'https', requestId: 'r1' }), {
    'content-type': 'text/plain',
    accept: 'application/json',
    'x-forwarded-for': '10.0.0.9, 192.0.2.7',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'router.example.com:8443',
    'x-request-id': 'r1',
    // no certificate: said so, the client's own claim dropped
    'x-client-certificate-cn': '',
  });
  // A client with a verified certificate: its CN is passed on, whatever the client wrote.
  const withCert = {
    headers: { 'x-client-certificate-cn': 'someone-else.example.com', 'x-rhsm-ssl-client-cert': 'forged' },
    socket: { remoteAddress: '192.0.2.7', authorized: true, getPeerCertificate: () => ({ subject: { CN: 'host.example.com' }, raw: Buffer.from('DER bytes') }) },
  } as unknown as IncomingMessage;
  assert.equal(upstreamHeaders(withCert, { proto: 'https', requestId: 'r2' })['x-client-certificate-cn'], 'host.example.com');
  assert.equal(upstreamHeaders(withCert, { proto: 'https', requestId: 'r2' })['x-rhsm-ssl-client-cert'], undefined);
  // For features that verify the whole host certificate: its DER in base64; without one, Apache's (null).
  assert.equal(upstreamHeaders(withCert, { proto: 'https', requestId: 'r2', hostCertificate: true })['x-rhsm-ssl-client-cert'], Buffer.from('DER bytes').toString('base64'));
  assert.equal(upstreamHeaders(req, { proto: 'https', requestId: 'r3', hostCertificate: true })['x-rhsm-ssl-client-cert'], '(null)');
  assert.equal(hasBody(req), true);
  assert.equal(hasBody({ headers: { 'content-length': '0' } } as unknown as IncomingMessage), false);
  assert.deepEqual(downstreamHeaders({ connection: 'close', 'keep-alive': 'timeout=10', 'content-length': '3', 'set-cookie': ['a=1', 'b=2'] }), {
    'content-length': '3',
    'set-cookie': ['a=1', 'b=2'],
  });
});

test('router.yml: defaults, the proxy’s TLS files as upstream identity, and mistakes named by key', async () => {
  const global = parseGlobalSettings({ ssl_certificate: '/etc/hostname', ssl_private_key: '/etc/hostname', ssl_ca_file: '/etc/hostname' }, '/x/settings.yml', '/x');
  const s = await parseRouterSettings({ instances: ['https://p1:8443', 'http://p2:8000'] }, '/x/settings.d/router.yml', global);
  assert.deepEqual(s.instances.map((u) => u.origin), ['https://p1:8443', 'http://p2:8000']);
  assert.equal(s.upstreamCert, '/etc/hostname');
  assert.equal(s.healthCheckIntervalMs, 5000);
  assert.equal(s.balance, 'least-busy');
  const bad = async (raw: Record<string, unknown>): Promise<string> => {
    try {
      await parseRouterSettings(raw, '/x/settings.d/router.yml', global);
    } catch (err) {
      assert.ok(err instanceof SettingsError);
      return err.message;
    }
    throw new Error('accepted');
  };
  assert.equal(await bad({ instances: ['https://p1:8443', 'https://p1:8443/'] }), '/x/settings.d/router.yml: instances[1]: lists https://p1:8443 a second time');
  assert.equal(await bad({ instances: ['p1'] }), "/x/settings.d/router.yml: instances[0]: is not a valid URL: 'p1'");
  assert.match(await bad({ instances: ['https://p1'], max_connections_per_instance: 0 }), /router\.yml: max_connections_per_instance: must be a whole number of at least 1, got 0/);
  assert.match(await bad({ instances: ['https://p1'], retry_after: 'soon' }), /router\.yml: retry_after: /);
});
