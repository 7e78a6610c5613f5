import { test } from 'node:test';
import assert from 'node:assert/strict';
import { foremanTlsFiles, createForemanClient, type ForemanConnectionSettings } from './foreman.ts';

const none: ForemanConnectionSettings = {
  foremanUrl: 'https://foreman.example.com/',
  foremanSslCa: null,
  foremanSslCert: null,
  foremanSslKey: null,
  sslCaFile: null,
  sslCertificate: null,
  sslPrivateKey: null,
};

test('plain http Foreman uses no TLS material at all', () => {
  assert.deepEqual(foremanTlsFiles({ ...none, foremanUrl: 'http://f/', foremanSslCa: '/ca', sslCertificate: '/c', sslPrivateKey: '/k' }), {});
});

test('no CA anywhere means no verification', () => {
  assert.deepEqual(foremanTlsFiles(none), {});
});

test('foreman_ssl_* win over ssl_*', () => {
  const files = foremanTlsFiles({
    ...none,
    foremanSslCa: '/f/ca',
    foremanSslCert: '/f/cert',
    foremanSslKey: '/f/key',
    sslCaFile: '/s/ca',
    sslCertificate: '/s/cert',
    sslPrivateKey: '/s/key',
  });
  assert.deepEqual(files, {
    caFile: { path: '/f/ca', setting: 'foreman_ssl_ca' },
    certFile: { path: '/f/cert', setting: 'foreman_ssl_cert' },
    keyFile: { path: '/f/key', setting: 'foreman_ssl_key' },
  });
});

test('each file falls back on its own', () => {
  const files = foremanTlsFiles({ ...none, foremanSslCert: '/f/cert', sslCaFile: '/s/ca', sslPrivateKey: '/s/key' });
  assert.deepEqual(files, {
    caFile: { path: '/s/ca', setting: 'ssl_ca_file' },
    certFile: { path: '/f/cert', setting: 'foreman_ssl_cert' },
    keyFile: { path: '/s/key', setting: 'ssl_private_key' },
  });
});

test('a certificate without a key (or the reverse) is not presented', () => {
  assert.deepEqual(foremanTlsFiles({ ...none, foremanSslCert: '/f/cert' }), {});
  assert.deepEqual(foremanTlsFiles({ ...none, sslPrivateKey: '/s/key' }), {});
});

test('an empty foreman_ssl_ca does not fall back (as in the reference) and disables verification', () => {
  assert.deepEqual(foremanTlsFiles({ ...none, foremanSslCa: '', sslCaFile: '/s/ca' }), {});
});

test('an unreadable file is reported naming the setting', async () => {
  await assert.rejects(
    createForemanClient({ ...none, foremanSslCa: '/nonexistent/ca.pem' }, { timeoutMs: 1000, connections: 1 }),
    /cannot read foreman_ssl_ca '\/nonexistent\/ca\.pem' for connections to Foreman: /,
  );
});

test('without foreman_url there is no client', async () => {
  await assert.rejects(createForemanClient({ ...none, foremanUrl: null }, { timeoutMs: 1000, connections: 1 }), /missing :foreman_url:/);
});
