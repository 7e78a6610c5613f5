// Finds every module (src/modules/<name>/module.ts) and provider
// (src/modules/<name>/providers/<id>/provider.ts). Discovery keeps modules independent: adding a
// feature never edits the core. A bundled build (scripts/build.ts) hands over the same list as
// import functions instead, since a bundle has no source tree to read.

import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ModuleDefinition, ProviderDefinition } from './module.ts';

type Load = () => Promise<unknown>;

/** Where module and provider code comes from: directory/id → a function importing it. */
export interface ModuleSource {
  modules: [dir: string, load: Load][];
  providers: [id: string, load: Load][];
}

export interface Catalogue {
  modules: Map<string, ModuleDefinition>;
  providers: Map<string, ProviderDefinition>;
  /** Module directories whose code failed to load: reported failed, never fatal to the rest. */
  broken?: Map<string, string>;
  /**
   * Provider code not loaded yet, by id. Providers are imported only when an enabled module
   * selects them, so a disabled feature costs no start-up time or memory.
   */
  providerLoaders?: Map<string, Load>;
}

let bundled: ModuleSource | undefined;

/** Used by the bundled build's entry point before the CLI starts. */
export function useBundledModules(source: ModuleSource): void {
  bundled = source;
}

async function defaultOf<T>(load: Load, what: string): Promise<T> {
  const mod = (await load()) as { default?: T };
  if (!mod.default) throw new Error(`${what} has no default export`);
  return mod.default;
}

/** The provider's definition, importing its code on first use; undefined when unknown or broken. */
export async function loadProvider(catalogue: Catalogue, id: string): Promise<ProviderDefinition | undefined> {
  const known = catalogue.providers.get(id);
  if (known) return known;
  const load = catalogue.providerLoaders?.get(id);
  if (!load) return undefined;
  catalogue.providerLoaders?.delete(id);
  try {
    const def = await defaultOf<ProviderDefinition>(load, `provider ${id}`);
    if (def.id !== id) return undefined;
    catalogue.providers.set(id, def);
    return def;
  } catch {
    return undefined; // its module then reports "following providers are not available"
  }
}

const MODULES_DIR = fileURLToPath(new URL('../modules/', import.meta.url));

async function subdirs(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** Module and provider files under a source tree. */
export async function scanModulesDir(modulesDir = MODULES_DIR): Promise<{ modules: [string, string][]; providers: [string, string][] }> {
  const modules: [string, string][] = [];
  const providers: [string, string][] = [];
  for (const dir of await subdirs(modulesDir)) {
    const moduleFile = join(modulesDir, dir, 'module.ts');
    if (!existsSync(moduleFile)) continue;
    modules.push([dir, moduleFile]);
    const providersDir = join(modulesDir, dir, 'providers');
    for (const id of await subdirs(providersDir)) {
      const providerFile = join(providersDir, id, 'provider.ts');
      if (existsSync(providerFile)) providers.push([id, providerFile]);
    }
  }
  return { modules, providers };
}

async function sourceFromDir(modulesDir: string): Promise<ModuleSource> {
  const files = await scanModulesDir(modulesDir);
  const loader = (file: string): Load => () => import(pathToFileURL(file).href);
  return {
    modules: files.modules.map(([dir, file]) => [dir, loader(file)]),
    providers: files.providers.map(([id, file]) => [id, loader(file)]),
  };
}

export async function discoverCatalogue(modulesDir?: string): Promise<Catalogue> {
  const source = modulesDir === undefined && bundled ? bundled : await sourceFromDir(modulesDir ?? MODULES_DIR);
  const modules = new Map<string, ModuleDefinition>();
  const broken = new Map<string, string>();
  const providerLoaders = new Map<string, Load>();
  for (const [dir, load] of source.modules) {
    let def: ModuleDefinition;
    try {
      def = await defaultOf<ModuleDefinition>(load, `module ${dir}`);
    } catch (err) {
      broken.set(dir, `cannot load module code: ${(err as Error).message}`);
      continue;
    }
    if (modules.has(def.name)) throw new Error(`module '${def.name}' is defined twice`);
    modules.set(def.name, def);
  }
  for (const [id, load] of source.providers) {
    if (providerLoaders.has(id)) throw new Error(`provider '${id}' is defined twice`);
    providerLoaders.set(id, load);
  }
  return { modules, providers: new Map(), broken, providerLoaders };
}
