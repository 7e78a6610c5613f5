// Bodies of the root endpoints /features, /version and /v2/features (spec README §4).

import type { ModuleRecord } from '../lifecycle.ts';

export interface RootDeps {
  records: ReadonlyMap<string, ModuleRecord>;
  version: string;
}

/** Module version: the proxy version without a trailing `-develop` (spec README §3.1). */
export function moduleVersion(version: string): string {
  return version.replace(/-develop$/, '');
}

function running(records: ReadonlyMap<string, ModuleRecord>): ModuleRecord[] {
  return [...records.values()].filter((r) => r.state === 'running' && r.def.published !== false);
}

export function featuresList(deps: RootDeps): string[] {
  return running(deps.records)
    .map((r) => r.def.name)
    .sort();
}

export function versionInfo(deps: RootDeps): { version: string; modules: Record<string, string> } {
  const modules: Record<string, string> = {};
  for (const name of featuresList(deps)) modules[name] = moduleVersion(deps.version);
  return { version: deps.version, modules };
}

function exposedSettings(r: ModuleRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const sources = r.settings ? [r.settings, ...r.providerSettings] : [];
  for (const key of r.def.exposedSettings ?? []) {
    const src = sources.find((s) => key in s);
    out[key] = r.state === 'disabled' || !src ? null : (src[key] ?? null);
  }
  return out;
}

async function capabilities(r: ModuleRecord, providerCaps: (id: string) => readonly string[]): Promise<string[]> {
  const caps = new Set<string>(r.def.capabilities ?? []);
  if (r.state !== 'disabled') for (const id of r.providerIds) for (const c of providerCaps(id)) caps.add(c);
  if (r.state === 'running' && r.instance?.capabilities) {
    for (const c of await r.instance.capabilities()) caps.add(c);
  }
  return [...caps].filter((c) => c !== null && c !== undefined).sort();
}

export interface V2Feature {
  http_enabled: boolean;
  https_enabled: boolean;
  settings: Record<string, unknown>;
  state: string;
  capabilities: string[];
}

export async function v2Features(
  deps: RootDeps & { providerCapabilities?: (id: string) => readonly string[] },
): Promise<Record<string, V2Feature>> {
  const out: Record<string, V2Feature> = {};
  const providerCaps = deps.providerCapabilities ?? (() => []);
  const records = [...deps.records.values()].filter((r) => r.def.published !== false).sort((a, b) => a.def.name.localeCompare(b.def.name));
  for (const r of records) {
    const on = r.state !== 'disabled' && r.state !== 'failed';
    out[r.def.name] = {
      http_enabled: on && (r.enabled === 'both' || r.enabled === 'http'),
      https_enabled: on && (r.enabled === 'both' || r.enabled === 'https'),
      settings: exposedSettings(r),
      state: r.state,
      capabilities: await capabilities(r, providerCaps),
    };
  }
  return out;
}
