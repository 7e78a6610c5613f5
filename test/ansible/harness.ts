// The Ansible test bench: the whole proxy binary (dynflow + script + ansible) over HTTPS with a
// test PKI and its tasks in a SQLite file (a restart keeps them), a stand-in Foreman over HTTPS that
// requires the proxy's client certificate and records the callbacks, a real sshd on loopback
// (test/lib/sshd.ts) the proxy's key logs in to, and a roles/collections tree with ansible.cfg and
// ansible.env written by the bench. ansible-runner and ansible-playbook are the Debian packages.

import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimpleResponse } from '../lib/https-client.ts';
import { execFileP, removeDir, requireCommand, tempDir } from '../lib/procs.ts';
import type { ProxyProcess } from '../lib/proxy-process.ts';
import type { StandInForeman } from '../lib/standin-foreman.ts';
import { startSshd, type Sshd } from '../lib/sshd.ts';
import { startRexBench } from '../script/harness.ts';

export const PLAYBOOK_ACTION = 'Proxy::Ansible::TaskLauncher::Playbook::PlaybookRunnerAction';
/** Passphrase of the proxy's REX key (a test value; Foreman sends it as secrets.key_passphrase). */
export const KEY_PASSPHRASE = `key pass ${randomUUID().slice(0, 8)}`;

export interface CallbackBody {
  callback: { task_id: string; step_id: number };
  data: { result: Array<{ output_type: string; output: string; timestamp: number }>; exit_status: number | string; exit_status_timestamp?: number };
}

export interface AnsibleBench {
  readonly dir: string;
  readonly sshd: Sshd;
  readonly foreman: StandInForeman;
  readonly proxy: ProxyProcess;
  /** Parent of the proxy's run directories (working_dir). */
  readonly workDir: string;
  readonly rolesDir: string;
  readonly collectionsDir: string;
  call(method: string, path: string, body?: unknown): Promise<SimpleResponse>;
  callbacks(): Map<string, CallbackBody>;
  waitCallbacks(taskIds: readonly string[], timeoutMs?: number): Promise<Map<string, CallbackBody>>;
  proxyLog(): Promise<string>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** Files of a small roles tree: plain roles `hello` and `slow`, a collection `acme.tools`. */
async function writeRoles(rolesDir: string, collectionsDir: string): Promise<void> {
  const files: Record<string, string> = {
    [join(rolesDir, 'hello/tasks/main.yml')]: [
      '- name: greet',
      '  raw: echo "hello from {{ inventory_hostname }} as $(id -un)"',
      '  register: greeting',
      '- name: show',
      '  debug:',
      '    msg: "{{ greeting.stdout | trim }}"',
      '- name: fail on request',
      '  fail:',
      '    msg: "{{ inventory_hostname }} was asked to fail"',
      '  when: fail_me | default(false) | bool',
      '',
    ].join('\n'),
    [join(rolesDir, 'hello/defaults/main.yml')]: 'hello_greeting: hi\nhello_list: [1, 2]\n',
    [join(rolesDir, 'hello/defaults/extra/more.yaml')]: 'hello_more: true\n',
    [join(rolesDir, 'slow/tasks/main.yml')]: '- name: sleep\n  raw: "{{ slow_command }}"\n',
    [join(rolesDir, 'become/tasks/main.yml')]: '- name: who\n  raw: echo "effective user $(id -un)"\n  register: who\n- debug:\n    msg: "{{ who.stdout | trim }}"\n- debug:\n    msg: "callback to {{ lookup(\'env\', \'FOREMAN_URL\') }} with {{ lookup(\'env\', \'FOREMAN_SSL_CERT\') }}"\n',
    [join(rolesDir, 'broken/defaults/main.yml')]: '- just\n- a list\n',
    [join(collectionsDir, 'ansible_collections/acme/tools/roles/crole/defaults/main.yml')]: 'crole_port: 8080\n',
    [join(collectionsDir, 'ansible_collections/acme/tools/playbooks/site.yml')]: '---\n- hosts: all\n  roles: [acme.tools.crole]\n',
    [join(collectionsDir, 'ansible_collections/acme/tools/playbooks/site_extra.yaml')]: '---\n- hosts: all\n  gather_facts: false\n',
    [join(collectionsDir, 'ansible_collections/acme/tools/playbooks/README.md')]: 'not a playbook\n',
  };
  for (const [file, text] of Object.entries(files)) {
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, text);
  }
}

export async function startAnsibleBench(): Promise<AnsibleBench> {
  requireCommand('ansible-runner');
  requireCommand('ansible-playbook');
  const dir = await tempDir('ansible');
  let sshd: Sshd | undefined;
  try {
    sshd = await startSshd();
    const key = join(dir, 'id_rsa_foreman_proxy');
    // The proxy's key is protected by a passphrase: every run unlocks it through ansible-runner's
    // ssh-agent and env/passwords (the job sends the passphrase in its secrets).
    await execFileP(requireCommand('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', KEY_PASSPHRASE, '-C', 'foreman-proxy', '-f', key]);
    for (const user of [sshd.users.nopw.name, sshd.users.pw.name]) await appendFile(join(sshd.dir, 'authorized_keys', user), await readFile(`${key}.pub`, 'utf8'));
    const rolesDir = join(dir, 'roles');
    const collectionsDir = join(dir, 'collections');
    await writeRoles(rolesDir, collectionsDir);
    await writeFile(join(dir, 'ansible.cfg'), `[defaults]\n#roles_path = /nowhere\nroles_path = ${rolesDir}\ncollections_path = ${collectionsDir}\n`);
    // What the installer writes, trimmed to the test: no Foreman callback plugin (not packaged), a
    // known_hosts file of the test's own, enough forks for 100 hosts.
    await writeFile(
      join(dir, 'ansible.env'),
      [
        'export ANSIBLE_HOST_KEY_CHECKING=False',
        `export ANSIBLE_LOCAL_TEMP=${join(dir, 'ansible-tmp')}`,
        `export ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=10s -o ControlPath=${join(dir, 'cp')}/%C -o UserKnownHostsFile=${join(dir, 'known_hosts')}"`,
        'export ANSIBLE_FORKS=25',
        'export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3',
        '',
      ].join('\n'),
    );
    await mkdir(join(dir, 'cp'), { mode: 0o700 });
    const workDir = join(dir, 'work');
    await mkdir(workDir);
    // The remote execution bench (dynflow + script, stand-in Foreman, test PKI) with ansible on top.
    const rex = await startRexBench({
      dir,
      script: { mode: 'ssh', ssh_identity_key_file: key, known_hosts_file: join(dir, 'rex_known_hosts') },
      files: {
        ansible: {
          ':enabled': 'https',
          ':working_dir': workDir,
          ':ansible_environment_file': join(dir, 'ansible.env'),
          ':ansible_config_file': join(dir, 'ansible.cfg'),
          ':kill_grace_period': 2,
          ':known_hosts_file': join(dir, 'known_hosts'),
        },
      },
    });
    const ownSshd = sshd;
    const bench: AnsibleBench = {
      dir,
      sshd: ownSshd,
      foreman: rex.foreman,
      get proxy() {
        return rex.proxy;
      },
      workDir,
      rolesDir,
      collectionsDir,
      call: (method, path, body) => rex.call(method, path, body),
      callbacks: () => rex.callbacks() as Map<string, CallbackBody>,
      waitCallbacks: async (taskIds, timeoutMs = 60_000) => (await rex.waitCallbacks(taskIds, timeoutMs)) as Map<string, CallbackBody>,
      proxyLog: () => readFile(join(dir, 'proxy.log'), 'utf8').catch(() => ''),
      kill: () => rex.kill('SIGKILL'),
      restart: () => rex.restart(),
      async close() {
        await rex.close();
        await ownSshd.stop();
        await removeDir(dir);
      },
    };
    return bench;
  } catch (err) {
    await sshd?.stop();
    await removeDir(dir);
    throw err;
  }
}

/** One Ansible host as Foreman sends it (spec plugins.md §3.4), with fresh ids. */
export interface AnsibleHost {
  readonly id: string;
  readonly foremanTaskId: string;
  readonly name: string;
  readonly input: Record<string, unknown>;
}

export function ansibleHost(
  name: string,
  opts: { playbook: string; hostvars: Record<string, unknown>; vars?: Record<string, unknown>; secrets?: Record<string, unknown>; extra?: Record<string, unknown> },
): AnsibleHost {
  const foremanTaskId = randomUUID();
  return {
    id: randomUUID(),
    foremanTaskId,
    name,
    input: {
      proxy_operation_name: 'ansible-runner',
      tags: '',
      tags_flag: 'include',
      ansible_inventory: {
        all: { hosts: [name], vars: opts.vars ?? {} },
        _meta: { hostvars: { [name]: { foreman: { hostname: name, foreman_interfaces: [{ ip: '127.0.0.1', name }] }, ansible_connection: 'ssh', ansible_ssh_private_key_file: null, ...opts.hostvars } } },
      },
      verbosity_level: '0',
      remote_execution_command: false,
      name,
      check_mode: false,
      job_check_mode: false,
      hostname: '127.0.0.1',
      script: opts.playbook,
      execution_timeout_interval: null,
      secrets: { ssh_password: null, key_passphrase: KEY_PASSPHRASE, effective_user_password: null, 'per-host': { [name]: { ansible_password: '', ansible_become_password: '' } }, ...opts.secrets },
      use_batch_triggering: true,
      first_execution: false,
      proxy_action_name: PLAYBOOK_ACTION,
      callback: { task_id: foremanTaskId, step_id: 3 },
      ...opts.extra,
    },
  };
}

export function launchBody(hosts: readonly AnsibleHost[]): Record<string, unknown> {
  return {
    input: Object.fromEntries(hosts.map((h) => [h.id, { action_input: h.input, action_class: PLAYBOOK_ACTION }])),
    operation: 'ansible-runner',
    options: {},
  };
}

export function text(cb: CallbackBody | undefined): string {
  return (cb?.data.result ?? []).map((e) => e.output).join('');
}
