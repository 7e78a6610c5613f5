// Shared free-IP search for DHCP providers (spec dhcp.md §1.3): visit the search range in random
// order, each address once, skip used ones and ones suggested recently (so parallel builds get
// different addresses), optionally skip ones that answer a probe.

import { connect } from 'node:net';
import { run } from '../../core/spawn.ts';
import { formatIpv4 } from '../../lib/isc/ipv4.ts';

/**
 * Recently suggested addresses, held for `ttlMs`. Kept in a Map keyed by the numeric address so a
 * lookup is O(1); expired entries are dropped lazily and by `sweep()` (called from a timer the
 * owner creates, so an idle proxy holds no timer per suggestion).
 */
export class SuggestionHolds {
  private readonly held = new Map<number, number>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(ttlMs: number, now: () => number = Date.now) {
    this.ttlMs = ttlMs;
    this.now = now;
  }

  has(ip: number): boolean {
    const until = this.held.get(ip);
    if (until === undefined) return false;
    if (until <= this.now()) {
      this.held.delete(ip);
      return false;
    }
    return true;
  }

  add(ip: number): void {
    this.held.set(ip, this.now() + this.ttlMs);
  }

  release(ip: number): void {
    this.held.delete(ip);
  }

  get size(): number {
    return this.held.size;
  }

  sweep(): void {
    const t = this.now();
    for (const [ip, until] of this.held) if (until <= t) this.held.delete(ip);
  }
}

export interface FreeIpSearch {
  /** Inclusive numeric bounds, already clipped to the subnet's host addresses. */
  first: number;
  last: number;
  /** True when a reservation or lease of the subnet has this address. */
  isUsed(ip: number): boolean;
  holds: SuggestionHolds;
  /** Resolves true when something answers at the address (skip it). Omitted = no probing. */
  probe?: (ip: string) => Promise<boolean>;
  /** Random source in [0,1); injectable for tests. */
  random?: () => number;
  /** Upper bound of probes per call so a subnet full of live hosts cannot stall a request. */
  maxProbes?: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Random-order walk over [first,last] without materialising it: index i ↦ (start + step·i) mod n
 * with step coprime to n is a permutation, so each address is visited once.
 */
export async function searchUnusedIp(s: FreeIpSearch): Promise<string | null> {
  const n = s.last - s.first + 1;
  if (n <= 0) throw new Error('Zero or negative number of indices');
  const rnd = s.random ?? Math.random;
  const start = Math.floor(rnd() * n);
  let step = 1 + Math.floor(rnd() * Math.max(1, n - 1));
  while (gcd(step, n) !== 1) step = (step % n) + 1;
  let probes = 0;
  const maxProbes = s.maxProbes ?? 64;
  let idx = start;
  for (let i = 0; i < n; i++) {
    const ip = s.first + idx;
    idx = (idx + step) % n;
    if (s.isUsed(ip) || s.holds.has(ip)) continue;
    s.holds.add(ip);
    if (s.probe) {
      if (probes >= maxProbes) return null;
      probes++;
      let alive: boolean;
      try {
        alive = await s.probe(formatIpv4(ip));
      } catch {
        alive = true;
      }
      if (alive) continue;
    }
    return formatIpv4(ip);
  }
  return null;
}

/**
 * The reference's liveness probe: TCP connect to port 7 (a refusal proves a host is there) or one
 * ICMP echo, each with a 1 s deadline.
 */
export async function probeAlive(ip: string): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const sock = connect({ host: ip, port: 7 });
    const done = (alive: boolean): void => {
      sock.destroy();
      resolve(alive);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
  if (tcp) return true;
  const r = await run('ping', ['-c', '1', '-W', '1', ip], { timeoutMs: 3000 });
  return r.code === 0;
}
