import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convertAnsible, convertPuppet } from './convert.ts';
import { ANSIBLE_REPORT, PUPPET_REPORT } from '../../../test/reports/fixtures.ts';

const options = { proxyName: 'proxy.example.com', overrideHostname: undefined, jsonBody: false };

test('a Puppet report becomes a host report with counts and keywords', () => {
  const { report, facts } = convertPuppet(PUPPET_REPORT, options);
  assert.equal(facts, undefined);
  const r = report.host_report;
  assert.equal(r.format, 'puppet');
  assert.equal(r.host, 'web1.example.com');
  assert.equal(r.proxy, 'proxy.example.com');
  assert.deepEqual([r.change, r.nochange, r.failure], [2, 7, 1]);
  assert.deepEqual(r.keywords.sort(), ['PuppetEnvironment:production', 'PuppetFailed', 'PuppetFailed:Service[httpd]', 'PuppetOutOfSync', 'PuppetStatusChanged']);
  const body = r.body as { evaluation_times: [string, number][]; id: string; logs: unknown[] };
  assert.deepEqual(body.evaluation_times, [['Service[httpd]', 1.5], ['File[/tmp/x]', 0.5]]);
  assert.equal(body.id, '0b0b0b0b-1111-2222-3333-444444444444');
  assert.deepEqual(body.logs, [['notice', '/Stage[main]/Main/File[/tmp/x]/content', 'content changed']]);
  assert.match(r.reported_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  // json_body (the default) sends the body as a JSON string.
  assert.equal(typeof convertPuppet(PUPPET_REPORT, { ...options, jsonBody: true }).report.host_report.body, 'string');
});

test('an Ansible report becomes a host report plus its facts', () => {
  const { report, facts } = convertAnsible(ANSIBLE_REPORT, options);
  const r = report.host_report;
  assert.deepEqual([r.change, r.nochange, r.failure], [1, 2, 1]);
  assert.deepEqual(r.keywords, ['AnsibleChanged', 'AnsibleFailure', 'AnsibleFailure:ansible.builtin.package']);
  const results = (r.body as { results: { level: string; friendly_message: unknown }[] }).results;
  assert.deepEqual(
    results.map((x) => [x.level, x.friendly_message]),
    [
      ['info', 'N/A'],
      ['notice', ['up 3 days']],
      ['err', 'No package vim'],
    ],
  );
  assert.deepEqual(facts, { name: 'db1.example.com', facts: { ansible_facts: { ansible_distribution: 'Debian' }, _type: 'ansible', _timestamp: '2026-12-03T10:00:00.000000' } });
});

test('reports missing required parts are refused with the reason', () => {
  assert.throws(() => convertAnsible('{"results":[{"task":{}}]}', options), /results\/result/);
  assert.throws(() => convertAnsible('not json', options), SyntaxError);
  assert.throws(() => convertPuppet('', options), /No content/);
});
