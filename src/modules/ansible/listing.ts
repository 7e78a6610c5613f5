// The listing side of the module (spec plugins.md §3.2): roles, role default variables and
// collection playbooks found in the roles and collections paths of ansible.cfg. Everything is read
// with async fs; YAML files are parsed with the `yaml` package. The same paths are given to the
// runs (./runner.ts), so what Foreman imports is what a job can use.

import { readFile, readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { homedir } from 'node:os';
import { join, basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AnsibleError } from './errors.ts';

export const DEFAULT_ROLES_PATH = ['/etc/ansible/roles', '/usr/share/ansible/roles'];
export const DEFAULT_COLLECTIONS_PATH = ['/etc/ansible/collections', '/usr/share/ansible/collections'];

export interface AnsiblePaths {
  readonly roles: readonly string[];
  readonly collections: readonly string[];
  /** Why the defaults are used, when they are (for the log). */
  readonly note?: string;
}

/** `~` and `~/…` as Ansible expands them. */
export function expandHome(path: string, home = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return `${home}${path.slice(1)}`;
  return path;
}

function splitPath(value: string): string[] {
  return value
    .split(':')
    .map((p) => expandHome(p.trim()))
    .filter((p) => p !== '');
}

/**
 * roles_path and collections_path(s) from ansible.cfg text: the first uncommented `key = value`
 * line of each (any section, as the plugin reads it). Ansible calls the collections key
 * `collections_path` since 2.10 and still accepts `collections_paths`: both are read here.
 */
export function pathsFromConfig(text: string): { roles?: string[]; collections?: string[] } {
  const out: { roles?: string[]; collections?: string[] } = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*(roles_path|collections_paths?)\s*[=:]\s*(.*?)\s*$/.exec(raw);
    if (!m) continue;
    const value = splitPath(m[2] as string);
    if (m[1] === 'roles_path') out.roles ??= value;
    else out.collections ??= value;
  }
  return out;
}

/** The paths of `configFile`, or the Ansible defaults when it is missing or says nothing. */
export async function resolvePaths(configFile: string): Promise<AnsiblePaths> {
  let text: string;
  try {
    text = await readFile(configFile, 'utf8');
  } catch (err) {
    // The plugin fails without /etc/ansible/ansible.cfg on some versions (spec §3.5): not here.
    return { roles: DEFAULT_ROLES_PATH, collections: DEFAULT_COLLECTIONS_PATH, note: `${configFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; using the Ansible default paths` };
  }
  const found = pathsFromConfig(text);
  return { roles: found.roles ?? DEFAULT_ROLES_PATH, collections: found.collections ?? DEFAULT_COLLECTIONS_PATH };
}

/** Entries of a directory; a missing directory is empty (as a glob), an unreadable one an error. */
async function entries(dir: string): Promise<Dirent[]> {
  try {
    const list = await readdir(dir, { withFileTypes: true });
    return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw AnsibleError.unreadable(`Could not read ${dir}: ${(err as Error).message}`);
  }
}

async function directories(dir: string): Promise<string[]> {
  // Symbolic links to role directories are common (roles shared between paths): followed.
  return (await entries(dir)).filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => e.name);
}

/** `<path>/ansible_collections/<ns>/<coll>/<kind>/*` as [ns, coll, entry] triples. */
async function collectionEntries(path: string, kind: 'roles' | 'playbooks'): Promise<Array<{ ns: string; coll: string; entry: Dirent; dir: string }>> {
  const out: Array<{ ns: string; coll: string; entry: Dirent; dir: string }> = [];
  const root = join(path, 'ansible_collections');
  for (const ns of await directories(root)) {
    for (const coll of await directories(join(root, ns))) {
      const dir = join(root, ns, coll, kind);
      for (const entry of await entries(dir)) out.push({ ns, coll, entry, dir });
    }
  }
  return out;
}

/**
 * Every role and its directory: plain roles of the roles paths, then `<ns>.<coll>.<role>` of the
 * collections. A role present in two paths is one role, in the first (as Ansible uses it).
 */
export async function roleDirectories(paths: AnsiblePaths): Promise<Map<string, string>> {
  const roles = new Map<string, string>();
  for (const p of paths.roles) for (const name of await directories(p)) if (!roles.has(name)) roles.set(name, join(p, name));
  for (const p of paths.collections) {
    for (const { ns, coll, entry, dir } of await collectionEntries(p, 'roles')) {
      const name = `${ns}.${coll}.${entry.name}`;
      if ((entry.isDirectory() || entry.isSymbolicLink()) && !roles.has(name)) roles.set(name, join(dir, entry.name));
    }
  }
  return roles;
}

export async function listRoles(paths: AnsiblePaths): Promise<string[]> {
  return [...(await roleDirectories(paths)).keys()];
}

const NAME_PART = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/;

/** Check a role name of the URL: a plain directory name, or `<ns>.<coll>.<role>`. */
export function checkRoleName(name: string): void {
  const ok = name !== '' && name.length <= 255 && !name.includes('/') && !name.includes('\\') && !name.includes('..') && NAME_PART.test(name);
  if (!ok) throw AnsibleError.invalid_name(`role_name: '${name}' is not a role name (a directory name, or namespace.collection.role)`);
}

/** Where the role lives: the first path that has it, or undefined. */
export async function findRole(paths: AnsiblePaths, name: string): Promise<string | undefined> {
  const parts = name.split('.');
  if (parts.length === 3) {
    const [ns, coll, role] = parts as [string, string, string];
    for (const p of paths.collections) {
      const dir = join(p, 'ansible_collections', ns, coll, 'roles');
      if ((await directories(dir)).includes(role)) return join(dir, role);
    }
  }
  for (const p of paths.roles) if ((await directories(p)).includes(name)) return join(p, name);
  return undefined;
}

/** A role whose defaults cannot be read as YAML mappings. */
export class RoleVariablesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoleVariablesError';
  }
}

/** `defaults/**` `*.yml` then `*.yaml` files of a role, each list sorted (the plugin's glob order). */
async function defaultsFiles(roleDir: string): Promise<string[]> {
  const dir = join(roleDir, 'defaults');
  let all: string[];
  try {
    all = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw AnsibleError.unreadable(`Could not read ${dir}: ${(err as Error).message}`);
  }
  const yml = all.filter((f) => f.endsWith('.yml')).sort();
  const yaml = all.filter((f) => f.endsWith('.yaml')).sort();
  return [...yml, ...yaml];
}

/** The merged default variables of a role; RoleVariablesError when a file is not a YAML mapping. */
export async function roleVariables(roleDir: string): Promise<Record<string, unknown>> {
  const merged: Record<string, unknown> = {};
  for (const file of await defaultsFiles(roleDir)) {
    let doc: unknown;
    try {
      doc = parseYaml(await readFile(file, 'utf8'));
    } catch (err) {
      throw new RoleVariablesError(`${file} is not a YAML file: ${(err as Error).message.split('\n')[0]}`);
    }
    // An empty file defines nothing.
    if (doc === null || doc === undefined) continue;
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new RoleVariablesError(`Could not parse YAML file: ${file} (not a mapping)`);
    Object.assign(merged, doc);
  }
  return merged;
}

const PLAYBOOK_FILE = /\.ya?ml$/;

/** `<ns>.<coll>.<playbook>` and the file, for every playbook of the collections paths. */
async function playbookFiles(paths: AnsiblePaths): Promise<Array<{ name: string; file: string }>> {
  const out: Array<{ name: string; file: string }> = [];
  for (const p of paths.collections) {
    for (const { ns, coll, entry, dir } of await collectionEntries(p, 'playbooks')) {
      if (!(entry.isFile() || entry.isSymbolicLink()) || !PLAYBOOK_FILE.test(entry.name)) continue;
      out.push({ name: `${ns}.${coll}.${basename(entry.name).replace(PLAYBOOK_FILE, '')}`, file: join(dir, entry.name) });
    }
  }
  return out;
}

export async function listPlaybookNames(paths: AnsiblePaths): Promise<string[]> {
  return [...new Set((await playbookFiles(paths)).map((p) => p.name))];
}

/** Check the comma-separated `playbooks_names` of the URL; returns the names. */
export function parsePlaybookNames(raw: string): string[] {
  const names = raw.split(',').filter((n) => n !== '');
  for (const n of names) {
    const parts = n.split('.');
    if (parts.length !== 3 || !parts.every((p) => NAME_PART.test(p))) {
      throw AnsibleError.invalid_name(`playbooks_names: '${n}' is not a playbook name (namespace.collection.playbook)`);
    }
  }
  return names;
}

/** Playbooks with their content: all of them, or exactly those named (first path wins). */
export async function readPlaybooks(paths: AnsiblePaths, names?: readonly string[]): Promise<Array<{ name: string; playbooks_content: string }>> {
  const wanted = names ? new Set(names) : undefined;
  const seen = new Set<string>();
  const out: Array<{ name: string; playbooks_content: string }> = [];
  for (const { name, file } of await playbookFiles(paths)) {
    if (seen.has(name) || (wanted && !wanted.has(name))) continue;
    seen.add(name);
    try {
      out.push({ name, playbooks_content: await readFile(file, 'utf8') });
    } catch (err) {
      throw AnsibleError.unreadable(`Could not read Ansible playbook ${file}: ${(err as Error).message}`);
    }
  }
  return out;
}
