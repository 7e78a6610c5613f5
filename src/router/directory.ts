// What Foreman sees of the fleet: which instances serve each feature right now, and the merged
// `/features`, `/v2/features` and `/version` documents of ONE proxy. Rebuilt whenever an instance
// comes up, goes down or changes what it serves; requests only read the result.

import { moduleVersion } from '../core/http/root-routes.ts';
import type { FeatureEntry, Instance } from './fleet.ts';

export interface FrontPorts {
  /** Port of the router's first HTTP / HTTPS listener, or null without one. */
  http: number | null;
  https: number | null;
}

export interface Documents {
  features: Buffer;
  v2Features: Buffer;
  version: Buffer;
}

/**
 * Settings that tell Foreman (and through it, hosts) which port of the proxy to use: behind the
 * router, that is the router's port, not the instance's.
 */
const PORT_SETTINGS: Record<string, keyof FrontPorts> = { http_port: 'http', https_port: 'https' };

export class Directory {
  private readonly instances: readonly Instance[];
  private readonly routerVersion: string;
  private ports: FrontPorts = { http: null, https: null };
  /** feature → instances up and running it, in settings order. */
  private serving = new Map<string, Instance[]>();
  /** Features that only down instances were running when last seen. */
  private down = new Set<string>();
  private docs: Documents;
  /** Round-robin position per feature. */
  private readonly turn = new Map<string, number>();

  constructor(instances: readonly Instance[], routerVersion: string) {
    this.instances = instances;
    this.routerVersion = routerVersion;
    this.docs = this.build();
    this.rebuild();
  }

  setPorts(ports: FrontPorts): void {
    this.ports = ports;
    this.rebuild();
  }

  rebuild(): void {
    const serving = new Map<string, Instance[]>();
    const wentDown = new Set<string>();
    for (const instance of this.instances) {
      for (const feature of instance.running) {
        if (instance.health === 'up') {
          const list = serving.get(feature);
          if (list) list.push(instance);
          else serving.set(feature, [instance]);
        } else wentDown.add(feature);
      }
    }
    for (const f of serving.keys()) wentDown.delete(f);
    this.serving = serving;
    this.down = wentDown;
    this.docs = this.build();
  }

  get documents(): Documents {
    return this.docs;
  }

  /** Instances that can take a request for `feature` now (empty: none). */
  candidates(feature: string): readonly Instance[] {
    return this.serving.get(feature) ?? [];
  }

  /** True when the feature is known but every instance that ran it is down (503, not 404). */
  isDown(feature: string): boolean {
    return this.down.has(feature);
  }

  /**
   * The instance for the next request of `feature`, leaving out `tried`. `logs` always goes to
   * the first healthy instance: its buffer is per instance, and Foreman pages through it with
   * `from_timestamp`, which only makes sense against one buffer.
   */
  pick(feature: string, balance: 'least-busy' | 'round-robin', tried: ReadonlySet<Instance>): Instance | undefined {
    const all = this.serving.get(feature);
    if (!all) return undefined;
    const list = tried.size === 0 ? all : all.filter((i) => !tried.has(i));
    if (list.length <= 1 || feature === 'logs') return list[0];
    const start = ((this.turn.get(feature) ?? -1) + 1) % list.length;
    this.turn.set(feature, start);
    if (balance === 'round-robin') return list[start];
    // least busy; among equals, the one whose turn it is
    let best = list[start];
    for (let k = 1; k < list.length; k++) {
      const i = list[(start + k) % list.length];
      if (i.inFlight < best.inFlight) best = i;
    }
    return best;
  }

  private frontSettings(settings: Record<string, unknown>): Record<string, unknown> {
    let out = settings;
    for (const [key, scheme] of Object.entries(PORT_SETTINGS)) {
      if (key in settings && settings[key] !== null) out = { ...out, [key]: this.ports[scheme] };
    }
    return out;
  }

  private build(): Documents {
    const names = new Set<string>();
    for (const i of this.instances) for (const n of Object.keys(i.features)) names.add(n);
    const v2: Record<string, FeatureEntry> = {};
    const rank: Record<string, number> = { running: 0, failed: 1, disabled: 2 };
    for (const name of [...names].sort()) {
      const up = this.serving.get(name)?.[0];
      if (up) {
        const e = up.features[name];
        v2[name] = { ...e, settings: this.frontSettings(e.settings) };
        continue;
      }
      if (this.down.has(name)) {
        // Ran somewhere, and every instance running it is down: reported as the reference reports
        // a module that failed to start, with what was last known of it.
        const last = this.instances.find((i) => i.running.has(name))?.features[name];
        if (last) v2[name] = { ...last, http_enabled: false, https_enabled: false, state: 'failed', settings: this.frontSettings(last.settings) };
        continue;
      }
      // Not running anywhere: the most telling answer (failed before disabled), healthy instances first.
      const entries = [...this.instances]
        .sort((a, b) => (a.health === 'up' ? 0 : 1) - (b.health === 'up' ? 0 : 1))
        .map((i) => i.features[name])
        .filter((e): e is FeatureEntry => e !== undefined && e.state !== 'running')
        .sort((a, b) => (rank[a.state] ?? 3) - (rank[b.state] ?? 3));
      if (entries[0]) v2[name] = { ...entries[0], settings: this.frontSettings(entries[0].settings) };
    }
    const features = [...this.serving.keys()].sort();
    const modules: Record<string, string> = {};
    const first = this.instances.find((i) => i.health === 'up' && i.version !== undefined);
    for (const name of features) {
      const from = this.serving.get(name)?.[0];
      modules[name] = from?.modules[name] ?? moduleVersion(first?.version ?? this.routerVersion);
    }
    return {
      features: Buffer.from(JSON.stringify(features)),
      v2Features: Buffer.from(JSON.stringify(v2)),
      version: Buffer.from(JSON.stringify({ version: first?.version ?? this.routerVersion, modules })),
    };
  }
}
