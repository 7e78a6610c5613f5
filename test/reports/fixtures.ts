// Small Puppet (YAML, as `puppet agent` writes it) and Ansible (JSON, as the foreman callback
// writes it) run reports for the reports module's tests.

export const PUPPET_REPORT = `--- !ruby/object:Puppet::Transaction::Report
host: web1.example.com
time: '2026-12-03T10:00:00.000000000+00:00'
transaction_uuid: 0b0b0b0b-1111-2222-3333-444444444444
report_format: 12
puppet_version: 8.4.0
environment: production
status: changed
noop: false
noop_pending: false
logs:
- level: notice
  source: /Stage[main]/Main/File[/tmp/x]/content
  message: content changed
metrics:
  resources:
    name: resources
    values:
    - [total, Total, 10]
    - [changed, Changed, 2]
  events:
    name: events
    values:
    - [success, Success, 2]
    - [failure, Failure, 1]
resource_statuses:
  File[/tmp/x]:
    evaluation_time: 0.5
    changed: true
    out_of_sync: true
  Service[httpd]:
    evaluation_time: 1.5
    failed: true
`;

export const ANSIBLE_REPORT = JSON.stringify({
  host: 'db1.example.com',
  reported_at: '2026-12-03T10:00:00.000000',
  check_mode: false,
  summary: { changed: 1, failures: 1, ok: 2, skipped: 0, unreachable: 0, rescued: 0, ignored: 0 },
  results: [
    { failed: false, task: { action: 'setup', name: 'Gathering Facts' }, result: { changed: false, ansible_facts: { ansible_distribution: 'Debian' } } },
    { failed: false, task: { action: 'ansible.builtin.shell', name: 'uptime' }, result: { changed: true, stdout_lines: ['up 3 days'] } },
    { failed: true, task: { action: 'ansible.builtin.package', name: 'vim' }, result: { changed: false, msg: 'No package vim' } },
  ],
});
