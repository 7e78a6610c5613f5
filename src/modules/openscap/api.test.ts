import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule, assertAnswer } from '../../core/inject.ts';
import openscap from './module.ts';

async function mount(t: Parameters<typeof mountModule>[2] & { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'openscap-api-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const settings = Object.fromEntries(['spooldir', 'reportsdir', 'failed_dir', 'corrupted_dir', 'contentdir', 'tailoring_dir'].map((k) => [k, join(dir, k)]));
  return mountModule(openscap, { settings, global: { foreman_url: 'http://foreman.invalid' } }, t);
}

test('uploads need a client certificate (never plain HTTP)', async (t) => {
  const { app } = await mount(t);
  const res = await app.inject({ method: 'POST', url: '/compliance/arf/1', payload: 'x', headers: { 'content-type': 'text/xml' } });
  assert.equal(res.statusCode, 403);
});

test('validation answers the errors found, and 400 for an unknown type', async (t) => {
  const { app } = await mount(t);
  const ok = await app.inject({ method: 'POST', url: '/compliance/scap_file/validator/tailoring_file', payload: '<xccdf:Tailoring xmlns:xccdf="x"/>', headers: { 'content-type': 'application/xml' } });
  assertAnswer(ok, 200, '{"errors":[]}', 'application/json; charset=utf-8');
  const bad = await app.inject({ method: 'POST', url: '/compliance/scap_content/validator', payload: '<a><b></a>', headers: { 'content-type': 'application/xml' } });
  assertAnswer(bad, 200, '{"errors":["Invalid XML format"]}');
  const unknown = await app.inject({ method: 'POST', url: '/compliance/scap_file/validator/oval', payload: '<a/>', headers: { 'content-type': 'application/xml' } });
  assertAnswer(unknown, 400, "Invalid type 'oval': scap_content or tailoring_file");
});

test('profiles of a tailoring file; no profile is 422, not 500', async (t) => {
  const { app } = await mount(t);
  const xml = '<T:Tailoring xmlns:T="x"><T:Profile id="p1"><T:title>One</T:title></T:Profile><T:Profile id="p2"><T:title>Two</T:title></T:Profile></T:Tailoring>';
  const res = await app.inject({ method: 'POST', url: '/compliance/tailoring_file/profiles', payload: xml, headers: { 'content-type': 'application/xml' } });
  assertAnswer(res, 200, '{"p1":"One","p2":"Two"}');
  const none = await app.inject({ method: 'POST', url: '/compliance/scap_content/policies', payload: '<a/>', headers: { 'content-type': 'application/xml' } });
  assertAnswer(none, 422, 'Error occurred: Failed to parse profiles');
});

test('spool_errors counts nothing on a fresh proxy; report routes without a certificate are 403', async (t) => {
  const { app } = await mount(t);
  assertAnswer(await app.inject({ method: 'GET', url: '/compliance/spool_errors' }), 200, '{"errors_count":0}');
  const res = await app.inject({ method: 'GET', url: '/compliance/arf/x1/host/1/abc/xml' });
  assert.equal(res.statusCode, 403, 'no certificate: refused before the parameters are looked at');
});
