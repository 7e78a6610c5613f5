// Addresses offered by next_ip and held for a while (spec plugins.md §6.3), so that two hosts
// being set up at the same time are not offered the same address before either is reserved in
// the IPAM. Keyed group → subnet → MAC (a random key when the caller sent no MAC); the same MAC
// gets its held address back. Entries expire `ttlMs` after they were made.
//
// Unlike the reference's table, the decision "which address to offer" runs under a lock per
// group and subnet (`exclusive`): the backend lookups between reading and writing the table are
// awaits, and without the lock two concurrent requests would both see the same address as free.

import { randomUUID } from 'node:crypto';

interface Hold {
  ip: string;
  expires: number;
}

export class AddressHolds {
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** `group\0cidr` → key (MAC or random) → hold. */
  private readonly table = new Map<string, Map<string, Hold>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly timer: NodeJS.Timeout;

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
    // Expired holds are also ignored when read; the sweep only bounds memory.
    this.timer = setInterval(() => this.sweep(), Math.max(1000, ttlMs));
    this.timer.unref();
  }

  get ttlSeconds(): number {
    return Math.round(this.ttlMs / 1000);
  }

  /** Number of live holds (for metrics and tests). */
  get size(): number {
    let n = 0;
    for (const subnet of this.table.values()) for (const h of subnet.values()) if (h.expires > this.now()) n++;
    return n;
  }

  /** Run `fn` with no other `exclusive` call of the same group and subnet running. */
  async exclusive<T>(group: string, cidr: string, fn: () => Promise<T>): Promise<T> {
    const key = `${group}\0${cidr}`;
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }

  /** The address held for `mac` in this subnet, if any. */
  heldFor(group: string, cidr: string, mac: string): string | undefined {
    const h = this.table.get(`${group}\0${cidr}`)?.get(mac);
    return h && h.expires > this.now() ? h.ip : undefined;
  }

  /** Whether `ip` is held in this subnet for anyone. */
  isHeld(group: string, cidr: string, ip: string): boolean {
    const subnet = this.table.get(`${group}\0${cidr}`);
    if (!subnet) return false;
    const t = this.now();
    for (const h of subnet.values()) if (h.ip === ip && h.expires > t) return true;
    return false;
  }

  /** Hold `ip` for `mac` (a random key without one); a MAC holds one address per group. */
  hold(group: string, cidr: string, mac: string | undefined, ip: string): void {
    const key = mac ?? randomUUID();
    for (const [subnetKey, subnet] of this.table) {
      if (subnetKey.startsWith(`${group}\0`)) subnet.delete(key);
    }
    const subnetKey = `${group}\0${cidr}`;
    let subnet = this.table.get(subnetKey);
    if (!subnet) {
      subnet = new Map();
      this.table.set(subnetKey, subnet);
    }
    subnet.set(key, { ip, expires: this.now() + this.ttlMs });
  }

  /** Forget expired holds. */
  sweep(): void {
    const t = this.now();
    for (const [subnetKey, subnet] of this.table) {
      for (const [key, h] of subnet) if (h.expires <= t) subnet.delete(key);
      if (subnet.size === 0) this.table.delete(subnetKey);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.table.clear();
  }
}
