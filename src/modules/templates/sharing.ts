// Which template requests may share one answer from Foreman (coalescing, and the optional cache).
//
// Foreman finds the host of a template request by `token`, `spoof`/`hostname`, the MAC (`mac`
// param or X-RHN-Provisioning-MAC-* headers) and, when none of those is given, by the client
// address the proxy forwards in X-Forwarded-For (UnattendedController#load_host_details, every
// /unattended/<kind> request, the iPXE bootstrap included: `bootstrap` only matters when no host
// matched). Only the hostgroup route (/unattended/template/<name>/<hostgroup>) renders without
// looking for a host. So:
//
// * only requests matching an explicit rule of `shared_requests` are candidates;
// * a request with a host-identifying param or header, or with credentials, never shares;
// * /unattended/<kind> answers are shared only between requests from the same address, unless
//   `shared_across_hosts` says the operator knows Foreman answers them alike (then they are
//   relayed without the host's address);
// * the hostgroup route is shared between hosts (Foreman never looks at the address there).
//
// No heavy imports: module.ts loads this at start-up to check the setting.

import { credentialHeader } from '../../lib/http/coalesce-policy.ts';

/** Params by which Foreman picks a host: a request carrying one is never shared. */
export const HOST_PARAMS: ReadonlySet<string> = new Set(['token', 'mac', 'spoof', 'hostname', 'ip']);

/** Kinds that change the host's state in Foreman; never shared. */
const SIDE_EFFECT_KINDS: ReadonlySet<string> = new Set(['built', 'failed']);

const MAC_HEADER = /^x-rhn-provisioning-mac-/i;

export interface ShareRule {
  /** The entry as written, for logs and errors. */
  readonly text: string;
  readonly route: 'kind' | 'hostgroup';
  /** Path segments below /unattended: [kind] or [kind, template, hostgroup]; `*` matches any. */
  readonly segments: readonly string[];
  /** The exact set of param names (besides `url`) a matching request carries. */
  readonly params: ReadonlySet<string>;
}

/** Parse one `shared_requests` entry; throws with the entry and the reason. */
export function parseShareRule(text: string): ShareRule {
  const fail = (reason: string): never => {
    throw new Error(`entry '${text}': ${reason}`);
  };
  const [pathPart, queryPart, extra] = text.split('?');
  if (extra !== undefined) fail("more than one '?'");
  const segments = (pathPart ?? '').replace(/^\/?(unattended\/)?/, '').split('/');
  if (segments.some((s) => s === '')) fail('expected <kind>[?param[&param…]] or <kind>/<template>/<hostgroup>');
  if (segments.length !== 1 && segments.length !== 3) fail('a path has one segment (<kind>) or three (<kind>/<template>/<hostgroup>)');
  const route = segments.length === 1 ? 'kind' : 'hostgroup';
  if (route === 'kind' && segments[0] === '*') fail('the kind of a /unattended/<kind> rule must be named, not *');
  if (route === 'kind' && SIDE_EFFECT_KINDS.has(segments[0])) fail(`'${segments[0]}' changes the host in Foreman and is never shared`);
  if (segments.some((s) => s.includes('*') && s !== '*')) fail("'*' stands for a whole segment");
  const params = new Set<string>();
  for (const name of queryPart === undefined || queryPart === '' ? [] : queryPart.split('&')) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) fail(`'${name}' is not a parameter name`);
    if (HOST_PARAMS.has(name)) fail(`'${name}' identifies a host, so such requests are never shared`);
    if (name === 'url') fail("'url' is always set by the proxy");
    params.add(name);
  }
  return { text, route, segments, params };
}

/** Parse the whole setting; throws naming the setting and the first bad entry. */
export function parseShareRules(entries: readonly string[]): ShareRule[] {
  try {
    return entries.map(parseShareRule);
  } catch (err) {
    throw new Error(`shared_requests: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

export interface RelayedRequest {
  readonly route: 'kind' | 'hostgroup';
  readonly method: string;
  /** [kind] or [kind, template, hostgroup], as received (unescaped). */
  readonly segments: readonly string[];
  /** Names of the params relayed to Foreman (without `url`). */
  readonly paramNames: readonly string[];
  /** Incoming request headers. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export type Sharing =
  | { readonly shared: false; readonly reason: string }
  | {
      readonly shared: true;
      readonly rule: ShareRule;
      /** The host's address is part of the key and travels upstream (Foreman may answer by it). */
      readonly byAddress: boolean;
    };

function matches(rule: ShareRule, req: RelayedRequest): boolean {
  if (rule.route !== req.route || rule.segments.length !== req.segments.length) return false;
  if (!rule.segments.every((s, i) => s === '*' || s === req.segments[i])) return false;
  if (req.paramNames.length !== rule.params.size) return false;
  return req.paramNames.every((n) => rule.params.has(n));
}

/** Whether `req` may share its answer, and how (see the file comment). */
export function classify(req: RelayedRequest, rules: readonly ShareRule[], acrossHosts: boolean): Sharing {
  if (req.method !== 'GET' && req.method !== 'HEAD') return { shared: false, reason: 'not a GET' };
  if (rules.length === 0) return { shared: false, reason: 'no shared_requests' };
  for (const name of req.paramNames) if (HOST_PARAMS.has(name)) return { shared: false, reason: `host param '${name}'` };
  const credentials = credentialHeader(req.headers);
  if (credentials !== undefined) return { shared: false, reason: `credentials (${credentials})` };
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && MAC_HEADER.test(name)) return { shared: false, reason: `host header '${name.toLowerCase()}'` };
  }
  const rule = rules.find((r) => matches(r, req));
  if (rule === undefined) return { shared: false, reason: 'no matching rule' };
  return { shared: true, rule, byAddress: rule.route === 'kind' && !acrossHosts };
}
