import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGlobalSettings } from './load-global.ts';
import { parseSettingsYaml } from './yaml.ts';
import { SettingsError } from '../errors.ts';

const FILE = '/etc/foreman-proxy/settings.yml';
const parse = (yaml: string) => parseGlobalSettings(parseSettingsYaml(yaml, FILE), FILE, '/etc/foreman-proxy');

test('defaults match the reference', () => {
  const g = parse('---\n');
  assert.equal(g.httpPort, null);
  assert.equal(g.httpsPort, 8443);
  assert.deepEqual(g.bindHost, ['*']);
  assert.equal(g.trustedHosts, null);
  assert.equal(g.forwardVerify, true);
  assert.equal(g.logLevel, 'INFO');
  assert.equal(g.logBuffer, 2000);
  assert.equal(g.logBufferErrors, 1000);
  assert.deepEqual(g.dnsResolvTimeouts, [5, 8, 13]);
  assert.equal(g.settingsDirectory, '/etc/foreman-proxy/settings.d');
  assert.equal(g.logFile, '/var/log/foreman-proxy/proxy.log');
});

test('both key forms work in settings.yml; the colon form wins', () => {
  const g = parse('log_file: /tmp/a.log\n:http_port: 8000\n');
  assert.equal(g.logFile, '/tmp/a.log');
  assert.equal(g.httpPort, 8000);
  const both = parse('http_port: 1\n:http_port: 2\n');
  assert.equal(both.httpPort, 2);
  const reversed = parse(':http_port: 2\nhttp_port: 1\n');
  assert.equal(reversed.httpPort, 2);
});

test('YAML 1.1: yes/no/on/off are booleans, symbols keep their name', () => {
  assert.equal(parse(':forward_verify: no\n').forwardVerify, false);
  assert.equal(parse(':forward_verify: off\n').forwardVerify, false);
  assert.equal(parse(':forward_verify: on\n').forwardVerify, true);
  assert.equal(parse(':log_level: :debug\n').logLevel, 'DEBUG');
});

test('foreman_url gets a trailing slash; bind_host accepts a string', () => {
  const g = parse(':foreman_url: https://foreman.example.com\n:bind_host: 127.0.0.1\n');
  assert.equal(g.foremanUrl, 'https://foreman.example.com/');
  assert.deepEqual(g.bindHost, ['127.0.0.1']);
});

test('trusted_hosts: absent → null (skip), [] → deny all, list kept as written', () => {
  assert.equal(parse('---\n').trustedHosts, null);
  assert.deepEqual(parse(':trusted_hosts: []\n').trustedHosts, []);
  assert.deepEqual(parse(':trusted_hosts:\n  - Foreman.example.com\n').trustedHosts, ['Foreman.example.com']);
});

test('relative paths resolve against the settings directory', () => {
  const g = parse(':ssl_certificate: ssl/cert.pem\n:settings_directory: mods\n');
  assert.equal(g.sslCertificate, '/etc/foreman-proxy/ssl/cert.pem');
  assert.equal(g.settingsDirectory, '/etc/foreman-proxy/mods');
});

test('bad values name the file and the key', () => {
  const cases: [string, string, RegExp][] = [
    [':http_port: eighty\n', 'http_port', /expected an integer, got string "eighty"/],
    [':https_port: 70000\n', 'https_port', /between 0 and 65535/],
    [':forward_verify: maybe\n', 'forward_verify', /expected true or false/],
    [':log_level: LOUD\n', 'log_level', /must be one of/],
    [':log_buffer: 1\n', 'log_buffer', /greater than 1/],
    [':trusted_hosts: {a: 1}\n', 'trusted_hosts', /expected a list/],
    [':listeners:\n  - :port: 1\n    :audience: everyone\n', 'listeners[0].audience', /foreman or client/],
    [':limits:\n  :header_timeout: soon\n', 'limits.header_timeout', /expected a number/],
  ];
  for (const [yaml, key, reason] of cases) {
    assert.throws(() => parse(yaml), (err: unknown) => {
      assert.ok(err instanceof SettingsError, yaml);
      assert.equal(err.key, key);
      assert.equal(err.file, FILE);
      assert.match(err.message, reason);
      return true;
    });
  }
});

test('listeners extension', () => {
  const g = parse(':listeners:\n  - :name: control\n    :port: 8443\n    :bind: 127.0.0.1\n  - :name: clients\n    :scheme: http\n    :port: 8000\n    :audience: client\n');
  assert.equal(g.listeners.length, 2);
  assert.deepEqual(g.listeners[0].bind, ['127.0.0.1']);
  assert.equal(g.listeners[0].scheme, 'https');
  assert.equal(g.listeners[0].clientCert, 'request');
  assert.equal(g.listeners[1].audience, 'client');
});

test('an unquoted IPv6 bind_host is an address, not a Ruby symbol', () => {
  assert.deepEqual(parse(':bind_host: [::1, 127.0.0.1]\n').bindHost, ['::1', '127.0.0.1']);
});

test('connection limits: per-peer limit, reserve (a tenth of max_connections by default), control peers', () => {
  const d = parse('---\n').limits;
  assert.equal(d.maxConnections, 1024);
  assert.equal(d.maxConnectionsPerPeer, 64);
  assert.equal(d.reservedConnections, 102);
  assert.deepEqual(d.controlPeers, []);
  assert.equal(parse(':limits:\n  :max_connections: 200\n').limits.reservedConnections, 20);
  const g = parse(':limits:\n  :max_connections_per_peer: 256\n  :reserved_connections: 0\n  :control_peers: [192.0.2.10, 198.51.100.0/24, "2001:db8::/48"]\n').limits;
  assert.equal(g.maxConnectionsPerPeer, 256);
  assert.equal(g.reservedConnections, 0);
  assert.deepEqual(g.controlPeers, ['192.0.2.10', '198.51.100.0/24', '2001:db8::/48']);
  const cases: [string, string, RegExp][] = [
    [':limits:\n  :max_connections_per_peer: 0\n', 'limits.max_connections_per_peer', /between 1 and/],
    [':limits:\n  :max_connections: 100\n  :reserved_connections: 100\n', 'limits.reserved_connections', /between 0 and 99, got 100/],
    [':limits:\n  :control_peers: [foreman.example.com]\n', 'limits.control_peers[0]', /expected an IP address or a subnet \(address\/prefix\), got 'foreman.example.com'/],
    [':limits:\n  :control_peers: [10.0.0.0/33]\n', 'limits.control_peers[0]', /prefix length must be 0 to 32, got '10.0.0.0\/33'/],
  ];
  for (const [yaml, key, reason] of cases) {
    assert.throws(() => parse(yaml), (err: unknown) => {
      assert.ok(err instanceof SettingsError, yaml);
      assert.equal(err.key, key);
      assert.match(err.message, reason);
      return true;
    });
  }
});
