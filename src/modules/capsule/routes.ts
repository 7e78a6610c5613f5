// The capsule's URL map (spec content.md §1.3): which prefix goes where, and the path the
// upstream receives. Pure functions, shared by the module definition (its prefixes, settings
// checks) and the routes.

/** Katello route groups; each has its own timeout, cap and queue (capsule.yml `<group>_*`). */
export type KatelloGroup = 'rhsm' | 'insights';

export interface KatelloRoute {
  readonly kind: 'katello';
  readonly prefix: string;
  readonly group: KatelloGroup;
}

export interface ContentRoute {
  readonly kind: 'content';
  readonly prefix: string;
  /** Path of the content app the prefix stands for. */
  readonly target: '/pulp/content' | '/pulp/container';
  /** Send the host's verified certificate in X-CLIENT-CERT (Pulp's RHSM cert guard reads it). */
  readonly clientCert: boolean;
}

export const KATELLO_ROUTES: readonly KatelloRoute[] = [
  { kind: 'katello', prefix: '/rhsm', group: 'rhsm' },
  { kind: 'katello', prefix: '/api/registration_commands', group: 'rhsm' },
  // GPG keys that yum repository definitions of a mirror point to
  { kind: 'katello', prefix: '/katello/api/v2/repositories', group: 'rhsm' },
  { kind: 'katello', prefix: '/redhat_access', group: 'insights' },
  { kind: 'katello', prefix: '/api/lightspeed', group: 'insights' },
];

export const CONTENT_ROUTES: readonly ContentRoute[] = [
  { kind: 'content', prefix: '/pulp/content', target: '/pulp/content', clientCert: true },
  // the legacy ("pulp2") paths of yum, file and deb clients map onto the same base
  { kind: 'content', prefix: '/pulp/repos', target: '/pulp/content', clientCert: true },
  { kind: 'content', prefix: '/pulp/isos', target: '/pulp/content', clientCert: true },
  { kind: 'content', prefix: '/pulp/deb', target: '/pulp/content', clientCert: true },
  // registry redirect targets: the signed token in the query authorises, no certificate
  { kind: 'content', prefix: '/pulp/container', target: '/pulp/container', clientCert: false },
];

export const PUB_PREFIX = '/pub';

export const ALL_PREFIXES: readonly string[] = [...KATELLO_ROUTES.map((r) => r.prefix), ...CONTENT_ROUTES.map((r) => r.prefix), PUB_PREFIX];

/** Where the content app listens. */
export type ContentOrigin = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; origin: string; https: boolean };

/** The content app's address from `pulp_content_url`, or what is wrong with the value. */
export function parseContentOrigin(value: string): ContentOrigin | string {
  if (value.startsWith('unix:')) {
    const socketPath = value.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!socketPath.startsWith('/')) return `must be unix:<absolute socket path> or an http(s) URL, not '${value}'`;
    return { kind: 'unix', socketPath };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `must be unix:<absolute socket path> or an http(s) URL, not '${value}'`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must be unix:<absolute socket path> or an http(s) URL, not '${value}'`;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    return `must be the content app's origin without a path (the /pulp/content and /pulp/container paths are added), not '${value}'`;
  }
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  return { kind: 'tcp', origin: url.origin, https: url.protocol === 'https:' };
}

/** Split a raw request target into its path and its query (with the `?`). */
export function splitTarget(rawUrl: string): { path: string; query: string } {
  const q = rawUrl.indexOf('?');
  return q >= 0 ? { path: rawUrl.slice(0, q), query: rawUrl.slice(q) } : { path: rawUrl, query: '' };
}

/**
 * True when a raw path holds a segment that climbs (`..`, `.`, or their percent-encoded spellings,
 * also behind an encoded separator). Relayed as is, `/rhsm/../api/v2/hosts` would reach any Katello
 * API with the proxy's own client certificate; Apache normalises such paths before it maps them,
 * here they are refused.
 */
export function hasDotSegment(rawPath: string): boolean {
  for (const raw of rawPath.split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return true; // undecodable: refuse rather than guess what the upstream makes of it
    }
    for (const part of seg.split(/[/\\]/)) if (part === '.' || part === '..') return true;
  }
  return false;
}

/**
 * The raw path after the prefix's segments ('' or `/…`). The router matched the prefix on the
 * decoded path, where an encoded separator stays one segment, so the prefix spans as many raw
 * segments as it has.
 */
export function rawRest(rawPath: string, prefix: string): string {
  const segments = rawPath.split('/');
  const rest = segments.slice(prefix.split('/').length);
  return rest.length === 0 ? '' : `/${rest.join('/')}`;
}

/** The path and query the content app receives for a request under `route`. */
export function contentTarget(route: ContentRoute, rawUrl: string): string {
  const { path, query } = splitTarget(rawUrl);
  return `${route.target}${rawRest(path, route.prefix)}${query}`;
}

/** The path and query Katello receives: the same as received, below katello_url's path. */
export function katelloTarget(basePath: string, rawUrl: string): string {
  const base = basePath.endsWith('/') ? basePath.slice(0, -1) : basePath;
  return `${base}${rawUrl}`;
}
