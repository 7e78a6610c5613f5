// Module lifecycle (design.md §4, spec README §3.4): read and type-check every settings file
// first (fatal errors name file and key), then per module group: check the settings against the
// schemas → resolve providers → check dependencies → create providers → create the module
// instance → start it. A failing group is reported `failed` and whatever it had created is closed;
// the other groups run on. On shutdown everything created is closed in reverse order. A reload
// (docs/reload.md) runs the same phases on the new files, then brings up only the groups whose
// inputs changed next to the running ones, and closes the replaced ones when told to.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { SettingsError, errorText } from './errors.ts';
import {
  Providers,
  settingsFileName,
  type Closeable,
  type EnabledValue,
  type ListenerInfo,
  type ModuleDefinition,
  type ModuleInstance,
  type ModuleState,
  type ProviderDefinition,
  type Settings,
} from './module.ts';
import type { GlobalSettings } from './settings/global.ts';
import type { Logger } from './logging-types.ts';
import { loadProvider, type Catalogue } from './registry.ts';
import type { LogBuffer } from './log-buffer.ts';
import { ProxyMetrics, instrumentProvider } from './metrics.ts';
import { readSettingsFile } from './settings/yaml.ts';
import { checkDeclared, readDeclared, typed, type SettingProblem, type TObject } from './settings/schema.ts';

/** Why a group failed, for `smart-proxy check`: the file, the key when one is to blame, the reason. */
export interface GroupProblem {
  readonly file: string;
  readonly key?: string;
  /** The failure reason as /logs shows it. */
  readonly message: string;
  /** The reason alone, when the message also names the file's plugin and key. */
  readonly reason?: string;
}

export interface ModuleRecord {
  readonly def: ModuleDefinition;
  state: ModuleState;
  enabled: EnabledValue;
  /** Module settings after defaults and computation; null when disabled. */
  settings: Settings | null;
  providerIds: string[];
  /** Merged settings (module ← provider file) of each provider, in providerIds order. */
  providerSettings: Settings[];
  /** The running module; set while state is running. */
  instance: ModuleInstance | undefined;
  /** Failure message of the group (state failed) or of a soft failure (state running). */
  failure: string | undefined;
  /** Where the group's failure came from. */
  problem: GroupProblem | undefined;
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting on a failed module: that is not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export function parseEnabled(value: unknown): EnabledValue {
  if (value === true) return 'both';
  if (value === 'http' || value === 'https') return value;
  return false;
}

interface PendingProvider {
  def: ProviderDefinition;
  file: string;
  /** The provider file's own values (defaults ← file), before merging with the module's. */
  own: Settings;
}

interface Pending {
  record: ModuleRecord;
  file: string;
  providers: PendingProvider[];
}

export interface LoadOptions {
  catalogue: Catalogue;
  global: GlobalSettings;
  /** Module names this instance runs (undefined = all). */
  only?: ReadonlySet<string>;
  log: Logger;
  signal: AbortSignal;
  /** Served by the logs module through ctx.proxy. */
  logBuffer: LogBuffer;
  /** This proxy's metrics registry (ctx.proxy.metrics); a fresh one when not given. */
  metrics?: ProxyMetrics;
  /** The listeners as bound (ctx.proxy.listeners), known once the proxy listens. */
  listeners?: () => readonly ListenerInfo[];
  /**
   * false (`smart-proxy check`): providers and module instances are created, so that their
   * settings and files are really tried, but nothing starts serving; close() releases them.
   */
  start?: boolean;
}

/** A brought-up group's view of the proxy (see ModuleLoader.groupRuntime). */
interface GroupRuntime {
  /** The global settings the group was created with. */
  readonly global: GlobalSettings;
  /** The same, through a proxy that records the keys read into `keys`. */
  readonly view: GlobalSettings;
  readonly keys: Set<string>;
  /** Aborted when a reload retires the group. */
  readonly abort: AbortController;
  /** The proxy's shutdown signal or the group's own: what its providers and instance get. */
  readonly signal: AbortSignal;
}

/** Phase 1 of a reload done: every file read and checked, nothing changed yet. */
export interface ReloadPlan {
  readonly global: GlobalSettings;
  /** @internal the fresh records and their providers' files */
  readonly pending: readonly Pending[];
  /** Groups that fail their settings checks exactly as their running record already does. */
  readonly stillFailed: ReadonlySet<string>;
  readonly unknownModuleFiles: readonly UnknownModuleFile[];
}

/** What a reload did to the modules, by name. */
export interface ModuleChanges {
  /** Settings (or a required module) changed: a new instance replaced the old one. */
  readonly recreated: string[];
  /** Newly enabled (or failed before): brought up. */
  readonly started: string[];
  /** Disabled: closed. */
  readonly stopped: string[];
  /** Unchanged and running: the same instance stays. */
  readonly kept: string[];
  /** Brought up by this reload and failed (reported as at start; the others keep running). */
  readonly failed: string[];
}

export interface AppliedReload {
  readonly changes: ModuleChanges;
  /** Put the previous records and global settings back and close what this reload created. */
  rollback(): Promise<void>;
  /**
   * Once nothing runs on the replaced instances any more (the previous apps drained): close the
   * replaced and stopped groups (within CLOSE_DEADLINE_MS), then start the replacements that serve
   * outside HTTP (their predecessor held the port). Returns the modules whose start failed: they
   * are failed now, and must be unmounted. `startReplacements` false (shutting down): none starts.
   */
  retire(startReplacements?: boolean): Promise<string[]>;
}

/** Longest a close() may take at shutdown before the next one is started anyway. */
export const CLOSE_DEADLINE_MS = 10_000;

/**
 * Phase 1: read and type-check every settings file. Throws SettingsError (fatal) on unreadable
 * files, bad YAML and values of the wrong type.
 */
async function readAll(opts: LoadOptions): Promise<Pending[]> {
  const { catalogue, global, only, log } = opts;
  const pending: Pending[] = [];
  const defs = [...catalogue.modules.values()];
  for (const [name, reason] of catalogue.broken ?? []) defs.push(brokenModule(name, reason));
  for (const def of defs.sort((a, b) => a.name.localeCompare(b.name))) {
    if (only && !only.has(def.name)) continue;
    const file = join(global.settingsDirectory, settingsFileName(def));
    const raw = await readSettingsFile(file);
    if (raw === undefined) log.warn(`Couldn't find settings file ${file}. Using default settings.`);
    const enabled = parseEnabled(raw?.enabled ?? def.enabledByDefault ?? false);
    const record: ModuleRecord = {
      def,
      state: 'disabled',
      enabled,
      settings: null,
      providerIds: [],
      providerSettings: [],
      instance: undefined,
      failure: undefined,
      problem: undefined,
    };
    const p: Pending = { record, file, providers: [] };
    pending.push(p);
    if (!enabled) continue;
    const { enabled: _ignored, ...rest } = raw ?? {};
    let settings = readDeclared(file, def.settings, rest);
    if (def.computeSettings) settings = def.computeSettings(settings, global, enabled);
    record.settings = settings;
    record.providerIds = def.providerIds ? def.providerIds(typed(def.settings, settings)) : [];
    for (const id of record.providerIds) {
      const pdef = await loadProvider(catalogue, id);
      if (!pdef || pdef.module !== def.name) continue; // reported as a group failure later
      const pfile = join(global.settingsDirectory, `${id}.yml`);
      const praw = await readSettingsFile(pfile);
      if (praw === undefined) log.warn(`Couldn't find settings file ${pfile}. Using default settings.`);
      p.providers.push({ def: pdef, file: pfile, own: readDeclared(pfile, pdef.settings, praw ?? {}) });
    }
  }
  return pending;
}

/** A settings.d file that enables a module this proxy does not have (another plugin's, a typo). */
export interface UnknownModuleFile {
  readonly file: string;
  readonly module: string;
}

export function unknownModuleMessage(f: UnknownModuleFile): string {
  return `${f.file} enables module '${f.module}', which this proxy does not have; ignored`;
}

/**
 * settings.d files named after no module and no provider of the catalogue that enable a module:
 * the reference ignores them without a word, which hides a missing plugin or a misspelt file name.
 * Provider files have no `enabled` key, so they are never reported; an unreadable or malformed
 * file of an unknown name is skipped, as the reference never reads it either.
 */
export async function findUnknownModuleFiles(settingsDirectory: string, catalogue: Catalogue): Promise<UnknownModuleFile[]> {
  let names: string[];
  try {
    names = await readdir(settingsDirectory);
  } catch {
    return []; // no settings.d: every module uses its defaults, as readAll reports
  }
  const known = new Set([
    ...catalogue.modules.keys(),
    ...[...catalogue.modules.values()].map((def) => settingsFileName(def).slice(0, -'.yml'.length)),
    ...(catalogue.broken?.keys() ?? []),
    ...catalogue.providers.keys(),
    ...(catalogue.providerLoaders?.keys() ?? []),
  ]);
  const found: UnknownModuleFile[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.yml')) continue;
    const module = name.slice(0, -'.yml'.length);
    if (known.has(module)) continue;
    const file = join(settingsDirectory, name);
    const raw = await readSettingsFile(file).catch(() => undefined);
    if (raw && parseEnabled(raw.enabled) !== false) found.push({ file, module });
  }
  return found;
}

/** Stand-in definition for a module whose code failed to load: it is created by failing. */
function brokenModule(name: string, reason: string): ModuleDefinition {
  return {
    name,
    summary: '',
    prefixes: [],
    audience: 'foreman',
    authorize: true,
    settings: { type: 'object', properties: {} } as unknown as TObject,
    create: () => {
      throw new Error(reason);
    },
  };
}

function groupMessage(record: ModuleRecord, reason: string): string {
  const members = [...record.providerIds, record.def.name].map((m) => `'${m}'`).join(', ');
  return `Disabling all modules in the group [${members}] due to a failure in one of them: ${reason}`;
}

/** Both schemas' keys of a provider's merged settings, typed. */
function providerView(def: ProviderDefinition, module: ModuleDefinition, merged: Settings): unknown {
  return typed(def.settings, typed(module.settings, merged));
}

async function closeWithin(what: string, item: Closeable, ms: number, log: Logger): Promise<void> {
  if (typeof item.close !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), Math.max(ms, 1));
  });
  try {
    const outcome = await Promise.race([Promise.resolve(item.close()).then(() => 'closed' as const), late]);
    if (outcome === 'late') log.warn(`${what}: still closing after ${ms} ms, going on without it`);
  } catch (err) {
    log.warn(`${what}: close failed: ${errorText(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

export class ModuleLoader {
  readonly records = new Map<string, ModuleRecord>();
  readonly failedModules: Record<string, string> = {};
  readonly metrics: ProxyMetrics;
  /** settings.d files enabling modules this proxy does not have (warned about, then ignored). */
  unknownModuleFiles: readonly UnknownModuleFile[] = [];
  private readonly opts: LoadOptions;
  /** Everything created, in creation order: closed in reverse. `owner`: the group's record. */
  private readonly created: { name: string; owner: ModuleRecord; item: Closeable }[] = [];
  /** Settled when a module's instance exists (its exports) or its group failed. */
  private instancesReady = new Map<string, Deferred<unknown>>();
  /** What each brought-up group sees and holds (for reload: global keys it read, its signal). */
  private readonly groups = new WeakMap<ModuleRecord, GroupRuntime>();
  private currentGlobal: GlobalSettings;

  constructor(opts: LoadOptions) {
    this.opts = opts;
    this.currentGlobal = opts.global;
    this.metrics = opts.metrics ?? new ProxyMetrics();
  }

  /** The global settings of the last load or applied reload. */
  get global(): GlobalSettings {
    return this.currentGlobal;
  }

  private fail(record: ModuleRecord, reason: string, problem: GroupProblem): void {
    const message = groupMessage(record, reason);
    record.state = 'failed';
    record.failure = message;
    record.problem = problem;
    for (const member of [...record.providerIds, record.def.name]) this.failedModules[member] = message;
    this.opts.log.error(message);
  }

  /** Fail (and release) every group whose required module is not running. */
  private async failUnmetDependencies(groups: Iterable<Pending>): Promise<void> {
    for (const p of groups) {
      if (p.record.state === 'failed') continue;
      const unmet = this.unmetDependency(p.record);
      if (!unmet) continue;
      this.fail(p.record, unmet, { file: p.file, message: unmet });
      p.record.instance = undefined;
      await this.release(p.record);
    }
  }

  private unmetDependency(record: ModuleRecord): string | undefined {
    for (const dep of record.def.requires ?? []) {
      const other = this.records.get(dep);
      if (!other || other.state === 'failed' || other.enabled === false) {
        return `'${dep}' required by '${record.def.name}' could not be found.`;
      }
    }
    return undefined;
  }

  /** Read and check everything first (fatal on SettingsError), then bring each group up. */
  async load(): Promise<void> {
    const pending = await readAll({ ...this.opts, global: this.currentGlobal });
    this.unknownModuleFiles = await findUnknownModuleFiles(this.currentGlobal.settingsDirectory, this.opts.catalogue);
    for (const f of this.unknownModuleFiles) this.opts.log.warn(unknownModuleMessage(f));
    for (const p of pending) this.records.set(p.record.def.name, p.record);
    const alive = pending.filter((p) => p.record.enabled !== false);

    for (const p of alive) {
      const problem = await this.check(p);
      if (problem) this.fail(p.record, problem.message, problem);
    }
    // Dependencies, then creation; re-checked after, since a dependency may have failed meanwhile.
    await this.failUnmetDependencies(alive);
    for (const p of alive) this.instancesReady.set(p.record.def.name, deferred());
    await Promise.all(alive.filter((p) => p.record.state !== 'failed').map((p) => this.bringUp(p)));
    for (const d of this.instancesReady.values()) d.reject(new Error('the module did not start'));
    await this.failUnmetDependencies(alive);
  }

  /** The group's first settings problem, in the reference's order (module, providers, clashes). */
  private async check(p: Pending): Promise<GroupProblem | undefined> {
    const { record } = p;
    const def = record.def;
    const settings = record.settings as Settings;
    const own = await checkDeclared(def.name, p.file, def.settings, settings);
    if (own) return own;
    const custom = def.validate?.(typed(def.settings, settings));
    if (custom) return { file: p.file, ...custom };
    const missing = record.providerIds.filter((id) => {
      const d = this.opts.catalogue.providers.get(id);
      return !d || d.module !== def.name;
    });
    if (missing.length > 0) {
      return {
        file: p.file,
        key: 'use_provider',
        message: `following providers are not available [${missing.map((m) => `'${m}'`).join(', ')}]`,
      };
    }
    for (const prov of p.providers) {
      const clash = Object.keys(prov.own).filter((k) => k in settings);
      if (clash.length > 0) {
        return {
          file: prov.file,
          key: clash[0],
          message: `Provider '${prov.def.id}' settings conflict with the main plugin's settings: [${clash.map((k) => `'${k}'`).join(', ')}]`,
        };
      }
      const merged = { ...settings, ...prov.own };
      const problem: SettingProblem | undefined = await checkDeclared(prov.def.id, prov.file, prov.def.settings, merged);
      if (problem) return problem;
      const customProvider = prov.def.validate?.(providerView(prov.def, def, merged) as never);
      if (customProvider) return { file: prov.file, ...customProvider };
      record.providerSettings.push(merged);
    }
    return undefined;
  }

  /**
   * Reload, phase 1: read and check every file against `global` as a start would. Throws a
   * SettingsError (file, key, reason) for the first problem; a group that fails exactly as it
   * already does is not a new problem. Changes nothing.
   */
  async prepareReload(global: GlobalSettings): Promise<ReloadPlan> {
    const pending = await readAll({ ...this.opts, global });
    const stillFailed = new Set<string>();
    for (const p of pending) {
      if (p.record.enabled === false) continue;
      const problem = await this.check(p);
      if (!problem) continue;
      const old = this.records.get(p.record.def.name);
      if (old?.state === 'failed' && old.problem?.file === problem.file && old.problem.message === problem.message) {
        stillFailed.add(p.record.def.name);
        continue;
      }
      throw new SettingsError(problem.file, problem.key, problem.reason ?? problem.message);
    }
    const unknownModuleFiles = await findUnknownModuleFiles(global.settingsDirectory, this.opts.catalogue);
    return { global, pending, stillFailed, unknownModuleFiles };
  }

  /** Whether a running group would be created the same from `fresh` and `global`. */
  private sameInputs(old: ModuleRecord, fresh: ModuleRecord, global: GlobalSettings): boolean {
    const runtime = this.groups.get(old);
    if (!runtime) return false;
    if (old.enabled !== fresh.enabled) return false;
    if (!isDeepStrictEqual(old.settings, fresh.settings)) return false;
    if (!isDeepStrictEqual(old.providerIds, fresh.providerIds)) return false;
    if (!isDeepStrictEqual(old.providerSettings, fresh.providerSettings)) return false;
    const before = runtime.global as unknown as Record<string, unknown>;
    const after = global as unknown as Record<string, unknown>;
    for (const key of runtime.keys) if (!isDeepStrictEqual(before[key], after[key])) return false;
    return true;
  }

  /** failedModules from the records, in place (ctx.proxy.failedModules() hands out this object). */
  private rebuildFailedModules(): void {
    for (const key of Object.keys(this.failedModules)) delete this.failedModules[key];
    for (const r of this.records.values()) {
      if (r.state === 'failed' && r.failure) for (const m of [...r.providerIds, r.def.name]) this.failedModules[m] = r.failure;
      else if (r.state === 'running' && r.failure) this.failedModules[r.def.name] = r.failure;
    }
  }

  /** Close what the `owners` groups created, newest first, within CLOSE_DEADLINE_MS overall. */
  private async releaseAll(owners: ReadonlySet<ModuleRecord>): Promise<void> {
    const until = Date.now() + CLOSE_DEADLINE_MS;
    const theirs = this.created.filter((c) => owners.has(c.owner));
    for (const c of theirs.reverse()) {
      const at = this.created.indexOf(c);
      if (at === -1) continue; // shutdown took it meanwhile
      this.created.splice(at, 1);
      await closeWithin(c.name, c.item, until - Date.now(), this.opts.log);
    }
  }

  /**
   * Reload, phase 2: bring up the groups whose inputs changed (module and provider settings,
   * `enabled`, a global key they read, a required module brought up again), and the newly enabled
   * ones, next to the running instances; the records switch to the new set. The replaced groups
   * keep running until `retire()`.
   */
  async applyReload(plan: ReloadPlan): Promise<AppliedReload> {
    const previous = new Map(this.records);
    const previousFailed = { ...this.failedModules };
    const previousGlobal = this.currentGlobal;
    const next = new Map<string, ModuleRecord>();
    const bring = new Map<string, Pending>();
    for (const p of plan.pending) {
      const name = p.record.def.name;
      const old = previous.get(name);
      if (p.record.enabled !== false && old && (plan.stillFailed.has(name) || (old.state === 'running' && this.sameInputs(old, p.record, plan.global)))) {
        next.set(name, old);
        continue;
      }
      next.set(name, p.record);
      if (p.record.enabled !== false) bring.set(name, p);
    }
    // A kept module whose required module is brought up again or stopped is brought up again too.
    for (let grew = true; grew; ) {
      grew = false;
      for (const p of plan.pending) {
        const name = p.record.def.name;
        const kept = next.get(name);
        if (kept !== previous.get(name) || kept?.state !== 'running') continue;
        if ((kept.def.requires ?? []).some((dep) => next.get(dep) !== previous.get(dep))) {
          next.set(name, p.record);
          bring.set(name, p);
          grew = true;
        }
      }
    }
    const retired = new Set([...previous.values()].filter((r) => r.state === 'running' && next.get(r.def.name) !== r));
    const replacing = new Set([...bring.keys()].filter((name) => previous.get(name)?.state === 'running'));

    this.currentGlobal = plan.global;
    this.records.clear();
    for (const [name, r] of next) this.records.set(name, r);
    this.instancesReady = new Map();
    for (const r of next.values()) {
      if (bring.has(r.def.name) || r.state !== 'running' || !r.instance) continue;
      const ready = deferred<unknown>();
      ready.resolve(r.instance.exports);
      this.instancesReady.set(r.def.name, ready);
    }
    for (const name of bring.keys()) this.instancesReady.set(name, deferred());
    await this.failUnmetDependencies(bring.values());
    // A replacement that also serves outside HTTP starts once its predecessor closed (retire()).
    await Promise.all([...bring.values()].filter((p) => p.record.state !== 'failed').map((p) => this.bringUp(p, replacing.has(p.record.def.name))));
    for (const d of this.instancesReady.values()) d.reject(new Error('the module did not start'));
    await this.failUnmetDependencies(bring.values());
    this.rebuildFailedModules();
    this.unknownModuleFiles = plan.unknownModuleFiles;
    for (const f of this.unknownModuleFiles) this.opts.log.warn(unknownModuleMessage(f));

    const changes: ModuleChanges = { recreated: [], started: [], stopped: [], kept: [], failed: [] };
    for (const [name, r] of next) {
      if (bring.has(name)) (r.state === 'failed' ? changes.failed : replacing.has(name) ? changes.recreated : changes.started).push(name);
      else if (r === previous.get(name) && r.state === 'running') changes.kept.push(name);
      else if (previous.get(name)?.state === 'running') changes.stopped.push(name);
    }
    const brought = new Set([...bring.values()].map((p) => p.record));
    return {
      changes,
      rollback: async () => {
        for (const r of brought) this.groups.get(r)?.abort.abort();
        await this.releaseAll(brought);
        this.currentGlobal = previousGlobal;
        this.records.clear();
        for (const [name, r] of previous) this.records.set(name, r);
        for (const key of Object.keys(this.failedModules)) delete this.failedModules[key];
        Object.assign(this.failedModules, previousFailed);
      },
      retire: async (startReplacements = true) => {
        for (const r of retired) this.groups.get(r)?.abort.abort();
        await this.releaseAll(retired);
        for (const r of retired) r.instance = undefined;
        const failedToStart: string[] = [];
        for (const name of startReplacements ? replacing : []) {
          const r = bring.get(name)?.record;
          const instance = r?.instance;
          if (!r || r.state !== 'running' || !instance?.start) continue;
          try {
            await instance.start();
          } catch (err) {
            r.instance = undefined;
            this.fail(r, errorText(err), { file: (bring.get(name) as Pending).file, message: errorText(err) });
            await this.release(r);
            failedToStart.push(name);
          }
        }
        if (failedToStart.length > 0) this.rebuildFailedModules();
        return failedToStart;
      },
    };
  }

  private remember(owner: ModuleRecord, item: Closeable): void {
    this.created.push({ name: owner.def.name, owner, item });
  }

  /**
   * Close what one group created, newest first (a group failed after creating some of it, or a
   * reload replaced or stopped it).
   */
  private release(owner: ModuleRecord): Promise<void> {
    return this.releaseAll(new Set([owner]));
  }

  /**
   * The group's view of the global settings: records which keys the group reads, so that a reload
   * recreates it only when one of those changed (a module that spreads the whole object reads them
   * all). Its signal is aborted at shutdown, or when a reload retires the group.
   */
  private groupRuntime(record: ModuleRecord): GroupRuntime {
    const global = this.currentGlobal;
    const keys = new Set<string>();
    const abort = new AbortController();
    const view = new Proxy(global, {
      get(target, key, receiver) {
        if (typeof key === 'string') keys.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      ownKeys(target) {
        for (const k of Reflect.ownKeys(target)) if (typeof k === 'string') keys.add(k);
        return Reflect.ownKeys(target);
      },
    });
    const runtime: GroupRuntime = { global, view, keys, abort, signal: AbortSignal.any([this.opts.signal, abort.signal]) };
    this.groups.set(record, runtime);
    return runtime;
  }

  private async bringUp(p: Pending, deferStart = false): Promise<void> {
    const { record } = p;
    const { log } = this.opts;
    const def = record.def;
    const { view: global, signal } = this.groupRuntime(record);
    let stage = { file: p.file };
    try {
      const byId = new Map<string, unknown>();
      for (const [i, prov] of p.providers.entries()) {
        stage = { file: prov.file };
        const created = await prov.def.create({
          settings: providerView(prov.def, def, record.providerSettings[i]) as never,
          global,
          log: log.child(prov.def.id),
          signal,
        });
        // The original is what gets closed; the module calls its backend through the timed view.
        this.remember(record, created);
        byId.set(prov.def.id, typeof created === 'object' && created !== null ? instrumentProvider(def.name, prov.def.id, created, this.metrics) : created);
      }
      stage = { file: p.file };
      const instance = await def.create(
        {
          name: def.name,
          settings: typed(def.settings, record.settings as Settings),
          global,
          log: log.child(def.name),
          signal,
          proxy: {
            logBuffer: this.opts.logBuffer,
            failedModules: () => this.failedModules,
            metrics: this.metrics,
            modules: () => this.records,
            listeners: () => this.opts.listeners?.() ?? [],
          },
          dependency: <T>(name: string) => this.dependencyOf<T>(def, name),
        },
        new Providers(byId),
      );
      this.remember(record, instance);
      this.instancesReady.get(def.name)?.resolve(instance.exports);
      if (this.opts.start !== false && instance.start && !deferStart) await instance.start();
      record.instance = instance;
      record.state = 'running';
      if (instance.softFailure) {
        record.failure = instance.softFailure;
        this.failedModules[def.name] = instance.softFailure;
        log.error(instance.softFailure);
      }
    } catch (err) {
      record.instance = undefined;
      this.instancesReady.get(def.name)?.reject(err instanceof Error ? err : new Error(String(err)));
      this.fail(record, errorText(err), { ...stage, message: errorText(err) });
      await this.release(record);
    }
  }

  private dependencyOf<T>(def: ModuleDefinition, name: string): Promise<T> {
    if (!(def.requires ?? []).includes(name)) {
      return Promise.reject(new Error(`module '${def.name}' asked for '${name}', which is not in its requires`));
    }
    const ready = this.instancesReady.get(name);
    if (!ready) return Promise.reject(new Error(`'${name}' required by '${def.name}' could not be found.`));
    return ready.promise.then(
      (exports) => exports as T,
      (err: unknown) => {
        throw new Error(`'${name}' required by '${def.name}' failed: ${errorText(err)}`);
      },
    );
  }

  /** Close every module instance and provider, newest first, within `deadlineMs` overall. */
  async close(deadlineMs = CLOSE_DEADLINE_MS): Promise<void> {
    const until = Date.now() + deadlineMs;
    while (this.created.length > 0) {
      const c = this.created.pop() as { name: string; item: Closeable };
      await closeWithin(c.name, c.item, until - Date.now(), this.opts.log);
    }
    for (const r of this.records.values()) r.instance = undefined;
  }
}
