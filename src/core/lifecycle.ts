// Module lifecycle (design.md §4, spec README §3.4): load every settings file first (fatal errors
// name file and key), then per module group: validate → resolve providers → check dependencies →
// create providers → start. A failing group is reported `failed`; the others run on.

import { join } from 'node:path';
import { errorText } from './errors.ts';
import type {
  EnabledValue,
  ModuleContext,
  ModuleDefinition,
  ModuleState,
  ProviderDefinition,
  Settings,
  SettingsSpec,
} from './module.ts';
import type { GlobalSettings } from './settings/global.ts';
import type { Logger } from './logging-types.ts';
import { loadProvider, type Catalogue } from './registry.ts';
import type { LogBuffer } from './log-buffer.ts';
import { readSettingsFile } from './settings/yaml.ts';
import { coerceDeclared } from './settings/coerce.ts';
import { runChecks } from './settings/checks.ts';

export interface ModuleRecord {
  readonly def: ModuleDefinition;
  state: ModuleState;
  enabled: EnabledValue;
  /** Module settings after defaults and computation; null when disabled. */
  settings: Settings | null;
  providerIds: string[];
  providerSettings: Settings[];
  ctx: ModuleContext | undefined;
  /** Failure message of the group (state failed) or of a soft check (state running). */
  failure: string | undefined;
}

export interface LoadedModules {
  records: Map<string, ModuleRecord>;
  /** name of module or provider → failure message, as GET /logs reports it. */
  failedModules: Record<string, string>;
}

export function parseEnabled(value: unknown): EnabledValue {
  if (value === true) return 'both';
  if (value === 'http' || value === 'https') return value;
  return false;
}

function applyDeclared(file: string, spec: SettingsSpec, raw: Record<string, unknown>): Settings {
  const out: Settings = {};
  for (const [key, decl] of Object.entries(spec)) if ('default' in decl) out[key] = structuredClone(decl.default);
  for (const [key, value] of Object.entries(raw)) {
    const decl = spec[key];
    out[key] = decl ? coerceDeclared(file, key, decl, value) : value;
  }
  return out;
}

interface PendingProvider {
  def: ProviderDefinition;
  file: string;
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
  logBuffer?: LogBuffer;
  /** Validate only: no provider is created and no module started (`smart-proxy check`). */
  dryRun?: boolean;
}

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
    const file = join(global.settingsDirectory, `${def.name}.yml`);
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
      ctx: undefined,
      failure: undefined,
    };
    const p: Pending = { record, file, providers: [] };
    pending.push(p);
    if (!enabled) continue;
    const { enabled: _ignored, ...rest } = raw ?? {};
    let settings = applyDeclared(file, def.settings, rest);
    if (def.computeSettings) settings = def.computeSettings(settings, global, enabled);
    record.settings = settings;
    record.providerIds = def.providerIds ? def.providerIds(settings) : [];
    for (const id of record.providerIds) {
      const pdef = await loadProvider(catalogue, id);
      if (!pdef || pdef.module !== def.name) continue; // reported as a group failure later
      const pfile = join(global.settingsDirectory, `${id}.yml`);
      const praw = await readSettingsFile(pfile);
      if (praw === undefined) log.warn(`Couldn't find settings file ${pfile}. Using default settings.`);
      p.providers.push({ def: pdef, file: pfile, own: applyDeclared(pfile, pdef.settings, praw ?? {}) });
    }
  }
  return pending;
}

/** Stand-in definition for a module whose code failed to load: it starts by failing. */
function brokenModule(name: string, reason: string): ModuleDefinition {
  return {
    name,
    prefixes: [],
    audience: 'foreman',
    authorize: true,
    settings: {},
    start: () => {
      throw new Error(reason);
    },
    routes: () => undefined,
  };
}

function groupMessage(record: ModuleRecord, reason: string): string {
  const members = [...record.providerIds, record.def.name].map((m) => `'${m}'`).join(', ');
  return `Disabling all modules in the group [${members}] due to a failure in one of them: ${reason}`;
}

export class ModuleLoader {
  readonly records = new Map<string, ModuleRecord>();
  readonly failedModules: Record<string, string> = {};
  private readonly opts: LoadOptions;

  constructor(opts: LoadOptions) {
    this.opts = opts;
  }

  private fail(record: ModuleRecord, reason: string): void {
    const message = groupMessage(record, reason);
    record.state = 'failed';
    record.failure = message;
    for (const member of [...record.providerIds, record.def.name]) this.failedModules[member] = message;
    this.opts.log.error(message);
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

  /** Validate everything first (fatal on SettingsError), then bring each group up. */
  async load(): Promise<void> {
    const pending = await readAll(this.opts);
    for (const p of pending) this.records.set(p.record.def.name, p.record);

    const alive = pending.filter((p) => p.record.enabled !== false);
    for (const p of pending) if (p.record.enabled === false) p.record.state = 'disabled';

    // Validators, provider resolution and provider settings, per group.
    for (const p of alive) {
      const { record } = p;
      const reason = await this.validate(p);
      if (reason) this.fail(record, reason);
    }
    // Dependencies, then creation; re-check after, since a dependency may have failed meanwhile.
    for (const p of alive) {
      if (p.record.state === 'failed') continue;
      const unmet = this.unmetDependency(p.record);
      if (unmet) this.fail(p.record, unmet);
    }
    const startable = alive.filter((p) => p.record.state !== 'failed');
    if (this.opts.dryRun) {
      for (const p of startable) p.record.state = 'running';
      return;
    }
    await Promise.all(startable.map((p) => this.bringUp(p)));
    for (const p of alive) {
      if (p.record.state === 'failed') continue;
      const unmet = this.unmetDependency(p.record);
      if (unmet) this.fail(p.record, unmet);
    }
  }

  private async validate(p: Pending): Promise<string | undefined> {
    const { record } = p;
    const settings = record.settings as Settings;
    const failed = await runChecks(record.def.settings, settings);
    if (failed) return failed;
    const missing = record.providerIds.filter((id) => {
      const d = this.opts.catalogue.providers.get(id);
      return !d || d.module !== record.def.name;
    });
    if (missing.length > 0) {
      return `following providers are not available [${missing.map((m) => `'${m}'`).join(', ')}]`;
    }
    for (const prov of p.providers) {
      const clash = Object.keys(prov.own).filter((k) => k in settings);
      if (clash.length > 0) {
        return `Provider '${prov.def.id}' settings conflict with the main plugin's settings: [${clash.map((k) => `'${k}'`).join(', ')}]`;
      }
      const merged = { ...settings, ...prov.own };
      const pfail = await runChecks(prov.def.settings, merged);
      if (pfail) return pfail;
      record.providerSettings.push(merged);
    }
    return undefined;
  }

  private async bringUp(p: Pending): Promise<void> {
    const { record } = p;
    const { global, signal, log } = this.opts;
    try {
      const providers: unknown[] = [];
      for (const [i, prov] of p.providers.entries()) {
        providers.push(
          await prov.def.create({
            settings: record.providerSettings[i],
            global,
            log: log.child(prov.def.id),
            signal,
          }),
        );
      }
      const ctx: ModuleContext = {
        name: record.def.name,
        settings: record.settings as Settings,
        global,
        log: log.child(record.def.name),
        signal,
        providers,
        providerSettings: record.providerSettings,
        proxy: this.opts.logBuffer ? { logBuffer: this.opts.logBuffer, failedModules: () => this.failedModules } : undefined,
      };
      record.ctx = ctx;
      if (record.def.start) await record.def.start(ctx);
      record.state = 'running';
      const soft = record.def.softCheck?.(ctx);
      if (soft) {
        record.failure = soft;
        this.failedModules[record.def.name] = soft;
        log.error(soft);
      }
    } catch (err) {
      this.fail(record, errorText(err));
    }
  }
}

