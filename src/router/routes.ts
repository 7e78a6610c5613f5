// Which feature owns a path, and how the front listener authorizes it: both derived from the
// proxy's own module definitions (their `prefixes`, `authorize`, `pathAuthorization`, `audience`),
// so the router routes and guards exactly as one proxy running every module would.

import type { Catalogue } from '../core/registry.ts';
import type { Audience } from '../core/module.ts';

export interface FeatureRoute {
  readonly prefix: string;
  readonly feature: string;
  readonly audience: Audience;
}

export interface Guard {
  readonly prefix: string;
  /** trusted_hosts + certificate (true), nothing (false), or the caller's own certificate. */
  readonly authorize: boolean | 'client-certificate';
  /** A path exempted from its module's authorization (`/ssh/pubkey`, `/ssh/jobs`). */
  readonly exempt: boolean;
}

export interface RouteTable {
  /** Longest prefix first. */
  readonly routes: readonly FeatureRoute[];
  /** Longest prefix first. */
  readonly guards: readonly Guard[];
  /** Features the catalogue knows, with their audience. */
  readonly features: ReadonlyMap<string, Audience>;
}

const byLength = (a: { prefix: string }, b: { prefix: string }): number => b.prefix.length - a.prefix.length;

/**
 * The table from the catalogue. Modules that are not Foreman features (`published: false`, the
 * capsule's host-facing front end) are left out: instances never announce them, so the router
 * could not learn where they run.
 */
export function routeTable(catalogue: Catalogue): RouteTable {
  const defs = [...catalogue.modules.values()].filter((d) => d.published !== false);
  const routes = defs.flatMap((d) => d.prefixes.map((prefix): FeatureRoute => ({ prefix, feature: d.name, audience: d.audience }))).sort(byLength);
  const guards: Guard[] = [
    ...defs.flatMap((d) => d.prefixes.map((prefix): Guard => ({ prefix, authorize: d.authorize, exempt: false }))),
    // As in the proxy: everything under /v2 (its features document) is control plane.
    { prefix: '/v2', authorize: true, exempt: false },
    ...defs.flatMap((d) =>
      Object.entries(d.pathAuthorization ?? {}).map(([prefix, mode]): Guard => ({ prefix, authorize: mode === 'none' ? false : 'client-certificate', exempt: true })),
    ),
  ].sort(byLength);
  return { routes, guards, features: new Map(defs.map((d) => [d.name, d.audience])) };
}

function under(path: string, prefix: string): boolean {
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47 /* / */);
}

export function routeFor(table: RouteTable, path: string): FeatureRoute | undefined {
  for (const r of table.routes) if (under(path, r.prefix)) return r;
  return undefined;
}

export function guardFor(table: RouteTable, path: string): Guard | undefined {
  for (const g of table.guards) if (under(path, g.prefix)) return g;
  return undefined;
}

/**
 * The path as the proxy's router matches it: percent-decoded, so that `/%6cogs` is guarded and
 * routed as `/logs` here too (the instance decodes the same way).
 */
export function matchPath(rawPath: string): string {
  if (!rawPath.includes('%')) return rawPath;
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}
