// What the container gateway keeps (spec content.md §2.8): the repositories Katello made available
// to this capsule, the users and hosts it knows, who may pull which private repository, and the
// registry tokens of logged-in users (SHA-256 checksums only, expiry in UTC epoch milliseconds).
//
// Every replacement is a diff applied in short transactions (spec §6.1): a pair (user or host,
// repository) that is in both the old and the new state is never absent in between, so pulls keep
// working while Katello refreshes. Two implementations: store/sqlite.ts (node:sqlite, the default)
// and store/postgres.ts (several replicas); store/contract.ts holds both to the same behaviour.

export interface RepositoryEntry {
  readonly name: string;
  readonly authRequired: boolean;
}

/** One host's or user's private repositories (names; unknown or public names are ignored). */
export interface MappingEntry {
  readonly key: string;
  readonly repositories: readonly string[];
}

export interface RepositoryRow {
  readonly name: string;
  readonly authRequired: boolean;
}

export interface ReplaceSummary {
  readonly added: number;
  readonly removed: number;
  readonly kept: number;
}

export interface GatewayStore {
  /** Replace the repository list by a diff: removed names lose their mappings, kept ones keep them. */
  replaceRepositories(list: readonly RepositoryEntry[]): Promise<ReplaceSummary>;
  getRepository(name: string): Promise<RepositoryRow | undefined>;

  /** Every user that ever obtained a token here, sorted. */
  listUsers(): Promise<string[]>;
  /** Find or create. */
  ensureUser(name: string): Promise<void>;
  /**
   * Replace the whole user↔repository table: listed users get exactly their listed private
   * repositories; users not listed lose theirs. Unknown users are skipped (returned).
   */
  replaceUserMappings(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<{ unknownUsers: string[] }>;
  /** Replace one user's private repositories (after a login). */
  setUserRepositories(user: string, repositories: readonly string[]): Promise<void>;

  /** Replace the host list by a diff: hosts that stay keep their mappings. Blank UUIDs are skipped. */
  replaceHosts(uuids: readonly string[]): Promise<ReplaceSummary>;
  hostExists(uuid: string): Promise<boolean>;
  /**
   * Replace the whole host↔repository table: listed known hosts get exactly their listed private
   * repositories, every other host loses its mapping. Unknown or blank UUIDs are skipped.
   */
  replaceHostMappings(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<{ unknownHosts: number }>;
  /** Per listed host: create it when missing and replace its mapping; other hosts untouched. */
  updateHostRepositories(entries: AsyncIterable<MappingEntry> | Iterable<MappingEntry>): Promise<void>;

  /** Store a token checksum (replacing the same checksum) and delete every expired token. */
  storeToken(user: string | undefined, checksum: string, expiresAtMs: number): Promise<void>;
  /** The token's user ('' for a token stored without user), or undefined when unknown or expired. */
  tokenUser(checksum: string, nowMs: number): Promise<string | undefined>;

  /** May `who` pull the private repository `name`? */
  isMapped(who: { user: string } | { host: string }, name: string): Promise<boolean>;
  /** Public repositories ∪ those mapped to the user or host, sorted; `contains` filters by substring. */
  catalog(who: { user?: string; host?: string }, options?: { contains?: string; limit?: number }): Promise<string[]>;

  close(): Promise<void>;
}

/** Apply `fn` to batches of `size` items, yielding to the event loop between batches. */
export async function* batches<T>(source: AsyncIterable<T> | Iterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** Escape `%`, `_` and `\` for a LIKE pattern with ESCAPE '\'. */
export function likePattern(contains: string): string {
  return `%${contains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
