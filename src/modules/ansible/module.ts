// The `ansible` module (spec plugins.md §3): lists the Ansible roles, role default variables and
// collection playbooks installed on the proxy so Foreman can import them, and registers the dynflow
// operation `ansible-runner` that runs Ansible remote-execution jobs: one ansible-runner process per
// batch of hosts, with per-host output and exit status. Setting names follow smart_proxy_ansible.

import { defineModule } from '../../core/module.ts';
import * as setting from '../../core/settings/schema.ts';
import type { Static } from '../../core/settings/schema.ts';
import { ANSIBLE_ERRORS } from './errors.ts';

export const ANSIBLE_SETTINGS = setting.settings({
  working_dir: setting.file({
    description:
      "Parent of the private per-run directories (inventory, playbook, ansible-runner's artifacts). Unset: the system temporary directory. When set it must exist. `~` is the proxy user's home directory.",
    example: '~/.foreman-ansible',
  }),
  ansible_environment_file: setting.file({
    default: '/etc/foreman-proxy/ansible.env',
    description:
      'Shell file sourced before ansible-runner starts (the installer writes ANSIBLE_* and FOREMAN_* variables there). Skipped when it does not exist.',
  }),
  ansible_dir: setting.string({
    description: "Declared for compatibility and unused (the plugin's default is the proxy user's home directory).",
    example: '/usr/share/foreman-proxy',
  }),
  ansible_config_file: setting.file({
    extension: true,
    default: '/etc/ansible/ansible.cfg',
    description:
      'Where roles_path and collections_path(s) are read from, for the listing routes and for the runs (both use the same paths). A missing file means the Ansible defaults.',
  }),
  ansible_runner_command: setting.string({
    extension: true,
    default: 'ansible-runner',
    description: 'The ansible-runner executable (a name looked up on PATH, or an absolute path).',
  }),
  known_hosts_file: setting.file({
    extension: true,
    default: '~/.ssh/known_hosts',
    description:
      "known_hosts of the ssh client Ansible runs (the proxy user's, unless ANSIBLE_SSH_ARGS names another): the old keys of a host's first execution are pruned from it. `~` is the proxy user's home directory.",
  }),
  kill_grace_period: setting.integer({
    extension: true,
    default: 10,
    minimum: 0,
    maximum: 600,
    unit: 'seconds',
    description: 'Grace between SIGTERM and SIGKILL to ansible-runner and its processes when a run is cancelled or times out.',
  }),
  batch_gather_ms: setting.integer({
    extension: true,
    default: 500,
    minimum: 0,
    maximum: 10_000,
    unit: 'milliseconds',
    description: 'How long the first host of a batch waits for the hosts the task engine started at the same time, so that the whole batch runs in one ansible-runner.',
  }),
});

export type AnsibleSettings = Static<typeof ANSIBLE_SETTINGS>;

export default defineModule({
  name: 'ansible',
  summary: 'Ansible (/ansible): lists roles, role variables and playbooks, and runs Ansible jobs with ansible-runner; needs the dynflow module.',
  prefixes: ['/ansible'],
  audience: 'foreman',
  // The plugin checks neither trusted_hosts nor the client certificate (spec §3.2 QUIRK); Foreman
  // always presents its certificate, so both are checked here.
  authorize: true,
  requires: ['dynflow'],
  settings: ANSIBLE_SETTINGS,
  errors: ANSIBLE_ERRORS,
  apiDocs: async () => (await import('./openapi.ts')).default,
  async create(ctx) {
    return (await import('./api.ts')).ansibleModule(ctx);
  },
});
