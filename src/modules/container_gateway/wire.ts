// Bodies of Katello's refresh calls (spec §2.7). Katello sends Rack-style nested form encoding
// (`hosts[][<uuid>][][repository]=…&hosts[][<uuid>][][auth_required]=true`, an empty list as the
// bare key); we also take JSON (spec §6.8). The form is parsed as it streams in, pair by pair,
// into a compact map of names: the body is never held whole and there is no parameter-count
// ceiling (Rack's 4096 parameters are about 2000 host/repository pairs). JSON is read whole, up to
// the same byte limit, since it has no streaming parser here.

import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';
import { GatewayError } from './errors.ts';
import type { MappingEntry, RepositoryEntry } from './store/types.ts';

/** The body kinds of the refresh calls. */
export type Shape = 'repositories' | 'users' | 'hostList' | 'hostMapping';

const TOP_KEY: Record<Shape, string> = { repositories: 'repositories', users: 'users', hostList: 'hosts', hostMapping: 'hosts' };

export interface ParsedBody {
  repositories: RepositoryEntry[];
  /** users or hosts with their private repositories, in first-seen order. */
  mapping: MappingEntry[];
  /** update_hosts */
  uuids: string[];
  /** Whether the top-level key was present at all (missing `hosts` in update_host_repositories). */
  present: boolean;
}

function decode(s: string): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  try {
    return decodeURIComponent(plus);
  } catch {
    throw GatewayError.invalid_body(`malformed percent-encoding in '${s.slice(0, 80)}'`);
  }
}

/** `a[][b][]` → ['a', '', 'b', '']; undefined for malformed brackets. */
function splitKey(name: string): string[] | undefined {
  const open = name.indexOf('[');
  if (open < 0) return [name];
  const parts = [name.slice(0, open)];
  let i = open;
  while (i < name.length) {
    if (name[i] !== '[') return undefined;
    const close = name.indexOf(']', i);
    if (close < 0) return undefined;
    parts.push(name.slice(i + 1, close));
    i = close + 1;
  }
  return parts;
}

const isTrue = (v: unknown): boolean => v === true || (typeof v === 'string' && v.toLowerCase() === 'true');

/** Accumulates (owner, element) pairs the way Rack groups `x[][k]` fields into elements. */
class Collector {
  readonly shape: Shape;
  present = false;
  readonly repositories: RepositoryEntry[] = [];
  readonly uuids: string[] = [];
  readonly #owners = new Map<string, Set<string>>();
  #element: Record<string, string> = {};
  readonly #ownerElement = new Map<string, Record<string, string>>();

  constructor(shape: Shape) {
    this.shape = shape;
  }

  #flushTop(): void {
    const e = this.#element;
    this.#element = {};
    if (Object.keys(e).length === 0) return;
    if (this.shape === 'repositories') {
      if (e.repository === undefined || e.repository === '') throw GatewayError.invalid_body(`repositories[][repository]: missing in element ${this.repositories.length + 1}`);
      this.repositories.push({ name: e.repository, authRequired: isTrue(e.auth_required) });
    } else if (e.uuid !== undefined && e.uuid.trim() !== '') this.uuids.push(e.uuid);
  }

  #owner(owner: string): Set<string> {
    let set = this.#owners.get(owner);
    if (!set) this.#owners.set(owner, (set = new Set()));
    return set;
  }

  #flushOwner(owner: string): void {
    const e = this.#ownerElement.get(owner);
    if (!e) return;
    this.#ownerElement.delete(owner);
    if (e.repository !== undefined && isTrue(e.auth_required)) this.#owner(owner).add(e.repository);
  }

  pair(rawKey: string, value: string | undefined): void {
    const key = splitKey(rawKey);
    const top = TOP_KEY[this.shape];
    if (!key || key[0] !== top) return;
    this.present = true;
    if (key.length === 1) return; // the bare key: an empty list
    const where = `${rawKey}`;
    if (key[1] !== '') throw GatewayError.invalid_body(`${where}: expected ${top}[]…`);
    if (this.shape === 'repositories' || this.shape === 'hostList') {
      const field = key[2];
      if (key.length !== 3 || !field) throw GatewayError.invalid_body(`${where}: expected ${top}[][field]`);
      if (field in this.#element) this.#flushTop();
      this.#element[field] = value ?? '';
      return;
    }
    // users[][<name>][][field] or hosts[][<uuid>][][field]; users[][<name>] alone is an empty list.
    const owner = key[2];
    if (owner === undefined) throw GatewayError.invalid_body(`${where}: expected ${top}[][<name>][][repository]`);
    this.#owner(owner);
    if (key.length === 3) return;
    if (key.length !== 5 || key[3] !== '' || !key[4]) throw GatewayError.invalid_body(`${where}: expected ${top}[][<name>][][repository]`);
    let e = this.#ownerElement.get(owner);
    if (e && key[4] in e) {
      this.#flushOwner(owner);
      e = undefined;
    }
    if (!e) this.#ownerElement.set(owner, (e = {}));
    e[key[4]] = value ?? '';
  }

  /** A JSON body: the same nested shape as the form (a Ruby hash as JSON), or plainer maps. */
  json(doc: unknown): void {
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw GatewayError.invalid_body('JSON body: expected an object');
    const top = TOP_KEY[this.shape];
    const value = (doc as Record<string, unknown>)[top];
    if (!(top in doc)) return;
    this.present = true;
    if (value === null) return;
    if (this.shape === 'repositories') {
      if (!Array.isArray(value)) throw GatewayError.invalid_body(`${top}: expected a list`);
      value.forEach((r: unknown, i) => {
        const entry = r as { repository?: unknown; auth_required?: unknown } | null;
        if (typeof entry?.repository !== 'string' || entry.repository === '') throw GatewayError.invalid_body(`${top}[${i}].repository: expected a non-empty string`);
        this.repositories.push({ name: entry.repository, authRequired: isTrue(entry.auth_required) });
      });
      return;
    }
    if (this.shape === 'hostList') {
      if (!Array.isArray(value)) throw GatewayError.invalid_body(`${top}: expected a list`);
      value.forEach((h: unknown, i) => {
        const uuid = typeof h === 'string' ? h : (h as { uuid?: unknown } | null)?.uuid;
        if (typeof uuid !== 'string') throw GatewayError.invalid_body(`${top}[${i}].uuid: expected a string`);
        if (uuid.trim() !== '') this.uuids.push(uuid);
      });
      return;
    }
    const groups: unknown[] = Array.isArray(value) ? value : [value];
    groups.forEach((group, i) => {
      if (typeof group !== 'object' || group === null || Array.isArray(group)) throw GatewayError.invalid_body(`${top}[${i}]: expected an object of name → repositories`);
      for (const [owner, list] of Object.entries(group as Record<string, unknown>)) {
        const set = this.#owner(owner);
        if (list === null) continue;
        if (!Array.isArray(list)) throw GatewayError.invalid_body(`${top}[${i}].${owner}: expected a list`);
        list.forEach((item: unknown, j) => {
          if (typeof item === 'string') set.add(item);
          else if (typeof item === 'object' && item !== null && typeof (item as { repository?: unknown }).repository === 'string') {
            const r = item as { repository: string; auth_required?: unknown };
            if (!('auth_required' in r) || isTrue(r.auth_required)) set.add(r.repository);
          } else throw GatewayError.invalid_body(`${top}[${i}].${owner}[${j}]: expected a repository name or {repository, auth_required}`);
        });
      }
    });
  }

  finish(): ParsedBody {
    this.#flushTop();
    for (const owner of [...this.#ownerElement.keys()]) this.#flushOwner(owner);
    return {
      repositories: this.repositories,
      uuids: this.uuids,
      mapping: [...this.#owners].map(([key, set]) => ({ key, repositories: [...set] })),
      present: this.present,
    };
  }
}

/** Read a refresh body from `stream` (form streamed, JSON whole), at most `limitBytes`. */
export async function readRefreshBody(stream: Readable, contentType: string | undefined, shape: Shape, limitBytes: number): Promise<ParsedBody> {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  const collector = new Collector(shape);
  let total = 0;
  const tooLarge = (): Error => GatewayError.body_too_large(`request body exceeds ${limitBytes} bytes (management_body_limit)`);
  if (type === 'application/json') {
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limitBytes) throw tooLarge();
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return collector.finish();
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw GatewayError.invalid_body(`JSON body: ${(err as Error).message}`);
    }
    collector.json(doc);
    return collector.finish();
  }
  if (type !== '' && type !== 'application/x-www-form-urlencoded') {
    throw GatewayError.invalid_body(`unsupported content type '${type}' (use application/x-www-form-urlencoded or application/json)`);
  }
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const onPair = (pair: string): void => {
    if (pair === '') return;
    const eq = pair.indexOf('=');
    collector.pair(decode(eq < 0 ? pair : pair.slice(0, eq)), eq < 0 ? undefined : decode(pair.slice(eq + 1)));
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limitBytes) throw tooLarge();
    const text = rest + decoder.write(chunk);
    const pairs = text.split('&');
    rest = pairs.pop() ?? '';
    for (const p of pairs) onPair(p);
    if (rest.length > 1024 * 1024) throw GatewayError.invalid_body('a form field is longer than 1 MiB');
  }
  onPair(rest + decoder.end());
  return collector.finish();
}
