// Pulp's plugins as /v2/features capabilities (spec content.md §3.2): the `component` of every
// entry of `versions` in Pulp's status, de-duplicated and sorted. The reference asks Pulp on every
// /v2/features request, and a Pulp that hangs holds Katello's "Refresh features" for as long as
// its HTTP timeout. Here the answer is kept for a short TTL; once it expires, one refresh runs at a
// time and a caller waits for it only briefly, then gets the last known list.

import type { Logger } from '../../core/logging-types.ts';

export interface CapabilitiesCacheOptions {
  /** Reads Pulp's status and returns the components (throws when Pulp cannot answer). */
  fetch: () => Promise<string[]>;
  ttlMs: number;
  /** Longest wait of a caller for a refresh in progress. */
  waitMs: number;
  log: Logger;
  now?: () => number;
}

/** The components of a status body; anything that is not Pulp's status shape is an error. */
export function componentsOf(status: unknown): string[] {
  const versions = (status as { versions?: unknown } | null)?.versions;
  if (!Array.isArray(versions)) throw new Error("Pulp's status has no 'versions' list");
  const names = new Set<string>();
  for (const v of versions) {
    const component = (v as { component?: unknown } | null)?.component;
    if (typeof component === 'string' && component !== '') names.add(component);
  }
  return [...names].sort();
}

export class CapabilitiesCache {
  private readonly options: CapabilitiesCacheOptions;
  private readonly now: () => number;
  private value: string[] = [];
  /** When `value` was obtained (failures count too: their value is []); -Infinity = never. */
  private at = -Infinity;
  private refreshing: Promise<void> | undefined;
  private closed = false;

  constructor(options: CapabilitiesCacheOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The capabilities: cached, refreshed once expired, never waiting more than `waitMs`. */
  async get(): Promise<string[]> {
    if (this.closed || this.now() - this.at < this.options.ttlMs) return this.value;
    const refresh = this.refresh();
    if (this.options.waitMs <= 0) return this.value;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.waitMs);
    });
    await Promise.race([refresh, waited]);
    clearTimeout(timer);
    return this.value;
  }

  /** Start a refresh unless one runs; resolves when it is done (it never rejects). */
  refresh(): Promise<void> {
    this.refreshing ??= this.options
      .fetch()
      .then(
        (components) => {
          this.value = components;
        },
        (err: unknown) => {
          // As the reference: Katello then sees a Pulp without plugins, which is what it is.
          this.value = [];
          this.options.log.error(`Could not fetch capabilities: ${err instanceof Error ? err.message : String(err)}`);
        },
      )
      .finally(() => {
        this.at = this.now();
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** Waits for a refresh in progress, so closing never leaves a request behind. */
  async close(): Promise<void> {
    this.closed = true;
    await this.refreshing;
  }
}
