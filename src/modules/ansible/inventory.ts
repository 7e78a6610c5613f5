// What one Ansible job host brings (spec plugins.md §3.4): the checks of its action_input made
// before anything is stored (each problem names its field), and the one inventory ansible-runner
// gets for a whole batch: every host's `_meta.hostvars` under `all.hosts`, the first host's
// `all.vars` as group variables, and the job's passwords merged into each host's variables.

import { parse as parseYaml } from 'yaml';

/** The action class Foreman sends for Ansible jobs, and the one of Foreman versions before 3.0. */
export const PLAYBOOK_ACTION = 'Proxy::Ansible::TaskLauncher::Playbook::PlaybookRunnerAction';
export const LEGACY_PLAYBOOK_ACTION = 'ForemanAnsibleCore::TaskLauncher::Playbook::PlaybookRunnerAction';

export type Problem = { field: string; message: string } | undefined;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A tag as it may appear in `--tags`/`--skip-tags` (ansible-runner splits --cmdline like a shell). */
const TAG = /^[^\s'"\\,]+$/;

/** The tags of `tags` (comma-separated string or list), or a problem. */
export function tagsOf(raw: unknown): string[] | { problem: string } {
  if (raw === undefined || raw === null || raw === '') return [];
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (!list || !list.every((t) => typeof t === 'string')) return { problem: 'must be a comma-separated string or a list of strings' };
  const tags = (list as string[]).map((t) => t.trim()).filter((t) => t !== '');
  const bad = tags.find((t) => !TAG.test(t));
  return bad === undefined ? tags : { problem: `'${bad}' is not a tag name (no spaces, quotes or backslashes)` };
}

/** 0–4 from `verbosity_level` (Foreman sends a string), or undefined when it is not one. */
export function verbosityOf(raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return 0;
  const n = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 4 ? n : undefined;
}

/** Checks of one host's action_input (the engine calls it before storing the task). */
export function validateHostInput(input: Record<string, unknown>): Problem {
  const name = input.name;
  if (typeof name !== 'string' || name.trim() === '') return { field: 'name', message: 'is required: the host name (its key in the inventory)' };
  if (/[\s\u0000-\u001f]/.test(name)) return { field: 'name', message: `'${name}' is not a host name (no spaces or control characters)` };
  const script = input.script;
  if (typeof script !== 'string' || script.trim() === '') return { field: 'script', message: 'is required: the playbook (YAML) to run' };
  let playbook: unknown;
  try {
    playbook = parseYaml(script.replace(/\r/g, ''));
  } catch (err) {
    return { field: 'script', message: `is not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  if (!Array.isArray(playbook)) return { field: 'script', message: 'is not a playbook (a YAML list of plays)' };
  const inventory = input.ansible_inventory;
  if (!isObject(inventory)) return { field: 'ansible_inventory', message: 'is required: an object with _meta.hostvars for the host' };
  const meta = inventory._meta;
  const hostvars = isObject(meta) ? meta.hostvars : undefined;
  if (!isObject(hostvars)) return { field: 'ansible_inventory._meta.hostvars', message: 'is required (an object: host name → variables)' };
  if (!isObject(hostvars[name])) return { field: `ansible_inventory._meta.hostvars.${name}`, message: `is required: the variables of host '${name}' (an object)` };
  const all = inventory.all;
  if (all !== undefined && all !== null && (!isObject(all) || (all.vars !== undefined && all.vars !== null && !isObject(all.vars)))) {
    return { field: 'ansible_inventory.all.vars', message: 'must be an object (the job inputs)' };
  }
  if (verbosityOf(input.verbosity_level) === undefined) return { field: 'verbosity_level', message: `must be 0 to 4, given ${JSON.stringify(input.verbosity_level)}` };
  const tags = tagsOf(input.tags);
  if ('problem' in tags) return { field: 'tags', message: tags.problem };
  const flag = input.tags_flag;
  if (flag !== undefined && flag !== null && flag !== '' && flag !== 'include' && flag !== 'exclude') return { field: 'tags_flag', message: `must be include or exclude, given ${JSON.stringify(flag)}` };
  const secrets = input.secrets;
  if (secrets !== undefined && secrets !== null) {
    if (!isObject(secrets)) return { field: 'secrets', message: 'must be an object' };
    const perHost = secrets['per-host'];
    if (perHost !== undefined && perHost !== null && !isObject(perHost)) return { field: 'secrets.per-host', message: 'must be an object (host name → passwords)' };
  }
  return undefined;
}

/** One host of a run: its inventory name, its (secret-free) input and its secrets. */
export interface RunHost {
  readonly name: string;
  readonly input: Record<string, unknown>;
  readonly secrets: Record<string, unknown>;
}

export interface Inventory {
  all: { hosts: Record<string, Record<string, unknown>>; vars: Record<string, unknown> };
}

/** Variables that carry passwords: written to the private inventory, removed when the run dir is kept. */
export const PASSWORD_VARS = ['ansible_password', 'ansible_become_password'] as const;

/**
 * The batch inventory. The job-wide passwords (`ssh_password`, `effective_user_password` of the
 * job's secrets) override the per-host ones (the plugin once ignored them: spec §3.5); hosts without
 * a key file get the proxy's REX SSH key.
 */
export function buildInventory(hosts: readonly RunHost[], defaultKeyFile: string): Inventory {
  const inventory: Inventory = { all: { hosts: {}, vars: {} } };
  const first = hosts[0]?.input.ansible_inventory as Record<string, unknown> | undefined;
  const groupVars = isObject(first?.all) ? first.all.vars : undefined;
  if (isObject(groupVars)) inventory.all.vars = { ...groupVars };
  for (const host of hosts) {
    const inv = host.input.ansible_inventory as { _meta: { hostvars: Record<string, Record<string, unknown>> } };
    const vars: Record<string, unknown> = { ...inv._meta.hostvars[host.name] };
    if (nonEmpty(vars.ansible_ssh_private_key_file) === undefined) vars.ansible_ssh_private_key_file = defaultKeyFile;
    if (isObject(vars.foreman)) vars.foreman = { ...vars.foreman, first_execution: host.input.first_execution === true };
    const perHostAll = isObject(host.secrets['per-host']) ? host.secrets['per-host'] : {};
    const own = perHostAll[host.name];
    const perHost: Record<string, unknown> = isObject(own) ? own : {};
    const password = nonEmpty(host.secrets.ssh_password) ?? nonEmpty(perHost.ansible_password);
    const become = nonEmpty(host.secrets.effective_user_password) ?? nonEmpty(perHost.ansible_become_password);
    // Passwords Foreman may have put in the host variables themselves are replaced, never mixed.
    for (const key of PASSWORD_VARS) delete vars[key];
    if (password !== undefined) vars.ansible_password = password;
    if (become !== undefined) vars.ansible_become_password = become;
    inventory.all.hosts[host.name] = vars;
  }
  return inventory;
}

/** The inventory without passwords (what stays on disk when a run directory is kept). */
export function withoutPasswords(inventory: Inventory): Inventory {
  const hosts: Record<string, Record<string, unknown>> = {};
  for (const [name, vars] of Object.entries(inventory.all.hosts)) {
    const copy = { ...vars };
    for (const key of PASSWORD_VARS) delete copy[key];
    hosts[name] = copy;
  }
  return { all: { hosts, vars: inventory.all.vars } };
}

/** `host` and `[host]:port` names of a first-execution host's known_hosts entries (spec §3.4 step 2). */
export function knownHostsNames(vars: Record<string, unknown>): string[] {
  const foreman = isObject(vars.foreman) ? vars.foreman : {};
  const interfaces = Array.isArray(foreman.foreman_interfaces) ? foreman.foreman_interfaces : [];
  const nic = isObject(interfaces[0]) ? interfaces[0] : {};
  const hosts = [...new Set([nic.ip, nic.ip6, vars.ansible_host, nic.name].map(nonEmpty).filter((h): h is string => h !== undefined))];
  const ports = [...new Set([vars.ansible_ssh_port, vars.ansible_port].map((p) => (typeof p === 'string' ? Number(p) : p)).filter((p): p is number => typeof p === 'number' && Number.isInteger(p)))];
  if (ports.length === 0) ports.push(22);
  return hosts.flatMap((h) => ports.map((p) => (p === 22 ? h : `[${h}]:${p}`)));
}
