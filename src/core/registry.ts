// Finds every module (src/modules/<name>/module.ts) and provider
// (src/modules/<name>/providers/<id>/provider.ts). Discovery keeps modules independent: adding a
// feature never edits the core.

import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ModuleDefinition, ProviderDefinition } from './module.ts';

export interface Catalogue {
  modules: Map<string, ModuleDefinition>;
  providers: Map<string, ProviderDefinition>;
  /** Module directories whose code failed to load: reported failed, never fatal to the rest. */
  broken?: Map<string, string>;
  /**
   * Provider code not loaded yet, by id (the directory name). Providers are imported only when an
   * enabled module selects them, so a disabled feature costs no start-up time or memory.
   */
  providerFiles?: Map<string, string>;
}

/** The provider's definition, importing its code on first use; undefined when unknown or broken. */
export async function loadProvider(catalogue: Catalogue, id: string): Promise<ProviderDefinition | undefined> {
  const known = catalogue.providers.get(id);
  if (known) return known;
  const file = catalogue.providerFiles?.get(id);
  if (!file) return undefined;
  catalogue.providerFiles?.delete(id);
  try {
    const def = await importDefault<ProviderDefinition>(file);
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

async function importDefault<T>(file: string): Promise<T> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: T };
  if (!mod.default) throw new Error(`${file} has no default export`);
  return mod.default;
}

export async function discoverCatalogue(modulesDir = MODULES_DIR): Promise<Catalogue> {
  const modules = new Map<string, ModuleDefinition>();
  const providers = new Map<string, ProviderDefinition>();
  const broken = new Map<string, string>();
  const providerFiles = new Map<string, string>();
  for (const dir of await subdirs(modulesDir)) {
    const moduleFile = join(modulesDir, dir, 'module.ts');
    if (!existsSync(moduleFile)) continue;
    let def: ModuleDefinition;
    try {
      def = await importDefault<ModuleDefinition>(moduleFile);
    } catch (err) {
      broken.set(dir, `cannot load module code: ${(err as Error).message}`);
      continue;
    }
    if (modules.has(def.name)) throw new Error(`module '${def.name}' is defined twice`);
    modules.set(def.name, def);
    const providersDir = join(modulesDir, dir, 'providers');
    for (const pdir of await subdirs(providersDir)) {
      const providerFile = join(providersDir, pdir, 'provider.ts');
      if (!existsSync(providerFile)) continue;
      if (providerFiles.has(pdir)) throw new Error(`provider '${pdir}' is defined twice`);
      providerFiles.set(pdir, providerFile);
    }
  }
  return { modules, providers, broken, providerFiles };
}
