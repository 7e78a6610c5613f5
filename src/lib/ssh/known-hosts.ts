// Host keys pinned on first contact, kept in a file in OpenSSH's known_hosts format (so an existing
// `~foreman-proxy/.ssh/known_hosts` of the reference proxy can be reused as is, hashed entries
// included, and `ssh-keygen -F/-R` work on ours). The file is read once, then kept in memory;
// every change rewrites it atomically, and changes that arrive while a write is in flight are
// coalesced into the next write (4000 hosts pinned at once must not mean 4000 rewrites).

import { readFile } from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import { writeFileAtomic } from '../fs/atomic.ts';
import type { KnownHostsStore } from './types.ts';

/** The name a host is stored under: `host` for port 22, `[host]:port` otherwise (OpenSSH's form). */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

interface Entry {
  /** The original line, written back unchanged. */
  readonly line: string;
  /** Undefined for comments, markers (@cert-authority, @revoked) and lines we cannot read. */
  readonly hosts?: string;
  readonly key?: string;
}

function parseLine(line: string): Entry {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('@')) return { line };
  const [hosts, type, base64] = trimmed.split(/\s+/);
  if (!hosts || !type || !base64) return { line };
  return { line, hosts, key: `${type} ${base64}` };
}

/** Does the host field of a known_hosts line name `name`? Plain lists and `|1|salt|hash` entries. */
function hostsMatch(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) {
    const [, , salt, hash] = hosts.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  // Wildcards and negations are OpenSSH features we do not interpret: only exact names match.
  return hosts.split(',').includes(name);
}

export class FileKnownHostsStore implements KnownHostsStore {
  readonly path: string;
  private entries: Entry[] | undefined;
  private loading: Promise<Entry[]> | undefined;
  private writing: Promise<void> | undefined;
  private writeAgain = false;

  constructor(path: string) {
    this.path = path;
  }

  async get(hostPort: string): Promise<string[]> {
    const entries = await this.load();
    return entries.filter((e) => e.hosts !== undefined && hostsMatch(e.hosts, hostPort)).map((e) => e.key as string);
  }

  async add(hostPort: string, key: string): Promise<void> {
    const [type, base64] = key.trim().split(/\s+/);
    if (!type || !base64 || /\s/.test(hostPort) || hostPort === '') throw new TypeError(`known hosts: cannot store key ${JSON.stringify(key)} for ${JSON.stringify(hostPort)}`);
    const entries = await this.load();
    if (entries.some((e) => e.hosts !== undefined && e.key === `${type} ${base64}` && hostsMatch(e.hosts, hostPort))) return;
    entries.push(parseLine(`${hostPort} ${type} ${base64}`));
    await this.save();
  }

  async forget(hostPort: string): Promise<void> {
    const entries = await this.load();
    const kept = entries.filter((e) => e.hosts === undefined || !hostsMatch(e.hosts, hostPort));
    if (kept.length === entries.length) return;
    // Lines naming several hosts lose the whole line, as `ssh-keygen -R` does.
    this.entries = kept;
    await this.save();
  }

  private load(): Promise<Entry[]> {
    if (this.entries) return Promise.resolve(this.entries);
    this.loading ??= readFile(this.path, 'utf8')
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return '';
        throw new Error(`known hosts file ${this.path}: ${err.message}`);
      })
      .then((text) => {
        this.entries ??= text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1).map(parseLine);
        return this.entries;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /** Resolves once a write that started after this call has finished. */
  private save(): Promise<void> {
    if (!this.writing) {
      this.writing = this.writeLoop();
      return this.writing;
    }
    // A write is in flight with older content: one more write follows it, shared by every
    // change made meanwhile.
    this.writeAgain = true;
    return this.writing;
  }

  private async writeLoop(): Promise<void> {
    try {
      do {
        this.writeAgain = false;
        const text = (this.entries ?? []).map((e) => e.line).join('\n');
        await writeFileAtomic(this.path, text === '' ? '' : `${text}\n`, { mode: 0o600 });
      } while (this.writeAgain);
    } finally {
      this.writing = undefined;
    }
  }
}

/** A store kept in memory only (tests, or a proxy that must not pin keys across restarts). */
export class MemoryKnownHostsStore implements KnownHostsStore {
  private readonly keys = new Map<string, string[]>();

  get(hostPort: string): Promise<string[]> {
    return Promise.resolve([...(this.keys.get(hostPort) ?? [])]);
  }

  add(hostPort: string, key: string): Promise<void> {
    const list = this.keys.get(hostPort) ?? [];
    if (!list.includes(key)) list.push(key);
    this.keys.set(hostPort, list);
    return Promise.resolve();
  }

  forget(hostPort: string): Promise<void> {
    this.keys.delete(hostPort);
    return Promise.resolve();
  }
}
