import { test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountModule, assertAnswer } from '../../core/inject.ts';
import reports from './module.ts';
import { ANSIBLE_REPORT } from '../../../test/reports/fixtures.ts';

async function mount(t: { after(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'reports-api-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Foreman is unreachable: reports stay spooled, the answers do not depend on it.
  return mountModule(reports, { settings: { spool_dir: dir, spool_retry_initial: 3600 }, global: { foreman_url: 'http://127.0.0.1:9' } }, t as never);
}

test('format and content type are checked: 415 with the reason', async (t) => {
  const { app } = await mount(t);
  const post = (url: string, type: string, payload: string) => app.inject({ method: 'POST', url, payload, headers: { 'content-type': type } });
  assertAnswer(await post('/reports/chef', 'application/json', '{}'), 415, 'Unknown format: chef');
  assertAnswer(await post('/reports/puppet', 'application/json', '{}'), 415, 'Content type must be application/x-yaml, was: application/json');
  assertAnswer(await post('/host_reports/ansible', 'application/x-yaml', 'a: 1'), 415, 'Content type must be application/json, was: application/x-yaml');
  assertAnswer(await post('/reports/ansible', 'application/json', ' '), 415, 'Missing body');
  // The reference doubles the message ("…: <msg>: <msg>"); said once here.
  assertAnswer(await post('/reports/ansible', 'application/json', '{"results":[{"task":{}}]}'), 415, "Error during report processing: Report do not contain required 'results/result' element");
});

test('a report is accepted with 202 once spooled', async (t) => {
  const { app } = await mount(t);
  const res = await app.inject({ method: 'POST', url: '/reports/ansible?json_body=false', payload: ANSIBLE_REPORT, headers: { 'content-type': 'application/json' } });
  assertAnswer(res, 202, '');
  const state = await app.inject({ method: 'GET', url: '/reports/spool' });
  assertAnswer(state, 200, /"pending":2/);
});
