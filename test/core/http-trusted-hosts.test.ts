// trusted_hosts over plain HTTP: the peer's identity is its reverse DNS name, verified forward
// (the system resolver: 127.0.0.1 ↔ localhost through /etc/hosts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupService } from 'node:dns/promises';
import { startTestProxy } from '../../src/core/testing.ts';

test('HTTP peer allowed by its reverse-and-forward DNS name', async () => {
  const name = (await lookupService('127.0.0.1', 0)).hostname.toLowerCase();
  const p = await startTestProxy({ global: { trusted_hosts: [name] } });
  try {
    const r = await p.request('GET', '/v2/features');
    assert.equal(r.status, 200, r.body);
    const logs = await p.request('GET', '/logs/');
    assert.equal(logs.status, 200);
  } finally {
    await p.close();
  }
});

test('HTTP peer not in trusted_hosts gets the reference 403, open endpoints stay open', async () => {
  const name = (await lookupService('127.0.0.1', 0)).hostname.toLowerCase();
  const p = await startTestProxy({ global: { trusted_hosts: ['foreman.example.com'] } });
  try {
    const r = await p.request('GET', '/logs/');
    assert.equal(r.status, 403);
    assert.equal(r.body, `Untrusted client ${name} attempted to access /. Check :trusted_hosts: in settings.yml`);
    // /v2/features is the reference's /features route of its /v2 mount: the message names /features.
    const v2 = await p.request('GET', '/v2/features');
    assert.equal(v2.status, 403);
    assert.equal(v2.body, `Untrusted client ${name} attempted to access /features. Check :trusted_hosts: in settings.yml`);
    assert.equal((await p.request('GET', '/features')).status, 200);
    assert.equal((await p.request('GET', '/version')).status, 200);
    // Without an Accept header asking for JSON the error is labelled as HTML, as the reference does.
    const html = await p.request('GET', '/logs', { headers: { accept: 'text/html' } });
    assert.equal(html.status, 403);
    assert.match(html.headers['content-type'], /^text\/html/);
  } finally {
    await p.close();
  }
});

test('trusted_hosts: [] denies everyone', async () => {
  const p = await startTestProxy({ global: { trusted_hosts: [] } });
  try {
    const r = await p.request('GET', '/v2/features');
    assert.equal(r.status, 403);
    assert.match(r.body, /^Untrusted client /);
  } finally {
    await p.close();
  }
});

test('a malformed URL gets a plain-text 400, not a framework JSON body', async () => {
  const p = await startTestProxy();
  try {
    const r = await p.request('GET', '/logs/%zz');
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.body, "'/logs/%zz' is not a valid url component");
  } finally {
    await p.close();
  }
});

test('percent-encoded spellings of a protected path are authorized like the plain one', async () => {
  const p = await startTestProxy({ global: { trusted_hosts: ['foreman.example.com'] } });
  try {
    for (const path of ['/logs', '/%6cogs', '/%6C%6F%67%73/', '/logs%2F', '/%76%32/features', '/v2%2Ffeatures']) {
      const r = await p.request('GET', path);
      assert.equal(r.status, 403, `${path} → ${r.status} ${r.body}`);
      assert.match(r.body, /^Untrusted client /);
    }
    const head = await p.request('HEAD', '/%6cogs');
    assert.equal(head.status, 403);
  } finally {
    await p.close();
  }
});
